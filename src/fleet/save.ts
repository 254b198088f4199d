/**
 * A one-time snapshot on every etcd node at once, kept locally on each node and uploaded once to S3 by one healthy
 * node (the leader when it is healthy); when that upload fails, another node's copy is uploaded instead.
 */
import type { ClusterConfig } from "../config/cluster.js";
import type { S3Settings } from "../config/s3-settings.js";
import type { SaveResult } from "../snapshot/save.js";
import type { SaveSettings } from "../snapshot/save-options.js";
import { s3Location } from "../store/s3-location.js";
import { saveEncryptionOf } from "../config/encryption.js";
import { describeError, ExitCode } from "../util/errors.js";
import type { Fleet, FleetNode, SaveBody } from "./fleet.js";
import { clusterHealth, type NodeHealth } from "./health.js";

export interface NodeSaveReport {
  node: string;
  ok: boolean;
  uploader: boolean;
  size?: number;
  sha256?: string;
  revision?: number;
  durationMs: number;
  /** How long the member was busy streaming its snapshot (the agent measures it). */
  memberMs?: number;
  reason?: string;
}

export interface SaveReport {
  name: string;
  nodes: NodeSaveReport[];
  s3?: { location: string; ok: boolean; node?: string; verified?: string; reason?: string };
  exitCode: number;
}

/**
 * How one node's save goes: it began; bytes (`archive` written, `read` of about `total` snapshot bytes from the
 * member); it waits for a recurring snapshot to finish first; it ended (`size`: the snapshot's, when saved).
 */
export type SaveProgressEvent =
  | { type: "started" }
  | { type: "bytes"; archive: number; read?: number | undefined; total?: number | undefined }
  | { type: "waiting"; for: string }
  | { type: "ended"; ok: boolean; size?: number | undefined };
export type SaveProgress = (node: string, event: SaveProgressEvent) => void;

/** The request every node gets, from cluster.yml's snapshot settings; pure. */
export function saveBody(config: ClusterConfig, name: string, stateFile: Buffer | undefined): SaveBody {
  return { name, kind: "one-time" as const, ...saveSettingsOf(config, stateFile) };
}

/**
 * How a snapshot is taken, from cluster.yml: what a one-time save request and a pushed schedule both carry
 * (src/snapshot/save-options.ts turns either into the pipeline's options on the node).
 */
export function saveSettingsOf(config: ClusterConfig, stateFile: Buffer | undefined): SaveSettings {
  const snap = config.lifeboat.snapshot;
  const encryption = saveEncryptionOf(config.lifeboat.encryption);
  return {
    ...(stateFile ? { stateFile: stateFile.toString("base64") } : {}),
    compression: snap.compression === "none" ? "store" : "deflate",
    ...(snap.level === undefined ? {} : { level: snap.level }),
    ...(snap.threads === undefined ? {} : { threads: snap.threads }),
    retries: snap.retries,
    retryPauseSeconds: snap.retryPauseSeconds,
    ...(encryption ? { encryption } : {}),
  };
}

/** The leader when it is healthy, otherwise the first healthy node in cluster.yml order. */
export function chooseUploader(health: readonly NodeHealth[]): string | undefined {
  const healthy = health.filter((h) => h.ok);
  return (healthy.find((h) => h.isLeader) ?? healthy[0])?.node;
}

/** Saves `body` on every node; with `s3`, the chosen uploader sends it to S3 while it streams. */
export async function saveOnFleet(
  fleet: Pick<Fleet, "nodes">,
  body: SaveBody,
  s3: S3Settings | undefined,
  onProgress: SaveProgress,
): Promise<SaveReport> {
  const health = await clusterHealth(fleet);
  const uploader = s3 ? chooseUploader(health) : undefined;
  const outcomes = await Promise.all(
    fleet.nodes.map((fleetNode) => {
      const name = fleetNode.node.memberName;
      const isUploader = name === uploader;
      const request = isUploader && s3 ? { ...body, s3 } : body;
      return saveOnNode(fleetNode, request, isUploader, (event) => onProgress(name, event));
    }),
  );
  return summarize(body, outcomes, s3);
}

interface NodeOutcome {
  report: NodeSaveReport;
  result?: SaveResult;
  fleetNode: FleetNode;
}

async function saveOnNode(
  fleetNode: FleetNode,
  body: SaveBody,
  uploader: boolean,
  onProgress: (event: SaveProgressEvent) => void,
): Promise<NodeOutcome> {
  const started = Date.now();
  let result: SaveResult | undefined;
  let failure: string | undefined;
  onProgress({ type: "started" });
  try {
    await fleetNode.save(body, (event) => {
      if (event.type === "progress")
        onProgress({ type: "bytes", archive: event.bytes, read: event.read, total: event.total });
      else if (event.type === "waiting") onProgress({ type: "waiting", for: event.for });
      else if (event.type === "result") result = event.result;
      else if (event.type === "error") failure = event.error;
    });
    if (!result && !failure) failure = "the agent ended the response without a result";
  } catch (err) {
    failure = describeError(err);
  }
  onProgress({ type: "ended", ok: !!result, size: result?.manifest.snapshot.size });
  const node = fleetNode.node.memberName;
  const report: NodeSaveReport = { node, ok: !!result, uploader, durationMs: Date.now() - started };
  if (result) {
    report.size = result.manifest.archive.size;
    report.sha256 = result.manifest.snapshot.sha256;
    report.revision = result.manifest.etcd.revision;
    if (result.memberMs !== undefined) report.memberMs = result.memberMs;
  }
  if (failure) report.reason = failure;
  return { report, fleetNode, ...(result ? { result } : {}) };
}

async function summarize(
  body: SaveBody,
  outcomes: NodeOutcome[],
  settings: S3Settings | undefined,
): Promise<SaveReport> {
  const name = body.name;
  const nodes = outcomes.map((o) => o.report);
  const saved = nodes.filter((n) => n.ok).length;
  const report: SaveReport = { name, nodes, exitCode: ExitCode.ok };
  if (settings) report.s3 = await settleUpload(body, outcomes, s3Location(settings), settings);
  if (saved === 0) report.exitCode = ExitCode.failure;
  else if (saved < nodes.length || (report.s3 && !report.s3.ok)) report.exitCode = ExitCode.partial;
  return report;
}

/** The uploader's result, or, when it failed, an upload of another node's copy. */
async function settleUpload(
  body: SaveBody,
  outcomes: NodeOutcome[],
  location: string,
  settings: S3Settings,
): Promise<NonNullable<SaveReport["s3"]>> {
  const chosen = outcomes.find((o) => o.report.uploader);
  const upload = chosen?.result?.upload;
  if (chosen && upload?.ok) return { location, ok: true, node: chosen.report.node, verified: upload.verified };
  const failures: UploadFailure[] = [];
  if (chosen) {
    const error =
      upload && !upload.ok ? upload.error : `no copy to upload: ${chosen.report.reason ?? "the save failed"}`;
    failures.push({ node: chosen.report.node, error });
  }
  for (const other of outcomes.filter((o) => o.result && o !== chosen)) {
    try {
      const done = await other.fleetNode.upload(body.name, settings, body.encryption);
      return { location, ok: true, node: other.report.node, verified: done.verified };
    } catch (err) {
      const prefix = `agent ${other.fleetNode.node.agent.endpoint}: `;
      const error = describeError(err);
      failures.push({ node: other.report.node, error: error.startsWith(prefix) ? error.slice(prefix.length) : error });
    }
  }
  return { location, ok: false, reason: failures.length ? summarizeFailures(failures) : "no healthy node to upload" };
}

interface UploadFailure {
  node: string;
  error: string;
}

/** Each distinct error once, with the nodes that met it: a bad bucket, key or endpoint fails the same way everywhere. */
export function summarizeFailures(failures: readonly UploadFailure[]): string {
  const nodesByError = new Map<string, string[]>();
  for (const f of failures) nodesByError.set(f.error, [...(nodesByError.get(f.error) ?? []), f.node]);
  return [...nodesByError].map(([error, nodes]) => `${error} (tried from ${nodes.join(", ")})`).join("; ");
}
