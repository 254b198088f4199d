/**
 * In-memory nodes for the restore coordinator and executor (src/restore/fleet.ts, apply.ts): each fake node keeps
 * its member's state and which data it holds, records every call in one shared log, and fails (or hangs) where a
 * test tells it to. A fake clock and sleep replace real waiting.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ClusterState } from "../../src/config/state.js";
import type { CoordinatorDeps } from "../../src/restore/coordinator.js";
import type { RestoreNode } from "../../src/restore/apply.js";
import type { AgentPreflight, RestoreAgent } from "../../src/restore/fleet.js";
import type { RollbackRecord } from "../../src/restore/node.js";
import { buildRestorePlan } from "../../src/restore/plan.js";
import type { CatalogEntry } from "../../src/snapshot/catalog.js";
import type { Manifest } from "../../src/snapshot/manifest.js";

export const SHA = "a".repeat(64);
export const OTHER_SHA = "b".repeat(64);
export const OLD_ID = "old-cluster";
export const NEW_ID = "new-cluster";

export type Step = "fetch" | "stop" | "apply" | "start" | "rollback" | "finish" | "prepare" | "health";

export interface FakeNodeOptions {
  /** Steps that reject on this node. */
  fails?: Step[];
  /** Steps whose first call never settles on this node (later calls, e.g. a rollback's start, go through). */
  hangs?: Step[];
  /** The digest this node's copy has (default: SHA). */
  sha256?: string;
  /** Exit codes of this node's post-restore hooks. */
  hookCodes?: number[];
  /** Never reports a leader once started. */
  neverHealthy?: boolean;
  pendingRollback?: RollbackRecord | null;
  lastRestored?: (RollbackRecord & { oldDataDirExists: boolean }) | null;
  /** This node holds the snapshot (its listing has it, with a manifest). */
  holds?: boolean;
  /** The node's etcd tools (default 3.5.30). */
  toolVersion?: string;
  /** Its running member's version (default 3.5.30; null: the member did not answer). */
  memberVersion?: string | null;
}

export class FakeNode {
  member: "running" | "stopped" = "running";
  data: "old" | "new" = "old";
  sessions: string[] = [];
  constructor(
    readonly name: string,
    readonly log: string[],
    readonly o: FakeNodeOptions = {},
  ) {}

  private hung = new Set<Step>();

  async step<T>(step: Step, fn: () => T): Promise<T> {
    this.log.push(`${this.name}:${step}`);
    if (this.o.hangs?.includes(step) && !this.hung.has(step)) {
      this.hung.add(step);
      return new Promise<T>(() => {});
    }
    if (this.o.fails?.includes(step)) throw new Error(`${step} failed on ${this.name}`);
    return fn();
  }

  agent(manifest: Manifest): RestoreAgent {
    const entry: CatalogEntry = {
      name: manifest.name,
      location: `node:${this.name}`,
      format: "zip",
      key: `${manifest.name}.zip`,
      size: 100,
      modified: manifest.createdAt,
      status: "ok",
      manifest,
    };
    return {
      name: this.name,
      endpoint: endpointOf(this.name),
      openSession: async (id) => void this.sessions.push(`open ${id}`),
      releaseSession: async (id) => void this.sessions.push(`release ${id}`),
      listSnapshots: async () => (this.o.holds === false ? [] : [entry]),
      preflight: async (): Promise<AgentPreflight> => ({
        node: this.name,
        mode: "managed",
        tool: "etcdutl",
        toolVersion: this.o.toolVersion ?? "3.5.30",
        memberVersion: this.o.memberVersion === undefined ? "3.5.30" : this.o.memberVersion,
        supportsBumpRevision: true,
        dataDirExists: true,
        pendingRollback: this.o.pendingRollback ?? null,
        lastRestored: this.o.lastRestored ?? null,
      }),
      prepare: (_s, _n) =>
        this.step("prepare", () => ({ sha256: this.o.sha256 ?? SHA, size: 100, from: "here", stateFile: null })),
      checkIdentity: async () => ({ encrypted: manifest.encryption !== null }),
      node: () => this.node(),
    };
  }

  node(): RestoreNode {
    const digest = () => ({ size: 100, sha256: this.o.sha256 ?? SHA, dbSha256: SHA });
    return {
      name: this.name,
      agent: endpointOf(this.name),
      fetch: () => this.step("fetch", digest),
      stopMember: () => this.step("stop", () => void (this.member = "stopped")),
      startMember: () => this.step("start", () => void (this.member = "running")),
      apply: () => this.step("apply", () => ((this.data = "new"), { oldDataDir: `/data/${this.name}.old` })),
      rollback: (stamp) =>
        this.step("rollback", () => {
          this.member = "stopped";
          this.data = "old";
          if (stamp) this.log.push(`${this.name}:rollback to ${stamp}`);
          return { restored: true };
        }),
      finish: () =>
        this.step("finish", () => (this.o.hookCodes ?? []).map((code) => ({ command: "hook", code, output: "" }))),
      health: () =>
        this.step("health", () =>
          this.member === "running" && !this.o.neverHealthy
            ? { reachable: true, hasLeader: true, clusterId: this.data === "new" ? NEW_ID : OLD_ID, revision: 2000 }
            : { reachable: true, hasLeader: false },
        ),
    };
  }
}

function endpointOf(name: string): string {
  return `127.0.0.${name.charCodeAt(name.length - 1) - 95}:7443`;
}

export function manifestOf(name: string): Manifest {
  return {
    formatVersion: 1,
    name,
    kind: "one-time",
    clusterId: OLD_ID,
    node: "etcd-a",
    memberId: "1",
    createdAt: "2026-11-27T10:00:00.000Z",
    etcd: { version: "3.5.30", revision: 1000, dbSize: 100 },
    snapshot: { entry: `backup/${name}`, size: 100, sha256: SHA, dbSha256: SHA },
    archive: { file: `${name}.zip`, format: "zip", compression: "deflate", size: 100, sha256: SHA },
    stateFile: { included: false },
    encryption: null,
    tool: { name: "lifeboat", version: "0" },
  };
}

/** A fake clock that only moves when the code under test sleeps. */
export function fakeTime(start = Date.parse("2026-11-27T10:15:02Z")) {
  let now = start;
  return {
    clock: () => new Date(now),
    now: () => now,
    sleep: async (ms: number) => void (now += ms),
  };
}

export interface Fleet {
  nodes: FakeNode[];
  log: string[];
  lines: string[];
  notes: string[];
  results: unknown[];
  deps: CoordinatorDeps;
  statePath: string;
  cleanup(): Promise<void>;
}

/** Three fake nodes (etcd-a, etcd-b leader, etcd-c) and coordinator deps over them; the state file is a temp file. */
export async function fakeFleet(
  options: Partial<Record<"etcd-a" | "etcd-b" | "etcd-c", FakeNodeOptions>> = {},
  state: ClusterState = {},
): Promise<Fleet> {
  const dir = await mkdtemp(join(tmpdir(), "lifeboat-restore-fake-"));
  const log: string[] = [];
  const nodes = (["etcd-a", "etcd-b", "etcd-c"] as const).map((n) => new FakeNode(n, log, options[n] ?? {}));
  const time = fakeTime();
  const lines: string[] = [];
  const notes: string[] = [];
  const results: unknown[] = [];
  const statePath = join(dir, "cluster.rkestate");
  const manifest = manifestOf("snap1");
  const deps: CoordinatorDeps = {
    out: {
      line: (l) => lines.push(l),
      note: (l) => notes.push(l),
      result: (v) => results.push(v),
      duration: (ms) => `${ms} ms`,
    },
    clock: time.clock,
    sleep: time.sleep,
    confirm: async () => void log.push("confirm"),
    agents: nodes.map((n) => n.agent(manifest)),
    health: async () =>
      nodes.map((n) => ({ node: n.name, isLeader: n.name === "etcd-b", clusterId: OLD_ID, revision: 5000 })),
    state: { path: statePath, current: state },
    pushLineage: async () => void log.push("push lineage"),
  };
  return {
    nodes,
    log,
    lines,
    notes,
    results,
    deps,
    statePath,
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

export const MEMBERS = ["etcd-a", "etcd-b", "etcd-c"].map((name, i) => ({
  name,
  agent: endpointOf(name),
  peerUrl: `https://127.0.0.${i + 2}:2380`,
  clientUrl: `https://127.0.0.${i + 2}:2379`,
  dataDir: `/data/${name}`,
  postRestore: [],
}));

/** A plan restoring snap1 from etcd-a onto MEMBERS, all managed on etcd 3.5 (for the executor's tests). */
export function fakePlan(leader?: string) {
  return buildRestorePlan({
    name: "snap1",
    source: { kind: "node", node: "etcd-a", key: "snap1.zip" },
    members: MEMBERS,
    preflight: MEMBERS.map((m) => ({
      node: m.name,
      mode: "managed",
      tool: "etcdutl",
      toolVersion: "3.5.30",
      memberVersion: "3.5.30",
      supportsBumpRevision: true,
      dataDirExists: true,
    })),
    snapshot: { sha256: SHA, revision: 1000 },
    stateSource: "archive",
    statePath: "/tmp/state",
    leader,
    previousClusterId: OLD_ID,
    now: new Date("2026-11-27T10:15:02Z"),
  });
}
