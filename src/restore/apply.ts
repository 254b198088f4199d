/**
 * Carrying out a restore plan across every node. Up to "stop every member" nothing touches the running cluster; a
 * failure after it rolls every node back to its old data directory and restarts the old cluster.
 *
 *   distribute  every other node fetches what the serving node serves (the archive while it still arrives there, or
 *               the snapshot a point's replay built), extracting and checking it as it comes (trailer + sha256)
 *   compare     every copy's digest, taken as it was written, against the serving node's: all must be identical
 *   stop        every member stops, one after another, in the plan's order (the leader first)
 *   rebuild     every node restores into a new directory and swaps it in (old one kept); a copy unchanged since it
 *               was verified is not hashed again (steps.ts, VerifiedFiles)
 *   start       every member starts; wait until all are up with one leader, a new cluster ID, revision >= snapshot's
 *   finish      post-restore hooks on every node
 */
import type { Health } from "../api/node.js";
import type { SnapshotDigest } from "../api/restore.js";
import { ArchiveError, ChecksumMismatchError, ExitCode, UserError, describeError } from "../util/errors.js";
import type { RestorePlan } from "./plan.js";
import type { ApplyStep } from "./steps.js";

/** A snapshot file's digest on a node (POST /v1/restore/fetch, GET /v1/restore/:name/digest). */
export type Digest = SnapshotDigest;

/** What the executor needs of a member's health (GET /v1/health, src/api/node.ts). */
export type NodeHealthView = Pick<Health, "reachable" | "hasLeader"> &
  Partial<Pick<Health, "clusterId" | "revision" | "error">>;

/** One node as the executor sees it; the CLI implements it over the agent API. */
export interface RestoreNode {
  name: string;
  agent: string;
  /** Fetches from `peerAgent`; `expect` is what the snapshot should be when that is known before it arrives. */
  fetch(name: string, peerAgent: string, expect: FetchExpectation): Promise<Digest>;
  stopMember(): Promise<void>;
  /** Starts the member, failing after `timeoutMs` at the latest. */
  startMember(timeoutMs: number): Promise<void>;
  apply(req: ApplyStep): Promise<{ oldDataDir?: string }>;
  /**
   * Puts the old data directory back (the member is stopped, and left stopped): the pending restore's, or with
   * `stamp` and nothing pending, the one kept by that finished restore (an undo).
   */
  rollback(stamp?: string): Promise<{ restored: boolean }>;
  finish(name: string): Promise<{ command: string; code: number | null; output: string }[]>;
  health(): Promise<NodeHealthView>;
}

export interface ApplyDeps {
  nodes: readonly RestoreNode[];
  /** Called at the start of each phase (for progress and timings). */
  phase(title: string): void;
  sleep(ms: number): Promise<void>;
  /** How long the start phase may take, from the first start to a healthy cluster (and so each rollback start). */
  healthTimeoutMs: number;
  /** Milliseconds since the epoch, for the health deadline (a fake clock in tests). */
  now?(): number;
  /** Told when the part begins, and ends, in which the members are down (an interrupt there leaves them down). */
  critical?(on: boolean): void;
}

export interface ApplyResult {
  clusterId: string;
  revision: number;
  hooks: { node: string; command: string; code: number | null; output: string }[];
  oldDataDirs: Record<string, string>;
}

/** A restore that failed after members were stopped: every node was rolled back (or the message says where not). */
export class RestoreFailedError extends UserError {
  override name = "RestoreFailedError";
  constructor(message: string, options?: ErrorOptions) {
    super(message, ExitCode.restoreFailed, options);
  }
}

/** What a peer's copy must be, when the coordinator knows it before the copy arrives (the manifest's digest). */
export interface FetchExpectation {
  sha256?: string | undefined;
  size?: number | undefined;
}

/** Every node but the serving one fetches from it; resolves with each copy's digest, taken as it was written. */
export async function distribute(
  plan: RestorePlan,
  expect: FetchExpectation,
  deps: Pick<ApplyDeps, "nodes">,
): Promise<{ node: string; digest: Digest }[]> {
  const server = deps.nodes.find((n) => n.name === plan.server);
  if (!server) throw new Error(`the serving node ${plan.server} is not part of the restore`);
  return untouched(() =>
    Promise.all(
      deps.nodes
        .filter((n) => n !== server)
        .map(async (n) => ({ node: n.name, digest: await n.fetch(plan.name, server.agent, expect) })),
    ),
  );
}

/**
 * Every copy against the serving node's digest (each hashed as it was written, so none is read again here); any that
 * differs is an integrity failure (exit 4) naming the node, before any member stops.
 */
export function compareCopies(sha256: string, copies: readonly { node: string; digest: Digest }[]): void {
  const differ = copies.filter((d) => d.digest.sha256 !== sha256);
  if (!differ.length) return;
  const list = differ.map((d) => `${d.node} has sha256:${d.digest.sha256}`).join(", ");
  throw new ChecksumMismatchError(
    `etcd snapshots are not consistent: expected sha256:${sha256}, but ${list}; the running cluster is untouched`,
  );
}

/** Stop, rebuild, start, wait healthy, finish; on failure, roll every node back and restart the old cluster. */
export async function rebuildCluster(plan: RestorePlan, sha256: string, deps: ApplyDeps): Promise<ApplyResult> {
  deps.phase("stop every member");
  deps.critical?.(true);
  try {
    await stopOneByOne(inOrder(deps.nodes, plan.stopOrder));
    deps.phase("rebuild every data directory from the snapshot (old ones kept)");
    const applied = await everyNode(deps.nodes, async (n) => {
      const r = await n.apply({
        name: plan.name,
        sha256,
        initialCluster: plan.initialCluster,
        initialClusterToken: plan.initialClusterToken,
        bumpRevision: plan.bump.amount,
        stamp: plan.stamp,
      });
      return [n.name, r.oldDataDir ?? ""] as const;
    });
    deps.phase("start every member and wait for a healthy cluster");
    const healthy = await startAndWait(plan, deps);
    deps.critical?.(false);
    deps.phase("post-restore hooks");
    const hooks = (
      await Promise.all(deps.nodes.map(async (n) => (await n.finish(plan.name)).map((h) => ({ node: n.name, ...h }))))
    ).flat();
    return { ...healthy, hooks, oldDataDirs: Object.fromEntries(applied) };
  } catch (err) {
    const rollback = await rollbackAll(deps);
    deps.critical?.(false);
    throw new RestoreFailedError(`restore failed: ${describeError(err)}; ${rollback}`, { cause: err });
  }
}

/**
 * Starts every member and waits for a healthy cluster, all within one deadline: a member whose start hangs cannot
 * hold the restore past it, and the message names what was still being waited for.
 */
async function startAndWait(plan: RestorePlan, deps: ApplyDeps): Promise<{ clusterId: string; revision: number }> {
  const now = () => (deps.now ? deps.now() : Date.now());
  const deadline = now() + deps.healthTimeoutMs;
  const pending = new Set(deps.nodes.map((n) => n.name));
  const starts = Promise.allSettled(
    deps.nodes.map((n) => n.startMember(deps.healthTimeoutMs).finally(() => pending.delete(n.name))),
  );
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<"timeout">(
    (resolve) => (timer = setTimeout(() => resolve("timeout"), deps.healthTimeoutMs)),
  );
  const started = await Promise.race([starts, timeout]).finally(() => clearTimeout(timer));
  const seconds = deps.healthTimeoutMs / 1000;
  if (started === "timeout") {
    throw new Error(`the members did not start within ${seconds} s (still starting: ${[...pending].join(", ")})`);
  }
  const failed = started.flatMap((r, i) =>
    r.status === "rejected" ? [`${deps.nodes[i]?.name}: ${describeError(r.reason)}`] : [],
  );
  if (failed.length) throw new Error(failed.join("; "));
  return waitHealthy(deps.nodes, {
    minRevision: plan.snapshot.revision ?? 0,
    notClusterId: plan.previousClusterId,
    deadline,
    timeoutMs: deps.healthTimeoutMs,
    sleep: (ms) => deps.sleep(ms),
    now,
  });
}

/** The nodes in the plan's stop order (any the order does not name last, in their own order). */
function inOrder(nodes: readonly RestoreNode[], order: readonly string[]): RestoreNode[] {
  const rank = (n: RestoreNode) => (order.includes(n.name) ? order.indexOf(n.name) : order.length);
  return [...nodes].sort((a, b) => rank(a) - rank(b));
}

/**
 * Members stopped all at once wait on each other while shutting down (several seconds each); one after another,
 * each stops in about a second. A failure still stops the rest before it is reported.
 */
async function stopOneByOne(nodes: readonly RestoreNode[]): Promise<void> {
  const failed: string[] = [];
  for (const n of nodes) await n.stopMember().catch((err: unknown) => failed.push(`${n.name}: ${describeError(err)}`));
  if (failed.length) throw new Error(failed.join("; "));
}

/**
 * Runs `fn` on every node and waits for ALL of them, even after one fails: a rollback must never start while another
 * node is still swapping its data directory. Throws one error naming every node that failed.
 */
async function everyNode<T>(nodes: readonly RestoreNode[], fn: (n: RestoreNode) => Promise<T>): Promise<T[]> {
  const settled = await Promise.allSettled(nodes.map(fn));
  const failed = settled.flatMap((r, i) =>
    r.status === "rejected" ? [`${nodes[i]?.name}: ${describeError(r.reason)}`] : [],
  );
  if (failed.length) throw new Error(failed.join("; "));
  return settled.map((r) => (r as PromiseFulfilledResult<T>).value);
}

/** Puts every node's old data directory back and starts the old cluster. Returns a sentence saying how it went. */
export async function rollbackAll(
  deps: Pick<ApplyDeps, "nodes" | "phase" | "healthTimeoutMs">,
  stamp?: string,
): Promise<string> {
  deps.phase("rollback: old data directories back in place, members restarted");
  const results = await Promise.allSettled(deps.nodes.map((n) => n.rollback(stamp)));
  const failed = results.flatMap((r, i) =>
    r.status === "rejected" ? [`${deps.nodes[i]?.name}: ${describeError(r.reason)}`] : [],
  );
  const started = await Promise.allSettled(deps.nodes.map((n) => n.startMember(deps.healthTimeoutMs)));
  const notStarted = started.flatMap((r, i) =>
    r.status === "rejected" ? [`${deps.nodes[i]?.name}: ${describeError(r.reason)}`] : [],
  );
  if (!failed.length && !notStarted.length)
    return "rolled back: every node has its old data and its member was restarted";
  return `rollback incomplete (${[...failed, ...notStarted].join("; ")}); the old data directories are kept: run snapshot-restore --rollback`;
}

/**
 * Waits until every node answers, has a leader, is at `minRevision` or later, and all share one cluster ID that is not
 * `notClusterId`; fails after `deadline` (ms since the epoch) naming what was still wrong.
 */
export async function waitHealthy(
  nodes: readonly RestoreNode[],
  o: {
    minRevision: number;
    notClusterId?: string | undefined;
    deadline: number;
    timeoutMs: number;
    sleep: (ms: number) => Promise<void>;
    now?: (() => number) | undefined;
  },
): Promise<{ clusterId: string; revision: number }> {
  const now = o.now ?? Date.now;
  for (;;) {
    const views = await Promise.all(
      nodes.map(async (n) => ({
        node: n.name,
        h: await n
          .health()
          .catch((e: unknown): NodeHealthView => ({ reachable: false, hasLeader: false, error: describeError(e) })),
      })),
    );
    const problems = views.flatMap(({ node, h }) => {
      if (!h.reachable) return [`${node} unreachable${h.error ? ` (${h.error})` : ""}`];
      if (!h.hasLeader) return [`${node} has no leader`];
      if ((h.revision ?? 0) < o.minRevision) return [`${node} at revision ${h.revision}, expected ${o.minRevision}`];
      return [];
    });
    const ids = new Set(views.map((v) => v.h.clusterId));
    if (!problems.length && ids.size !== 1)
      problems.push(`members disagree on the cluster ID (${[...ids].join(", ")})`);
    const clusterId = views[0]?.h.clusterId ?? "";
    if (!problems.length && o.notClusterId && clusterId === o.notClusterId) {
      problems.push(`cluster ID ${clusterId} is still the old one`);
    }
    if (!problems.length) return { clusterId, revision: Math.max(...views.map((v) => v.h.revision ?? 0)) };
    if (now() > o.deadline)
      throw new Error(`the cluster was not healthy within ${o.timeoutMs / 1000} s: ${problems.join("; ")}`);
    await o.sleep(500);
  }
}

/** Runs a step that happens before any member is stopped; its error says the running cluster is untouched. */
export async function untouched<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const message = `${describeError(err)}; the running cluster is untouched`;
    if (err instanceof ChecksumMismatchError) throw new ChecksumMismatchError(message, { cause: err });
    if (err instanceof ArchiveError) throw new ArchiveError(message, { cause: err });
    if (err instanceof UserError) throw new UserError(message, err.exitCode, { cause: err });
    throw new Error(message, { cause: err });
  }
}
