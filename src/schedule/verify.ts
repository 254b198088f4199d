/**
 * The scheduled verify (`lifeboat.schedule.verify`): one node of the cluster restores the newest good snapshot into
 * a throwaway etcd on its loopback and checks it against its manifest (revision, key count, HashKV), then records the
 * result in its run history, in etcd (`/lifeboat/verify/last`, so every agent knows the cluster's last scheduled
 * verify) and in its metrics, and posts `verify.failed` (or, with on_success, `verify.succeeded`) to the webhook.
 *
 * Which snapshot: the newest good copy in S3 when the schedule uploads there (what a lost cluster is restored from),
 * else the verifying node's own newest good copy. Who: with `every`, the node that wins the slot's election
 * (`/lifeboat/verifies/<slot>`, created-if-absent like the uploads' keys); with `after_snapshots: N`, the uploader of a
 * recurring run (without S3, the winner of that slot's verify election) once N recurring snapshots are newer than the
 * last verified one. The restore itself (free space, the session, the throwaway etcd) is the agent's: `runner`.
 *
 * A verify never blocks a backup (it holds no save flight) and gives way to a restore or verify the CLI asks for: it
 * is then cancelled and recorded nowhere, like a run a restore paused. At most one runs at a time per node.
 */
import type { S3Settings } from "../config/s3-settings.js";
import type { IdentitySource } from "../crypto/age.js";
import type { EtcdMemberClient } from "../etcd/client.js";
import { listCatalog, type CatalogEntry } from "../snapshot/catalog.js";
import type { Contents } from "../snapshot/manifest.js";
import type { Store } from "../store/store.js";
import type { AgentMetrics } from "../telemetry/agent-metrics.js";
import type { Notifier } from "../telemetry/notify.js";
import { parseJsonText } from "../config/json-file.js";
import { describeError } from "../util/errors.js";
import type { Logger } from "../util/log.js";
import { campaignForVerify, type ElectionClient } from "./election.js";
import { ClusterVerify, type RunHistory, type RunRecord, type VerifyRecord } from "./history.js";
import { periodAfter } from "./plan.js";
import { RunPaused, Scheduler, type ScheduleJob, type Timers } from "./scheduler.js";
import type { ScheduleSpec, VerifySchedule } from "./spec.js";

/** The cluster's last scheduled verify, written by whichever node ran it. */
export const LAST_VERIFY_KEY = "/lifeboat/verify/last";

/** What one restore into a throwaway etcd found (the fields of src/api/restore.ts VerifyReport used here). */
export interface RunnerReport {
  ok: boolean;
  revision: number;
  keys: number;
  reason?: string;
}

/** The agent's side of a verify: free space, a session of its own, the prepare and the throwaway etcd. */
export type VerifyRunner = (job: {
  entry: CatalogEntry;
  s3: Store | undefined;
  identity: IdentitySource | undefined;
  expected: Contents | null | undefined;
  signal: AbortSignal;
}) => Promise<{ report: RunnerReport } | { busy: string }>;

export interface VerifierDeps {
  node: string;
  etcd: ElectionClient & Pick<EtcdMemberClient, "health" | "get" | "put">;
  local: Store;
  openS3: (settings: S3Settings) => Store;
  history: RunHistory;
  metrics: Pick<AgentMetrics, "verifyFinished">;
  notifier: Pick<Notifier, "notify">;
  log: Logger;
  clock: () => Date;
  timers: Timers;
  random: () => number;
}

export class ScheduledVerifier {
  private readonly scheduler: Scheduler;
  private spec: ScheduleSpec | undefined;
  private runner: VerifyRunner | undefined;
  private running: { abort: AbortController; done: Promise<void> } | undefined;
  private paused: string | undefined;
  /** The cluster's last scheduled verify as last read from etcd (or written by this node). */
  private cluster: ClusterVerify | undefined;

  constructor(private readonly deps: VerifierDeps) {
    this.scheduler = new Scheduler({
      clock: deps.clock,
      timers: deps.timers,
      random: deps.random,
      log: deps.log.child({ verify: "scheduled" }),
      lastSuccess: async () => {
        const last = deps.history.get().lastVerify;
        return last?.kind === "recurring" ? new Date(last.startedAt) : undefined;
      },
      run: (job) => this.onSlot(job),
      skipped: (job, reason) => deps.log.warn("scheduled verify skipped", { slot: job.slot.toISOString(), reason }),
    });
  }

  /** The restore side, given by the agent's router once its sessions exist. */
  useRunner(runner: VerifyRunner): void {
    this.runner = runner;
  }

  /** Applies a pushed schedule: `verify.everyMs` arms the timer; after_snapshots waits for recurring runs. */
  async configure(schedule: { spec: ScheduleSpec; since: Date } | undefined): Promise<void> {
    this.spec = schedule?.spec;
    const every = schedule?.spec.verify && "everyMs" in schedule.spec.verify ? schedule.spec.verify.everyMs : undefined;
    if (!schedule || every === undefined) return this.scheduler.configure(undefined);
    const spec: ScheduleSpec = { ...schedule.spec, every: { type: "interval", ms: every } };
    await this.scheduler.configure({ spec, since: schedule.since });
  }

  /** After a recurring run on this node: with after_snapshots, verify once enough snapshots are new. */
  afterRun(job: Omit<ScheduleJob, "signal">, record: RunRecord): void {
    const verify = job.spec.verify;
    if (!verify || !("afterSnapshots" in verify) || record.result !== "success" || this.paused) return;
    // With S3 the uploader verifies: it alone knows its upload is committed. Without, one node is elected.
    if (job.spec.s3 && record.upload?.result !== "uploaded") return;
    void this.start(job.spec, async () => {
      if (!job.spec.s3 && !(await this.elected(job))) return false;
      return this.due(job.spec, verify);
    });
  }

  /** Cancels a verify going now (a restore holds the node) and starts none until `resume`. */
  async pause(reason: string): Promise<void> {
    this.paused = reason;
    await this.scheduler.pause(reason);
    await this.cancel(new RunPaused(`cancelled: ${reason}`));
  }

  resume(): void {
    this.paused = undefined;
    this.scheduler.resume();
  }

  async stop(): Promise<void> {
    await this.scheduler.stop();
    await this.cancel(new Error("the agent is stopping"));
  }

  status(): { nextRun?: string } {
    const next = this.scheduler.status().nextRun;
    return next ? { nextRun: next.at } : {};
  }

  /**
   * The cluster's last scheduled verify: read from etcd (bounded: a member that does not answer gives the last one
   * read), else undefined.
   */
  async clusterLast(): Promise<ClusterVerify | undefined> {
    let timer: NodeJS.Timeout | undefined;
    try {
      const text = await Promise.race([
        this.deps.etcd.get(LAST_VERIFY_KEY),
        new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error("timed out")), 2000))),
      ]);
      if (text !== undefined) this.cluster = parseJsonText(text, LAST_VERIFY_KEY, ClusterVerify).data;
    } catch (err) {
      this.deps.log.debug("cannot read the cluster's last scheduled verify", { error: describeError(err) });
    } finally {
      clearTimeout(timer);
    }
    return this.cluster;
  }

  private async onSlot(job: ScheduleJob): Promise<void> {
    if (!(await this.elected(job))) return;
    await this.start(job.spec, async () => true, job.signal);
  }

  private async elected(job: Omit<ScheduleJob, "signal">): Promise<boolean> {
    const health = await this.deps.etcd.health().catch(() => undefined);
    if (!health?.reachable || !health.hasLeader || health.alarms.length > 0) {
      this.deps.log.info("this member is not healthy; it does not campaign for the scheduled verify");
      return false;
    }
    const periodMs = periodAfter(job.spec.every, job.slot);
    const name = job.name;
    const ballot = await campaignForVerify(this.deps.etcd, { slot: job.slot, periodMs, node: this.deps.node, name });
    if (!ballot.won) this.deps.log.debug("not verifying this slot", { election: ballot.key, reason: ballot.reason });
    return ballot.won;
  }

  /** Whether N recurring snapshots of the verified location are newer than the last verified one. */
  private async due(spec: ScheduleSpec, verify: Extract<VerifySchedule, { afterSnapshots: number }>) {
    const { store, location, close } = this.locationOf(spec);
    try {
      const last = await this.clusterLast();
      const since = last?.snapshotCreatedAt ? Date.parse(last.snapshotCreatedAt) : -Infinity;
      const entries = await listCatalog(store, location);
      const fresh = entries.filter(
        (e) => e.status === "ok" && e.manifest?.kind === "recurring" && Date.parse(e.manifest.createdAt) > since,
      );
      return fresh.length >= verify.afterSnapshots;
    } finally {
      await close();
    }
  }

  /** Runs one verify unless one is going; `gate` decides (elected, due) first. Never throws. */
  private async start(spec: ScheduleSpec, gate: () => Promise<boolean>, outer?: AbortSignal): Promise<void> {
    if (this.running) {
      this.deps.log.info("scheduled verify skipped: the previous one is still going");
      return;
    }
    const abort = new AbortController();
    const signal = outer ? AbortSignal.any([abort.signal, outer]) : abort.signal;
    const done = (async () => {
      try {
        if (await gate()) await this.verifyNewest(spec, signal);
      } catch (err) {
        this.deps.log.error("scheduled verify failed unexpectedly", { error: describeError(err) });
      }
    })();
    this.running = { abort, done };
    try {
      await done;
    } finally {
      if (this.running?.done === done) this.running = undefined;
    }
  }

  private async cancel(reason: Error): Promise<void> {
    const running = this.running;
    running?.abort.abort(reason);
    await running?.done;
  }

  private locationOf(spec: ScheduleSpec) {
    if (spec.s3) {
      const store = this.deps.openS3(spec.s3);
      return { store, location: "s3", close: () => store.close() };
    }
    return { store: this.deps.local, location: `node:${this.deps.node}`, close: async () => undefined };
  }

  private async verifyNewest(spec: ScheduleSpec, signal: AbortSignal): Promise<void> {
    const { store, location, close } = this.locationOf(spec);
    const log = this.deps.log.child({ verify: "scheduled", location });
    try {
      const entry = newestGood(await listCatalog(store, location));
      if (!entry?.manifest) {
        log.info("scheduled verify: no good snapshot to verify yet", { location });
        return;
      }
      if (!this.runner) {
        log.warn("scheduled verify skipped: the agent cannot restore yet");
        return;
      }
      const startedAt = this.deps.clock();
      log.info("scheduled verify started", { name: entry.name });
      const outcome = await this.runner({
        entry,
        s3: spec.s3 ? store : undefined,
        identity: spec.identity,
        expected: entry.manifest.contents,
        signal,
      }).then(
        (o) => ("busy" in o ? ({ busy: o.busy } as const) : ({ report: o.report } as const)),
        (err: unknown) => ({ error: describeError(err) }) as const,
      );
      if (signal.aborted) {
        log.info("scheduled verify cancelled; nothing is recorded", {
          name: entry.name,
          reason: describeError(signal.reason),
        });
        return;
      }
      if ("busy" in outcome) {
        log.info("scheduled verify skipped", { name: entry.name, reason: outcome.busy });
        return;
      }
      const base = {
        name: entry.name,
        kind: "recurring" as const,
        startedAt: startedAt.toISOString(),
        finishedAt: this.deps.clock().toISOString(),
        location,
        snapshotCreatedAt: entry.manifest.createdAt,
      };
      const record: VerifyRecord =
        "report" in outcome && outcome.report.ok
          ? { ...base, result: "success", revision: outcome.report.revision, keys: outcome.report.keys }
          : {
              ...base,
              result: "failure",
              reason:
                "error" in outcome
                  ? outcome.error
                  : (outcome.report.reason ?? "the restored member did not match the snapshot"),
            };
      await this.record(record, log);
    } finally {
      await close();
    }
  }

  private async record(record: VerifyRecord, log: Logger): Promise<void> {
    const ok = record.result === "success";
    if (ok) log.info("scheduled verify passed", { name: record.name, revision: record.revision, keys: record.keys });
    else log.error("scheduled verify FAILED", { name: record.name, reason: record.reason });
    await this.deps.history.recordVerify(record);
    const cluster: ClusterVerify = { ...record, node: this.deps.node };
    this.cluster = cluster;
    await this.deps.etcd
      .put(LAST_VERIFY_KEY, JSON.stringify(cluster))
      .catch((err: unknown) => log.warn("cannot record the scheduled verify in etcd", { error: describeError(err) }));
    this.deps.metrics.verifyFinished(ok, new Date(record.finishedAt));
    this.deps.notifier.notify({
      type: ok ? "verify.succeeded" : "verify.failed",
      time: record.finishedAt,
      node: this.deps.node,
      name: record.name,
      kind: "recurring",
      location: record.location === "s3" ? "s3" : "local",
      ...(record.reason ? { reason: record.reason } : {}),
      ...(record.revision !== undefined ? { revision: record.revision } : {}),
    });
  }
}

/** The newest good copy of a listing, any kind (a one-time snapshot is a backup too). */
export function newestGood(entries: readonly CatalogEntry[]): CatalogEntry | undefined {
  let out: CatalogEntry | undefined;
  for (const e of entries) {
    if (e.status !== "ok" || !e.manifest) continue;
    if (!out || Date.parse(e.manifest.createdAt) > Date.parse(out.manifest!.createdAt)) out = e;
  }
  return out;
}
