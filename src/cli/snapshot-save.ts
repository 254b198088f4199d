/**
 * `lifeboat etcd snapshot-save`: a snapshot on every etcd node at once, kept locally on each node and uploaded
 * once to S3 by one healthy node (the leader when it is healthy).
 */
import { readFile } from "node:fs/promises";
import type { z } from "zod";
import type { AgentClient } from "../agent/client.js";
import type { SaveRequest } from "../api/snapshots.js";
import { routes } from "../api/routes.js";
import type { S3Settings } from "../config/s3-settings.js";
import { s3Location } from "../store/s3-location.js";
import { validateSnapshotName } from "../archive/rke.js";
import { applyS3Flags, type EtcdNode, type S3Flags } from "../config/cluster.js";
import type { SaveResult } from "../snapshot/save.js";
import { describeError, ExitCode, UserError } from "../util/errors.js";
import type { CliDeps } from "./deps.js";
import { openCluster } from "./cluster.js";
import { formatBytes, formatElapsed, table } from "./output.js";
import { clusterHealth, type NodeHealth } from "./health.js";

export interface SaveCommandOptions extends S3Flags {
  config: string;
  name?: string;
}

export interface NodeSaveReport {
  node: string;
  ok: boolean;
  uploader: boolean;
  size?: number;
  sha256?: string;
  revision?: number;
  durationMs: number;
  reason?: string;
}

export interface SaveReport {
  name: string;
  nodes: NodeSaveReport[];
  s3?: { location: string; ok: boolean; node?: string; verified?: string; reason?: string };
  exitCode: number;
}

/** RKE's default name: `rke_etcd_snapshot_<RFC3339 in local time>` (Go prints a zero offset as `Z`). */
export function defaultSnapshotName(now: Date): string {
  return `rke_etcd_snapshot_${rfc3339Local(now)}`;
}

export function rfc3339Local(d: Date): string {
  const pad = (n: number) => String(n).padStart(2, "0");
  const offset = -d.getTimezoneOffset();
  const zone =
    offset === 0
      ? "Z"
      : `${offset > 0 ? "+" : "-"}${pad(Math.floor(Math.abs(offset) / 60))}:${pad(Math.abs(offset) % 60)}`;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}${zone}`;
}

export async function runSnapshotSave(options: SaveCommandOptions, deps: CliDeps): Promise<SaveReport> {
  const name = options.name ?? defaultSnapshotName(deps.clock());
  const invalid = validateSnapshotName(name);
  if (invalid) throw new UserError(`--name: ${invalid}`);
  if (!options.name) deps.out.note(`Name of the snapshot is not specified, using [${name}]`);
  const cluster = await openCluster(options.config, deps.out);
  try {
    const config = await applyS3Flags(cluster.config, options);
    const s3 = config.backup.s3;
    const stateFile = await readFile(cluster.statePath).catch(() => undefined);
    if (!stateFile) deps.out.note(`warning: no state file at ${cluster.statePath}; the snapshot is taken without it`);
    const health = await clusterHealth(cluster);
    const uploader = s3 ? chooseUploader(health) : undefined;
    const snap = config.lifeboat.snapshot;
    const body = {
      name,
      kind: "one-time" as const,
      ...(stateFile ? { stateFile: stateFile.toString("base64") } : {}),
      compression: snap.compression === "none" ? ("store" as const) : ("deflate" as const),
      ...(snap.level === undefined ? {} : { level: snap.level }),
      retries: snap.retries,
      retryPauseSeconds: snap.retryPauseSeconds,
    };
    const progress = new Map<string, number>();
    const results = await Promise.all(
      cluster.agents.map(({ node, client }) => {
        const isUploader = node.memberName === uploader;
        const request = isUploader && s3 ? { ...body, s3 } : body;
        return saveOnNode(node, client, request, isUploader, (bytes, waitingFor) => {
          if (waitingFor !== undefined)
            return deps.out.progress(`${node.memberName}: waiting for ${waitingFor} to finish`);
          progress.set(node.memberName, bytes);
          deps.out.progress(`saving ${name}: ${[...progress].map(([n, b]) => `${n} ${formatBytes(b)}`).join(", ")}`);
        });
      }),
    );
    const report = await summarize(name, results, s3 ? s3Location(s3) : undefined, s3);
    print(report, deps);
    return report;
  } finally {
    cluster.close();
  }
}

/** The leader when it is healthy, otherwise the first healthy node in cluster.yml order. */
export function chooseUploader(health: readonly NodeHealth[]): string | undefined {
  const healthy = health.filter((h) => h.ok);
  return (healthy.find((h) => h.isLeader) ?? healthy[0])?.node;
}

interface NodeOutcome {
  report: NodeSaveReport;
  result?: SaveResult;
  client: AgentClient;
}

async function saveOnNode(
  node: EtcdNode,
  client: AgentClient,
  body: z.input<typeof SaveRequest>,
  uploader: boolean,
  /** Bytes written so far; or, with `waitingFor`, the recurring snapshot this node waits for first. */
  onProgress: (bytes: number, waitingFor?: string) => void,
): Promise<NodeOutcome> {
  const started = Date.now();
  let result: SaveResult | undefined;
  let failure: string | undefined;
  try {
    await client.callStream(routes.saveSnapshot, {
      body,
      onEvent: (event) => {
        if (event.type === "progress") onProgress(event.bytes);
        else if (event.type === "waiting") onProgress(0, event.for);
        else if (event.type === "result") result = event.result;
        else if (event.type === "error") failure = event.error;
      },
    });
    if (!result && !failure) failure = "the agent ended the response without a result";
  } catch (err) {
    failure = describeError(err);
  }
  const report: NodeSaveReport = { node: node.memberName, ok: !!result, uploader, durationMs: Date.now() - started };
  if (result) {
    report.size = result.manifest.archive.size;
    report.sha256 = result.manifest.snapshot.sha256;
    report.revision = result.manifest.etcd.revision;
  }
  if (failure) report.reason = failure;
  return { report, client, ...(result ? { result } : {}) };
}

async function summarize(
  name: string,
  outcomes: NodeOutcome[],
  location: string | undefined,
  settings: S3Settings | undefined,
): Promise<SaveReport> {
  const nodes = outcomes.map((o) => o.report);
  const saved = nodes.filter((n) => n.ok).length;
  const report: SaveReport = { name, nodes, exitCode: ExitCode.ok };
  if (location && settings) report.s3 = await settleUpload(name, outcomes, location, settings);
  if (saved === 0) report.exitCode = ExitCode.failure;
  else if (saved < nodes.length || (report.s3 && !report.s3.ok)) report.exitCode = ExitCode.partial;
  return report;
}

/** The uploader's result, or, when it failed, an upload of another node's copy. */
async function settleUpload(
  name: string,
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
      const done = await other.client.call(routes.uploadSnapshot, {
        params: { name },
        body: { s3: settings },
        timeoutMs: 600_000,
      });
      return { location, ok: true, node: other.report.node, verified: done.verified };
    } catch (err) {
      const prefix = `agent ${other.client.endpoint}: `;
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
function summarizeFailures(failures: readonly UploadFailure[]): string {
  const nodesByError = new Map<string, string[]>();
  for (const f of failures) nodesByError.set(f.error, [...(nodesByError.get(f.error) ?? []), f.node]);
  return [...nodesByError].map(([error, nodes]) => `${error} (tried from ${nodes.join(", ")})`).join("; ");
}

function print(report: SaveReport, deps: CliDeps): void {
  const rows = report.nodes.map((n) => [
    n.node,
    n.ok ? "saved" : "FAILED",
    n.size === undefined ? "-" : formatBytes(n.size),
    n.revision === undefined ? "-" : String(n.revision),
    formatElapsed(n.durationMs),
    n.reason ?? (n.uploader ? "uploader" : ""),
  ]);
  deps.out.line(table(["NODE", "RESULT", "SIZE", "REVISION", "DURATION", "NOTE"], rows));
  if (report.s3) {
    deps.out.line(
      report.s3.ok
        ? `S3: uploaded to ${report.s3.location} by ${report.s3.node} (verified: ${report.s3.verified})`
        : `S3: upload FAILED to ${report.s3.location}: ${report.s3.reason}; local archives are kept`,
    );
  }
  const saved = report.nodes.filter((n) => n.ok).length;
  deps.out.line(
    (saved === report.nodes.length
      ? `Finished saving snapshot [${report.name}] on all etcd hosts`
      : `Saved snapshot [${report.name}] on ${saved} of ${report.nodes.length} etcd hosts`) +
      (report.s3 && !report.s3.ok ? ", but not in S3" : ""),
  );
  deps.out.result(report);
  deps.setExitCode(report.exitCode);
}
