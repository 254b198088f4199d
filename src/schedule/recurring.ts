/**
 * Everything an agent does for recurring snapshots and visibility, wired in one place: the pushed schedule
 * (schedule.json), the timer, the runs, the shared save flight, metrics, webhook notifications and the run
 * history. startAgent creates one, hands `flight` and `observeSave` to the one-time save route, and starts it
 * once the API listens.
 */
import type { EtcdMemberClient } from "../etcd/client.js";
import { listCatalog, type CatalogEntry } from "../snapshot/catalog.js";
import type { SaveDeps, SaveResult } from "../snapshot/save.js";
import type { Store } from "../store/store.js";
import { describeError } from "../util/errors.js";
import type { Logger } from "../util/log.js";
import type { S3Settings } from "../config/s3-settings.js";
import { Notifier, type NotifierOptions, type NotifyEvent } from "../telemetry/notify.js";
import { SaveFlight } from "../snapshot/flight.js";
import { RunHistory, type RunRecord } from "./history.js";
import { AgentMetrics } from "../telemetry/agent-metrics.js";
import { recordSkip, runRecurring, type RecurringDeps } from "./run.js";
import { realTimers, Scheduler, type Timers } from "./scheduler.js";
import { mergePush, withLineage, type ScheduleDocument, type SchedulePush } from "./spec.js";
import { publicView } from "./view.js";
import type { NodeStatus as StatusReply, ScheduleView } from "../api/schedule.js";
import { readScheduleDocument, registerScheduleSecrets, writeScheduleDocument } from "./document.js";
import { defaultStaleAfter, lastVerifyFailed } from "./freshness.js";
import { FreshnessWatch } from "./watch.js";
import type { VerifyRecord } from "./history.js";
import { newestGood as newestGoodEntry, ScheduledVerifier, type VerifyRunner } from "./verify.js";
import type { ScheduleSpec } from "./spec.js";
import { saveChainBase } from "../pitr/base.js";
import { LogWriter, type WriterStatus } from "../pitr/writer.js";

export interface RecurringAgentDeps {
  node: string;
  /** The agent's folder: schedule.json and schedule-state.json live here. */
  dir: string;
  version: string;
  etcd: Pick<
    EtcdMemberClient,
    | "health"
    | "status"
    | "snapshot"
    | "count"
    | "hashKV"
    | "leaseGrant"
    | "leaseRevoke"
    | "txnPutIfAbsent"
    | "get"
    | "put"
    | "watchAll"
    | "leaseTimeToLive"
    | "leaseKeepAliveOnce"
  >;
  local: Store;
  makeS3: (settings: S3Settings) => Store;
  log: Logger;
  clock: () => Date;
  sleep: SaveDeps["sleep"];
  timers?: Timers;
  random?: () => number;
  /** Overrides for the webhook sender (tests shorten the backoff). */
  notifier?: Partial<Omit<NotifierOptions, "settings" | "log">>;
}

/** What `GET /v1/status` reports for this node, but the session (the agent's router adds it). */
export type NodeStatus = Omit<StatusReply, "session">;

export class RecurringAgent {
  readonly flight = new SaveFlight();
  readonly metrics: AgentMetrics;
  readonly notifier: Notifier;
  private readonly history: RunHistory;
  private readonly scheduler: Scheduler;
  private readonly watch: FreshnessWatch;
  private readonly verifier: ScheduledVerifier;
  private readonly logWriter: LogWriter;
  /** The revision log's settings as last applied, and the store it writes to. */
  private log: { key: string; store: Store } | undefined;
  private paused = false;
  private doc: ScheduleDocument | undefined;
  private docError: string | undefined;
  /** Pushes are applied one after the other. */
  private pushing: Promise<unknown> = Promise.resolve();
  private loading: Promise<void> | undefined;

  constructor(private readonly deps: RecurringAgentDeps) {
    this.metrics = new AgentMetrics(deps.node, deps.version, deps.clock);
    this.history = new RunHistory(deps.dir, deps.log);
    this.notifier = new Notifier({
      ...deps.notifier,
      settings: () => this.doc?.notifications ?? undefined,
      log: deps.log,
      onResult: (result) => this.metrics.notification(result),
    });
    const run: RecurringDeps = {
      node: deps.node,
      version: deps.version,
      etcd: deps.etcd,
      local: deps.local,
      openS3: deps.makeS3,
      flight: this.flight,
      log: deps.log,
      clock: deps.clock,
      sleep: deps.sleep,
      metrics: this.metrics,
      notifier: this.notifier,
      history: this.history,
    };
    this.scheduler = new Scheduler({
      clock: deps.clock,
      timers: deps.timers ?? realTimers,
      random: deps.random ?? Math.random,
      log: deps.log,
      lastSuccess: () => this.lastRecurringSuccess(),
      run: async (job) => {
        const record = await runRecurring(job, run);
        this.verifier.afterRun(job, record);
        await this.watch.check();
      },
      skipped: (job, reason) => void recordSkip(job, reason, run),
    });
    this.watch = new FreshnessWatch({
      node: deps.node,
      dir: deps.dir,
      clock: deps.clock,
      timers: deps.timers ?? realTimers,
      log: deps.log,
      notifier: this.notifier,
      metrics: this.metrics,
      newestGood: async () => newestGood(await this.catalog()),
    });
    this.logWriter = new LogWriter({
      node: deps.node,
      etcd: deps.etcd,
      log: deps.log.child({ log: "revisions" }),
      clock: deps.clock,
      sleep: (ms, signal) => deps.sleep(ms, signal),
      metrics: this.metrics.log,
      takeBase: (job, signal) =>
        saveChainBase(job.store, job.save, { ...run, etcd: deps.etcd, flight: this.flight }, signal),
    });
    this.verifier = new ScheduledVerifier({
      node: deps.node,
      etcd: deps.etcd,
      local: deps.local,
      openS3: deps.makeS3,
      history: this.history,
      metrics: this.metrics,
      notifier: this.notifier,
      log: deps.log,
      clock: deps.clock,
      timers: deps.timers ?? realTimers,
      random: deps.random ?? Math.random,
    });
  }

  /** What the revision log's writer on this agent is doing. */
  logStatus(): WriterStatus {
    return this.logWriter.status();
  }

  /** The restore side of scheduled verifies (src/agent/scheduled-verify.ts), given once the sessions exist. */
  useVerifyRunner(runner: VerifyRunner): void {
    this.verifier.useRunner(runner);
  }

  /** Loads the stored schedule and history (if not yet) and arms the timer; a missed slot runs at once. */
  async start(): Promise<void> {
    await this.load();
    await this.apply();
    await this.watch.check();
  }

  /**
   * Reads schedule.json and the run history once. Routes wait for it too, so an agent that serves before its
   * member is up (and before `start`) already reports the stored schedule.
   */
  private load(): Promise<void> {
    return (this.loading ??= (async () => {
      await this.history.load();
      await this.watch.load();
      try {
        this.doc = await readScheduleDocument(this.deps.dir);
      } catch (err) {
        this.docError = describeError(err);
        this.deps.log.error("the stored schedule is unreadable; recurring snapshots are off until the next push", {
          error: this.docError,
        });
      }
    })());
  }

  async stop(): Promise<void> {
    this.watch.stop();
    await Promise.all([this.scheduler.stop(), this.verifier.stop(), this.configureLog(undefined)]);
    await this.notifier.close();
  }

  /** Stores a pushed schedule and applies it; resolves with what GET /v1/schedule shows. */
  push(body: SchedulePush): Promise<ScheduleView> {
    const next = this.pushing.then(async () => {
      await this.load();
      registerScheduleSecrets(body);
      const doc = mergePush(this.doc, body, this.deps.clock());
      await writeScheduleDocument(this.deps.dir, doc);
      this.doc = doc;
      this.docError = undefined;
      await this.apply();
      await this.watch.configure(staleAfterOf(body));
      this.deps.log.info(doc?.schedule ? "schedule updated" : "schedule removed", { since: doc?.since ?? null });
      return this.viewNow();
    });
    this.pushing = next.catch(() => undefined);
    return next;
  }

  /**
   * Replaces the lineage in the stored schedule's retention (PUT /v1/schedule/lineage) and re-applies it; the rest of
   * the schedule, and its timer, stay as pushed. Without a stored schedule there is nothing to update: a prune asked
   * for by the CLI carries the lineage itself.
   */
  setLineage(lineage: readonly string[]): Promise<{ node: string; updated: boolean }> {
    const next = this.pushing.then(async () => {
      await this.load();
      const doc = withLineage(this.doc, lineage, this.deps.clock());
      if (!doc) return { node: this.deps.node, updated: false };
      await writeScheduleDocument(this.deps.dir, doc);
      this.doc = doc;
      await this.apply();
      this.deps.log.info("schedule lineage updated", { lineage: lineage.join(",") });
      return { node: this.deps.node, updated: true };
    });
    this.pushing = next.catch(() => undefined);
    return next;
  }

  /** What GET /v1/schedule shows: the stored schedule without secrets. */
  async view(): Promise<ScheduleView> {
    await this.load();
    return this.viewNow();
  }

  private viewNow(): ScheduleView {
    return { node: this.deps.node, ...publicView(this.doc), error: this.docError ?? null };
  }

  /** Pauses recurring runs (cancelling one that is going) until `resume`: a restore holds the node. */
  async pause(reason: string): Promise<void> {
    this.deps.log.info("recurring snapshots, verifies and the revision log paused", { reason });
    this.paused = true;
    await Promise.all([this.scheduler.pause(reason), this.verifier.pause(reason), this.configureLog(undefined)]);
  }

  resume(): void {
    this.scheduler.resume();
    this.verifier.resume();
    this.paused = false;
    void this.configureLog(this.doc?.schedule ?? undefined);
    this.deps.log.info("recurring snapshots resumed");
  }

  /** Resolves when no recurring run is going. */
  idle(): Promise<void> {
    return this.scheduler.idle();
  }

  /**
   * Called by the one-time save route after each save, for metrics, history and notifications. Resolves once the
   * history is written, so that a stopping agent, which waits for its requests, never loses the record.
   */
  async observeSave(
    name: string,
    kind: "one-time" | "recurring",
    outcome:
      | { ok: true; result: SaveResult; startedAt: Date }
      | { ok: false; error: string; startedAt: Date; interrupted?: boolean },
  ): Promise<void> {
    await this.recordSave(name, kind, outcome);
    await this.watch.check();
  }

  /**
   * Called by the verify route when a snapshot-verify on this node ended: the newest verify, and the newest
   * successful one ("last verified restore"), go to the history for status and metrics.
   */
  async observeVerify(
    name: string,
    kind: VerifyRecord["kind"],
    startedAt: Date,
    outcome: { ok: true; revision: number; keys: number } | { ok: false; reason: string },
  ): Promise<void> {
    await this.load();
    const base = { name, kind, startedAt: startedAt.toISOString(), finishedAt: this.deps.clock().toISOString() };
    const record: VerifyRecord = outcome.ok
      ? { ...base, result: "success", revision: outcome.revision, keys: outcome.keys }
      : { ...base, result: "failure", reason: outcome.reason };
    await this.history.recordVerify(record);
  }

  private async recordSave(
    name: string,
    kind: "one-time" | "recurring",
    outcome: Parameters<RecurringAgent["observeSave"]>[2],
  ): Promise<void> {
    const now = this.deps.clock();
    const base = { name, kind, startedAt: outcome.startedAt.toISOString(), finishedAt: now.toISOString() };
    const notify = (type: NotifyEvent["type"], extra: Partial<NotifyEvent>) =>
      this.notifier.notify({ type, time: now.toISOString(), node: this.deps.node, name, kind, ...extra });
    if (outcome.ok) return this.observeSuccess(outcome.result, base, notify);
    // Cut short by the agent stopping: recorded as such, neither counted nor notified as a failure.
    if (outcome.interrupted) return this.history.record({ ...base, result: "interrupted", reason: outcome.error });
    this.metrics.saveFinished(kind, false, now.getTime() - outcome.startedAt.getTime(), now);
    notify("snapshot.failed", { location: "local", reason: outcome.error });
    await this.history.record({ ...base, result: "failure", reason: outcome.error });
  }

  private async observeSuccess(
    result: SaveResult,
    base: Pick<RunRecord, "name" | "kind" | "startedAt" | "finishedAt">,
    notify: (type: NotifyEvent["type"], extra: Partial<NotifyEvent>) => void,
  ): Promise<void> {
    const { manifest, upload, durationMs } = result;
    const size = manifest.archive.size;
    const now = new Date(base.finishedAt);
    this.metrics.saveFinished(base.kind, true, durationMs, new Date(manifest.createdAt), size);
    if (upload) this.metrics.uploadFinished(base.kind, upload.ok, now, size);
    if (upload && !upload.ok) notify("upload.failed", { location: "s3", reason: upload.error });
    notify("snapshot.succeeded", { size });
    const uploaded =
      upload && (upload.ok ? { result: "uploaded" as const } : { result: "failed" as const, reason: upload.error });
    await this.history.record({ ...base, result: "success", size, ...(uploaded ? { upload: uploaded } : {}) });
  }

  /** This node's status, from its manifests, its history and the timer. */
  async status(): Promise<NodeStatus> {
    await this.load();
    const entries = await this.catalog();
    const own = entries.filter((e) => e.status === "ok" && e.manifest);
    const newest = own.at(-1);
    const history = this.history.get();
    const freshness = await this.watch.check();
    const cluster = await this.verifier.clusterLast();
    return {
      node: this.deps.node,
      time: this.deps.clock().toISOString(),
      schedule: publicView(this.doc)?.schedule ?? null,
      scheduleError: this.docError ?? null,
      nextRun: this.scheduler.status().nextRun ?? null,
      saving: this.flight.current ?? null,
      lastSuccess: newest?.manifest
        ? { name: newest.name, kind: newest.manifest.kind, createdAt: newest.manifest.createdAt, size: newest.size }
        : null,
      lastFailure: history.lastFailure ?? null,
      lastRun: history.lastRun ?? null,
      problems: history.problems ?? [],
      paused: this.scheduler.status().paused ?? null,
      kept: {
        count: own.length,
        bytes: own.reduce((sum, e) => sum + e.size, 0),
        broken: entries.filter((e) => e.status === "broken").length,
        withoutManifest: entries.filter((e) => e.status === "no-manifest").length,
      },
      freshness,
      lastVerify: history.lastVerify ?? null,
      lastVerifiedRestore: history.lastVerifiedRestore ?? null,
      verifyFailed: lastVerifyFailed(history.lastVerify, cluster),
      clusterVerify: cluster ?? null,
      nextVerify: this.verifier.status().nextRun ?? null,
      log: this.logWriter.status(),
    };
  }

  /** The Prometheus text, with the values that depend on the directory and the timer refreshed first. */
  async renderMetrics(): Promise<string> {
    const entries = await this.catalog().catch(() => undefined);
    if (entries) this.metrics.catalog(entries);
    await this.watch.check();
    const history = this.history.get();
    this.metrics.history(history, lastVerifyFailed(history.lastVerify, await this.verifier.clusterLast()));
    const next = this.scheduler.status().nextRun;
    this.metrics.schedule(next ? new Date(next.at) : undefined, this.flight.current !== undefined);
    return this.metrics.registry.render();
  }

  private async apply(): Promise<void> {
    const spec = this.doc?.schedule ?? undefined;
    const schedule = spec && this.doc ? { spec, since: new Date(this.doc.since) } : undefined;
    await Promise.all([
      this.scheduler.configure(schedule),
      this.verifier.configure(schedule),
      this.configureLog(this.paused ? undefined : spec),
    ]);
  }

  /**
   * Starts, restarts (when its settings changed) or stops the revision log's writer: only with `continuous` and S3
   * in the schedule. Never throws.
   */
  private async configureLog(spec: ScheduleSpec | undefined): Promise<void> {
    const job = spec?.continuous && spec.s3 ? { continuous: spec.continuous, s3: spec.s3, spec } : undefined;
    const lineage = spec?.retention.lineage ?? [];
    const key = job
      ? JSON.stringify([job.continuous, job.s3, spec?.encryption ?? null, spec?.compression, lineage])
      : "";
    if (this.log?.key === key && job) return;
    const previous = this.log;
    this.log = undefined;
    await this.logWriter.configure(undefined);
    await previous?.store.close();
    if (!job) return;
    const store = this.deps.makeS3(job.s3);
    this.log = { key, store };
    await this.logWriter.configure({
      spec: job.continuous,
      store,
      recipients: job.spec.encryption?.recipients,
      lineage,
      save: job.spec,
    });
  }

  /** This node's copies in its directory, oldest first. */
  private catalog(): Promise<CatalogEntry[]> {
    return listCatalog(this.deps.local, `node:${this.deps.node}`);
  }

  private async lastRecurringSuccess(): Promise<Date | undefined> {
    const entries = await this.catalog();
    const times = entries
      .filter((e) => e.status === "ok" && e.manifest?.kind === "recurring" && e.manifest.node === this.deps.node)
      .map((e) => Date.parse(e.manifest!.createdAt));
    return times.length ? new Date(Math.max(...times)) : undefined;
  }
}

/** The newest good copy of a listing, as the freshness watch wants it. */
function newestGood(entries: readonly CatalogEntry[]): { name: string; createdAt: Date } | undefined {
  const entry = newestGoodEntry(entries);
  return entry?.manifest ? { name: entry.name, createdAt: new Date(entry.manifest.createdAt) } : undefined;
}

/** The threshold a push sets: what the CLI sent, else (an older CLI) twice the schedule's period, else none. */
function staleAfterOf(body: SchedulePush): number | null {
  if (body.staleAfterMs !== undefined) return body.staleAfterMs;
  return body.schedule ? defaultStaleAfter(body.schedule.every) : null;
}
