/**
 * A cluster in memory for running the real commands in-process: three `FakeFleetNode`s (etcd-a, etcd-b, etcd-c)
 * whose answers each test scripts, a real cluster.yml parsed from text, S3 as a LocalStore on a temp directory, and
 * the CLI's deps capturing what the command prints and the exit code it sets. Only the nodes are fake.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { SaveEvent } from "../../src/api/snapshots.js";
import type { CliDeps } from "../../src/cli/deps.js";
import type { Output } from "../../src/cli/output.js";
import { parseClusterConfig, type EtcdNode } from "../../src/config/cluster.js";
import type { ClusterState } from "../../src/config/state.js";
import type {
  AgentHealth,
  AgentInfo,
  Fleet,
  FleetNode,
  NodeCleanupAnswer,
  NodePruneAnswer,
  NodeRestoreOps,
  SaveBody,
} from "../../src/fleet/fleet.js";
import type { RetentionPolicy } from "../../src/retention/index.js";
import type { NodeStatus } from "../../src/api/schedule.js";
import { unwatched } from "../../src/schedule/freshness.js";
import type { SchedulePush } from "../../src/schedule/spec.js";
import type { CatalogEntry } from "../../src/snapshot/catalog.js";
import { archiveKey, manifestKey, serializeManifest, type Manifest } from "../../src/snapshot/manifest.js";
import { planPrune } from "../../src/snapshot/prune.js";
import type { SaveResult, UploadOutcome } from "../../src/snapshot/save.js";
import { LocalStore } from "../../src/store/local.js";
import type { Store } from "../../src/store/store.js";
import { RemoteError } from "../../src/util/errors.js";
import { createLogger } from "../../src/util/log.js";
import { manifestOf } from "./restore-fakes.js";

export const NODE_NAMES = ["etcd-a", "etcd-b", "etcd-c"] as const;
export type NodeName = (typeof NODE_NAMES)[number];
export const CLUSTER_ID = "cluster-1";

/** What one fake node answers; anything not scripted answers as a healthy node would. */
export interface NodeScript {
  /** Overrides of a healthy member's health, or the error the health call rejects with. */
  health?: Partial<AgentHealth> | Error;
  /** How a save ends: a result (default), an error event from the agent, or the call itself rejecting. */
  save?: "ok" | { errorEvent: string } | Error;
  /** The streaming upload's outcome when this node is the chosen uploader (default: ok). */
  streamUpload?: UploadOutcome;
  /** What POST /upload of this node's copy does (default: verified). */
  upload?: Error;
  snapshots?: CatalogEntry[] | Error;
  status?: Partial<NodeStatus> | Error;
  schedule?: Error;
  prune?: Error;
  cleanup?: NodeCleanupAnswer | Error;
}

const unreachable = (name: string) => new RemoteError(`cannot reach agent ${name}: ECONNREFUSED`, true);

export class FakeFleetNode implements FleetNode {
  /** Every call, in order: "save", "upload x", "delete x", "prune dry", "prune", "schedule", "status", ... */
  readonly calls: string[] = [];
  readonly saveBodies: SaveBody[] = [];
  readonly pushed: SchedulePush[] = [];
  snapshots: CatalogEntry[];

  constructor(
    readonly node: EtcdNode,
    readonly script: NodeScript,
    private readonly leader: string,
    private readonly now: () => Date,
  ) {
    this.snapshots = Array.isArray(script.snapshots) ? [...script.snapshots] : [];
  }

  get name(): string {
    return this.node.memberName;
  }

  async health(): Promise<AgentHealth> {
    this.calls.push("health");
    if (this.script.health instanceof Error) throw this.script.health;
    const memberId = `id-${this.name}`;
    return {
      reachable: true,
      hasLeader: true,
      memberId,
      leaderId: `id-${this.leader}`,
      clusterId: CLUSTER_ID,
      alarms: [],
      members: [],
      revision: 1000,
      dbSize: 4096,
      version: "3.5.30",
      node: this.name,
      member: "running",
      ...this.script.health,
    };
  }

  async info(): Promise<AgentInfo> {
    this.calls.push("info");
    if (this.script.health instanceof Error) throw this.script.health;
    return {
      node: this.name,
      version: "0.1.0",
      etcdMode: "external",
      clientUrl: this.node.clientUrl,
      snapshotDir: this.node.snapshotDir,
      saving: null,
      session: null,
    };
  }

  async status(): Promise<NodeStatus> {
    this.calls.push("status");
    if (this.script.status instanceof Error) throw this.script.status;
    return {
      node: this.name,
      time: this.now().toISOString(),
      schedule: null,
      scheduleError: null,
      nextRun: null,
      saving: null,
      lastSuccess: null,
      lastFailure: null,
      lastRun: null,
      problems: [],
      paused: null,
      kept: { count: this.snapshots.length, bytes: 0, broken: 0, withoutManifest: 0 },
      freshness: unwatched(),
      lastVerify: null,
      lastVerifiedRestore: null,
      verifyFailed: false,
      session: null,
      ...this.script.status,
    };
  }

  async listSnapshots(): Promise<CatalogEntry[]> {
    this.calls.push("list");
    if (this.script.snapshots instanceof Error) throw this.script.snapshots;
    return [...this.snapshots];
  }

  async save(body: SaveBody, onEvent: (event: SaveEvent) => void): Promise<void> {
    this.calls.push(body.s3 ? "save+upload" : "save");
    this.saveBodies.push(body);
    const how = this.script.save ?? "ok";
    if (how instanceof Error) throw how;
    onEvent({ type: "progress", bytes: 100 });
    if (how !== "ok") return onEvent({ type: "error", error: how.errorEvent, kind: "RemoteError" });
    const manifest = { ...snapshotManifest(body.name, this.name, this.now()), kind: body.kind };
    const result: SaveResult = { manifest, durationMs: 5 };
    if (body.s3) result.upload = this.script.streamUpload ?? { ok: true, key: archiveKey(body.name), verified: "md5" };
    this.snapshots.push(entryOf(manifest, `node:${this.name}`));
    onEvent({ type: "result", result });
  }

  async upload(name: string): Promise<{ verified: string }> {
    this.calls.push(`upload ${name}`);
    if (this.script.upload) throw this.script.upload;
    return { verified: "sha256" };
  }

  async deleteSnapshot(name: string): Promise<void> {
    this.calls.push(`delete ${name}`);
    this.snapshots = this.snapshots.filter((s) => s.name !== name);
  }

  /** Plans with the real retention planner over this node's catalog, as the agent does. */
  async prune(policy: RetentionPolicy, dryRun: boolean): Promise<NodePruneAnswer> {
    this.calls.push(dryRun ? "prune dry" : "prune");
    if (this.script.prune) throw this.script.prune;
    const location = `node:${this.name}`;
    const plan = planPrune(location, this.snapshots, { ...policy, clusterId: CLUSTER_ID }, this.now());
    if (dryRun) return { node: this.name, dryRun, plan };
    const removed = plan.remove.map((i) => i.name);
    this.snapshots = this.snapshots.filter((s) => !removed.includes(s.name));
    return { node: this.name, dryRun, plan, result: { removed, failed: [] } };
  }

  async pushSchedule(body: SchedulePush): Promise<{ since?: string }> {
    this.calls.push("schedule");
    if (this.script.schedule) throw this.script.schedule;
    this.pushed.push(body);
    return { since: "2026-11-27T09:00:00.000Z" };
  }

  async pushLineage(): Promise<{ updated: boolean }> {
    this.calls.push("lineage");
    return { updated: true };
  }

  async cleanup(): Promise<NodeCleanupAnswer> {
    this.calls.push("cleanup");
    if (this.script.cleanup instanceof Error) throw this.script.cleanup;
    if (this.script.cleanup) return this.script.cleanup;
    throw unreachable(this.name);
  }

  async stopMember(): Promise<void> {
    this.calls.push("stop");
  }

  async startMember(): Promise<void> {
    this.calls.push("start");
  }

  get restore(): NodeRestoreOps {
    throw new Error(`${this.name}: the restore steps are not scripted in the fake fleet (see restore-fakes.ts)`);
  }
}

/** A good manifest for snapshot `name` taken on `node` at `createdAt` in this cluster. */
export function snapshotManifest(
  name: string,
  node: string,
  createdAt: Date,
  size = 100,
  kind: Manifest["kind"] = "one-time",
): Manifest {
  const m = manifestOf(name);
  const archive = { ...m.archive, size };
  return { ...m, kind, node, clusterId: CLUSTER_ID, createdAt: createdAt.toISOString(), archive };
}

export function entryOf(manifest: Manifest, location: string): CatalogEntry {
  const name = manifest.name;
  const size = manifest.archive.size;
  return {
    name,
    location,
    format: "zip",
    key: `${name}.zip`,
    size,
    modified: manifest.createdAt,
    status: "ok",
    manifest,
  };
}

/** A store whose every listing fails, as an unreachable S3 endpoint does. */
class UnreachableStore extends LocalStore {
  override async list(): Promise<never> {
    throw new RemoteError("S3 endpoint http://127.0.0.1:9000 did not answer (ECONNREFUSED)", true);
  }
}

export interface Captured {
  lines: string[];
  notes: string[];
  results: unknown[];
  progress: string[];
  exitCode: number | undefined;
}

export interface FakeFleet {
  fleet: Fleet;
  nodes: FakeFleetNode[];
  node(name: NodeName): FakeFleetNode;
  deps: CliDeps;
  out: Captured;
  /** The bucket the commands see as S3 (when the config has one). */
  bucket: LocalStore;
  /** How often the fleet was opened and closed. */
  opened: number;
  closed: number;
  /** Writes a good snapshot (archive, then manifest) into the bucket. */
  putS3Snapshot(name: string, createdAt: Date, size?: number, kind?: Manifest["kind"]): Promise<void>;
  cleanup(): Promise<void>;
}

export interface FakeFleetOptions {
  nodes?: Partial<Record<NodeName, NodeScript>>;
  /** The member that leads (default etcd-b). */
  leader?: NodeName;
  /** With an s3backupconfig in cluster.yml (default true). */
  s3?: boolean;
  /** S3 answers no listing. */
  s3Unreachable?: boolean;
  now?: Date;
  state?: ClusterState;
}

const NOW = new Date("2026-11-27T10:15:02.000Z");

function clusterYml(s3: boolean): string {
  const nodes = NODE_NAMES.map(
    (n, i) => `  - address: 127.0.0.${i + 2}\n    hostname_override: ${n.slice(5)}\n    role: [etcd]`,
  );
  const s3Config = s3
    ? "\n      s3backupconfig:\n        bucket_name: b\n        endpoint: http://127.0.0.1:9000\n        access_key: AK\n        secret_key: SK"
    : "";
  return `nodes:\n${nodes.join("\n")}\nservices:\n  etcd:\n    backup_config:\n      interval_hours: 1\n      retention: 2${s3Config}\n`;
}

export async function fakeFleet(options: FakeFleetOptions = {}): Promise<FakeFleet> {
  const dir = await mkdtemp(join(tmpdir(), "lifeboat-fake-fleet-"));
  const now = () => options.now ?? NOW;
  const config = parseClusterConfig(clusterYml(options.s3 ?? true), "cluster.yml").config;
  const leader = options.leader ?? "etcd-b";
  const nodes = config.etcdNodes.map(
    (n) => new FakeFleetNode(n, options.nodes?.[n.memberName as NodeName] ?? {}, leader, now),
  );
  const out: Captured = { lines: [], notes: [], results: [], progress: [], exitCode: undefined };
  const output: Output = {
    format: "text",
    line: (t) => out.lines.push(t),
    note: (t) => out.notes.push(t),
    result: (v) => out.results.push(v),
    live: false,
    progress: (lines) => out.progress.push(lines.join("\n")),
    progressLine: (t) => out.progress.push(t),
  };
  const bucketDir = join(dir, "bucket");
  const bucket = new LocalStore(bucketDir);
  const state = { fleet: undefined as unknown as Fleet, opened: 0, closed: 0 };
  const fleet: Fleet = {
    configPath: join(dir, "cluster.yml"),
    statePath: join(dir, "cluster.rkestate"),
    config,
    state: options.state ?? {},
    nodes,
    close: () => void state.closed++,
  };
  const deps: CliDeps = {
    out: output,
    log: createLogger({ out: { write: () => true } }),
    clock: now,
    setExitCode: (code) => (out.exitCode = code),
    openFleet: async () => {
      state.opened++;
      return fleet;
    },
    openStore: (): Store => (options.s3Unreachable ? new UnreachableStore(bucketDir) : new LocalStore(bucketDir)),
    sleep: async () => {},
    confirm: async () => {},
    sshAgentAuth: false,
  };
  return {
    fleet,
    nodes,
    node: (name) => nodes.find((n) => n.name === name)!,
    deps,
    out,
    bucket,
    get opened() {
      return state.opened;
    },
    get closed() {
      return state.closed;
    },
    putS3Snapshot: async (name, createdAt, size = 100, kind = "one-time") => {
      await bucket.put(archiveKey(name), Buffer.alloc(size, 1));
      await bucket.put(
        manifestKey(name),
        Buffer.from(serializeManifest(snapshotManifest(name, "etcd-b", createdAt, size, kind))),
      );
    },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}
