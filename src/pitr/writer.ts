/**
 * The revision log's writer (docs/design.md, "The writer: one agent at a time"): every agent with the log configured
 * campaigns for `/lifeboat/log/writer` (create-if-absent on a lease); the winner finds where the log stands in S3,
 * watches its member from the next revision and commits a segment every interval (segments.ts). A compacted resume
 * point is a break: a full snapshot and a new chain. Losing the lease, the member or S3 steps the writer down; it
 * campaigns again like any other agent.
 */
import type { EtcdMemberClient } from "../etcd/client.js";
import { WatchCompactedError } from "../etcd/watch.js";
import type { SaveSettings } from "../snapshot/save-options.js";
import type { Store } from "../store/store.js";
import { describeError } from "../util/errors.js";
import type { Logger } from "../util/log.js";
import { listChains } from "./catalog.js";
import {
  chainKey,
  chainName,
  LOG_FORMAT_VERSION,
  type BreakReason,
  type ChainDoc,
  type LoggedRevision,
  type SegmentManifest,
} from "./format.js";
import { NotLeading, SegmentBuffer } from "./segments.js";

export const WRITER_KEY = "/lifeboat/log/writer";
/** Lease TTLs remembered at most (a cluster's event leases come and go): past it the cache starts over. */
const LEASE_CACHE_LIMIT = 100_000;

export interface ContinuousSpec {
  intervalMs: number;
  maxSegmentBytes: number;
}

export interface WriterJob {
  spec: ContinuousSpec;
  store: Store;
  recipients?: readonly string[] | undefined;
  /**
   * The cluster IDs of this cluster's lineage (the state file's, pushed with the schedule and by every restore): a
   * cluster without a chain gets a `new-cluster` chain only when it is one of them.
   */
  lineage: readonly string[];
  /** How a chain's base snapshot is saved (the pushed schedule's settings). */
  save: SaveSettings & { timeoutSeconds: number };
}

export type WriterClient = Pick<
  EtcdMemberClient,
  | "health"
  | "status"
  | "watchAll"
  | "leaseTimeToLive"
  | "leaseGrant"
  | "leaseRevoke"
  | "leaseKeepAliveOnce"
  | "txnPutIfAbsent"
>;

export interface LogMetrics {
  writer(on: boolean): void;
  segment(manifest: SegmentManifest): void;
  segmentFailed(): void;
  chainStarted(reason: BreakReason): void;
  requests(n: number): void;
}

export interface WriterDeps {
  node: string;
  etcd: WriterClient;
  log: Logger;
  clock: () => Date;
  sleep(ms: number, signal: AbortSignal): Promise<void>;
  metrics: LogMetrics;
  /** Saves a full snapshot of this node's member to the log's S3 folder: the base of a new chain. */
  takeBase(job: WriterJob, signal: AbortSignal): Promise<{ name: string; revision: number; clusterId: string }>;
}

/** What the writer is doing, for the agent's status. */
export interface WriterStatus {
  configured: boolean;
  leading: boolean;
  chain?: string;
  committed?: number;
  lastSegmentAt?: string;
  problem?: string;
}

/** The lease of a writer: twice the interval, at least 3 s (etcd's minimum TTL is below that). */
export function writerLeaseSeconds(intervalMs: number): number {
  return Math.max(3, Math.ceil((2 * intervalMs) / 1000));
}

export class LogWriter {
  private running: { abort: AbortController; done: Promise<void> } | undefined;
  private state: WriterStatus = { configured: false, leading: false };

  constructor(private readonly deps: WriterDeps) {}

  status(): WriterStatus {
    return { ...this.state };
  }

  /** Starts (or restarts with new settings) or, with undefined, stops the writer loop. */
  async configure(job: WriterJob | undefined): Promise<void> {
    await this.stop();
    this.state = { configured: job !== undefined, leading: false };
    if (!job) return;
    const abort = new AbortController();
    const done = this.campaignLoop(job, abort.signal).catch((err: unknown) =>
      this.deps.log.error("the revision log's writer stopped unexpectedly", { error: describeError(err) }),
    );
    this.running = { abort, done };
  }

  async stop(): Promise<void> {
    const running = this.running;
    this.running = undefined;
    running?.abort.abort(new Error("the log writer is stopping"));
    await running?.done;
  }

  private async campaignLoop(job: WriterJob, signal: AbortSignal): Promise<void> {
    const pause = Math.max(500, Math.floor(job.spec.intervalMs / 2));
    while (!signal.aborted) {
      const lease = await this.campaign(job).catch((err: unknown) => {
        this.deps.log.debug("log writer campaign failed", { error: describeError(err) });
        return undefined;
      });
      const problem = lease ? await this.lead(job, lease, signal) : undefined;
      // After stepping down for a problem, wait longer: another agent may fare better, and the log stays quiet.
      const wait = problem ? Math.min(60_000, 10 * pause) : pause;
      await this.deps.sleep(wait, signal).catch(() => undefined);
    }
  }

  /** The lease ID when this agent became the writer, else undefined. */
  private async campaign(job: WriterJob): Promise<string | undefined> {
    const health = await this.deps.etcd.health();
    if (!health.reachable || !health.hasLeader || health.alarms.length > 0) return undefined;
    const lease = await this.deps.etcd.leaseGrant(writerLeaseSeconds(job.spec.intervalMs));
    const value = JSON.stringify({ node: this.deps.node, since: this.deps.clock().toISOString() });
    if (await this.deps.etcd.txnPutIfAbsent(WRITER_KEY, value, lease)) return lease;
    await this.deps.etcd.leaseRevoke(lease).catch(() => undefined);
    return undefined;
  }

  /**
   * Writes the log while the lease lives; every way out revokes it, so another agent can take over at once. Resolves
   * with the problem it stepped down for, if any.
   */
  private async lead(job: WriterJob, lease: string, outer: AbortSignal): Promise<string | undefined> {
    const abort = new AbortController();
    const signal = AbortSignal.any([outer, abort.signal]);
    const ttl = writerLeaseSeconds(job.spec.intervalMs);
    const keep = setInterval(
      () => {
        this.deps.etcd.leaseKeepAliveOnce(lease).then(
          (left) => left > 0 || abort.abort(new NotLeading("the log writer's lease expired")),
          (err: unknown) => abort.abort(new NotLeading(`cannot renew the log writer's lease: ${describeError(err)}`)),
        );
      },
      Math.max(250, Math.floor((ttl * 1000) / 3)),
    );
    this.deps.metrics.writer(true);
    this.state = { configured: true, leading: true };
    this.deps.log.info("this agent writes the revision log", { lease });
    try {
      let position = await this.resume(job, signal);
      for (;;) {
        const reached = await this.follow(job, position, lease, signal);
        if (reached.compacted === undefined) return undefined;
        const previous = { chain: position.chain.chain, last: reached.committed };
        position = await this.startChain(job, "compacted", previous, signal);
      }
    } catch (err) {
      if (!outer.aborted) {
        const reason = describeError(signal.aborted ? signal.reason : err);
        this.state = { ...this.state, problem: reason };
        this.deps.log.warn("the revision log's writer steps down", { reason });
        return reason;
      }
      return undefined;
    } finally {
      clearInterval(keep);
      this.deps.metrics.writer(false);
      this.state = { ...this.state, leading: false };
      await this.deps.etcd.leaseRevoke(lease).catch(() => undefined);
    }
  }

  /** Where the log stands: the newest chain of this member's cluster and its next revision, else a new chain. */
  private async resume(job: WriterJob, signal: AbortSignal): Promise<{ chain: ChainDoc; next: number }> {
    const clusterId = (await this.deps.etcd.status()).clusterId;
    const chains = await listChains(job.store);
    this.deps.metrics.requests(1 + chains.length * 3);
    const mine = chains.filter((c) => c.doc?.clusterId === clusterId);
    const newest = mine[mine.length - 1];
    if (newest?.doc) return { chain: newest.doc, next: newest.reached + 1 };
    const reason: BreakReason = chains.some((c) => c.doc) ? "new-cluster" : "first";
    if (reason === "new-cluster" && !job.lineage.includes(clusterId))
      throw new Error(
        `cluster ${clusterId} has no chain and is not in the cluster's lineage (${job.lineage.join(", ") || "none"}): it is not logged, so that members restarted on empty data never become the newest point to restore; a restore by Lifeboat adds the cluster it makes to the lineage`,
      );
    return this.startChain(job, reason, null, signal);
  }

  /** A break: a full snapshot now, then chain.json, before any segment of the new chain. */
  private async startChain(
    job: WriterJob,
    reason: BreakReason,
    previous: ChainDoc["previous"],
    signal: AbortSignal,
  ): Promise<{ chain: ChainDoc; next: number }> {
    this.deps.log.info("the revision log starts a new chain with a full snapshot", { reason });
    const base = await this.deps.takeBase(job, signal);
    const start = base.revision + 1;
    const doc: ChainDoc = {
      formatVersion: LOG_FORMAT_VERSION,
      kind: "lifeboat-log-chain",
      chain: chainName(base.clusterId, start),
      clusterId: base.clusterId,
      start,
      startedAt: this.deps.clock().toISOString(),
      reason,
      base: { name: base.name, revision: base.revision },
      previous,
      writer: this.deps.node,
    };
    await job.store.put(chainKey(doc.chain), Buffer.from(JSON.stringify(doc, null, 2) + "\n"));
    this.deps.metrics.requests(1);
    this.deps.metrics.chainStarted(reason);
    this.deps.log.info("revision log chain started", { chain: doc.chain, reason, base: base.name, start });
    return { chain: doc, next: start };
  }

  /**
   * Watches from `position.next` and commits segments until the signal aborts (resolves) or the resume point was
   * compacted (resolves with `compacted`); anything else throws and steps the writer down.
   */
  private async follow(
    job: WriterJob,
    position: { chain: ChainDoc; next: number },
    lease: string,
    signal: AbortSignal,
  ): Promise<{ committed: number; compacted?: number }> {
    const chain = position.chain.chain;
    const buffer = new SegmentBuffer(
      {
        store: job.store,
        chain,
        node: this.deps.node,
        recipients: job.recipients,
        clock: this.deps.clock,
        stillLeading: async () => (await this.deps.etcd.leaseKeepAliveOnce(lease)) > 0,
        requests: (n) => this.deps.metrics.requests(n),
      },
      position.next - 1,
    );
    this.state = { ...this.state, chain, committed: buffer.committed };
    const leases = new Map<string, number | null>();
    let confirmed: { revision: number; at: Date } | undefined;
    let lost: Error | undefined;
    const stop = new AbortController();
    let flushing: Promise<void> = Promise.resolve();
    // Flushes run one after the other and never reject: a failed put stays pending for the next one, and a lost
    // lease ends the watch (the caller steps down).
    const flush = () =>
      (flushing = flushing
        .then(() => this.flushOnce(buffer, job, confirmed))
        .catch((err: unknown) => {
          if (!(err instanceof NotLeading)) return;
          lost ??= err;
          stop.abort(err);
        }));
    const tick = setInterval(() => void flush(), job.spec.intervalMs);
    try {
      const watch = this.deps.etcd.watchAll({
        startRevision: position.next,
        signal: AbortSignal.any([signal, stop.signal]),
        progressEveryMs: job.spec.intervalMs,
      });
      for await (const message of watch) {
        const now = this.deps.clock();
        if (message.kind === "progress") {
          confirmed = { revision: message.revision, at: now };
          continue;
        }
        const logged: LoggedRevision = { group: message.group, at: now.toISOString() };
        const granted = await this.leasesOf(message.group.events, leases);
        if (granted) logged.leases = granted;
        buffer.add(logged);
        confirmed = { revision: message.group.revision, at: now };
        if (buffer.pendingBytes >= job.spec.maxSegmentBytes) await flush();
        if (buffer.pendingBytes >= 4 * job.spec.maxSegmentBytes)
          throw new Error(`${buffer.pendingRevisions} revisions could not be committed to S3; stepping down`);
      }
      await flush();
      if (lost) throw lost;
      return { committed: buffer.committed };
    } catch (err) {
      if (err instanceof WatchCompactedError) {
        await flush();
        if (lost) throw lost;
        this.deps.log.warn("the revision log cannot resume: the revision was compacted (a break)", {
          chain,
          next: buffer.committed + 1,
          compactRevision: err.compactRevision,
        });
        return { committed: buffer.committed, compacted: err.compactRevision };
      }
      throw err;
    } finally {
      clearInterval(tick);
      await flushing;
    }
  }

  /** One flush: the pending segment, then the head when nothing after the committed revision had happened. */
  private async flushOnce(
    buffer: SegmentBuffer,
    job: WriterJob,
    confirmed: { revision: number; at: Date } | undefined,
  ): Promise<void> {
    try {
      const manifest = await buffer.flush();
      if (manifest) {
        this.deps.metrics.segment(manifest);
        this.state = { ...this.state, committed: buffer.committed, lastSegmentAt: manifest.writtenAt };
      }
      if (buffer.pendingRevisions === 0 && confirmed && confirmed.revision <= buffer.committed)
        await buffer.writeHead(confirmed.at);
      if (this.state.problem) {
        const { problem: _solved, ...rest } = this.state;
        this.state = rest;
      }
    } catch (err) {
      if (err instanceof NotLeading) throw err;
      this.deps.metrics.segmentFailed();
      const problem = `a segment could not be committed to ${job.store.location}: ${describeError(err)}`;
      this.state = { ...this.state, problem };
      this.deps.log.warn("revision log segment not committed; retried at the next interval", { problem });
      throw err;
    }
  }

  /** The granted TTL of each lease this writer meets for the first time in `events` (null when it is gone). */
  private async leasesOf(
    events: readonly { type: string; lease: string }[],
    known: Map<string, number | null>,
  ): Promise<Record<string, number> | undefined> {
    let out: Record<string, number> | undefined;
    for (const e of events) {
      if (e.type !== "put" || e.lease === "0" || known.has(e.lease)) continue;
      const ttl = await this.deps.etcd.leaseTimeToLive(e.lease).catch(() => undefined);
      if (known.size >= LEASE_CACHE_LIMIT) known.clear();
      known.set(e.lease, ttl?.grantedTtl ?? null);
      if (ttl) (out ??= {})[e.lease] = ttl.grantedTtl;
    }
    return out;
  }
}
