/**
 * One recurring run on one node:
 *   claim the node's save flight (skip if a save is going) -> if S3 is configured and the member is healthy,
 *   campaign for this slot's upload -> the one-time pipeline (health gate, trailer check, archive, manifest last),
 *   uploading on the way only if elected -> on success only: prune this node's directory, and S3 too if this node
 *   uploaded and the upload verified -> record the outcome (history, metrics, webhook).
 * A failed or interrupted run prunes nothing anywhere (rancher/rancher#18548), and never throws.
 */
import { saveOptions } from "../snapshot/save-options.js";
import type { RetentionPolicy } from "../retention/index.js";
import { listCatalog, refreshListingIndex } from "../snapshot/catalog.js";
import { executePrune, planPrune } from "../snapshot/prune.js";
import { saveSnapshot, type SaveDeps, type SaveResult, type SnapshotSource } from "../snapshot/save.js";
import type { Store } from "../store/store.js";
import { describeError } from "../util/errors.js";
import type { Logger } from "../util/log.js";
import type { S3Settings } from "../config/s3-settings.js";
import type { Notifier } from "../telemetry/notify.js";
import { campaignForUpload, type Ballot, type ElectionClient } from "./election.js";
import type { SaveFlight } from "../snapshot/flight.js";
import type { RunHistory, RunRecord } from "./history.js";
import type { AgentMetrics } from "../telemetry/agent-metrics.js";
import { RunPaused, type ScheduleJob } from "./scheduler.js";
import { periodAfter } from "./plan.js";
import { pruneLogIn } from "../pitr/prune.js";

export interface RecurringDeps {
  node: string;
  version: string;
  etcd: SnapshotSource & ElectionClient;
  local: Store;
  openS3: (settings: S3Settings) => Store;
  flight: SaveFlight;
  log: Logger;
  clock: () => Date;
  sleep: SaveDeps["sleep"];
  metrics: AgentMetrics;
  notifier: Notifier;
  history: RunHistory;
}

type PruneSummary = NonNullable<RunRecord["pruned"]>["local"];

/** Runs `job` and returns what was recorded. */
export async function runRecurring(job: ScheduleJob, deps: RecurringDeps): Promise<RunRecord> {
  const startedAt = deps.clock();
  const release = deps.flight.tryAcquire(job.name, "recurring");
  if (!release) {
    const reason = `snapshot ${deps.flight.current ?? "?"} is being saved (one save at a time per node)`;
    deps.log.warn("recurring snapshot skipped", { name: job.name, reason });
    deps.metrics.skipped("recurring");
    return finish(deps, { ...base(job, startedAt, deps), result: "skipped", reason });
  }
  try {
    return await attempt(job, startedAt, deps);
  } finally {
    release();
  }
}

/** The record of a slot the scheduler skipped because the previous run was still going. */
export async function recordSkip(job: Omit<ScheduleJob, "signal">, reason: string, deps: RecurringDeps): Promise<void> {
  deps.metrics.skipped("recurring");
  await finish(deps, { ...base(job, deps.clock(), deps), result: "skipped", reason });
}

async function attempt(job: ScheduleJob, startedAt: Date, deps: RecurringDeps): Promise<RunRecord> {
  const log = deps.log.child({ snapshot: job.name });
  const ballot = job.spec.s3 ? await elect(job, deps) : undefined;
  const remote = ballot?.won && job.spec.s3 ? deps.openS3(job.spec.s3) : undefined;
  try {
    const result = await save(job, remote, { ...deps, log });
    return await succeeded(job, startedAt, result, ballot, remote, { ...deps, log });
  } catch (err) {
    if (ballot?.won) await ballot.release();
    if (job.signal.aborted && job.signal.reason instanceof RunPaused)
      return cancelled(job, startedAt, job.signal.reason.message, deps);
    if (job.signal.aborted) return interrupted(job, startedAt, describeError(job.signal.reason), deps);
    return failed(job, startedAt, describeError(err), deps);
  } finally {
    await remote?.close();
  }
}

async function elect(job: ScheduleJob, deps: RecurringDeps): Promise<Ballot> {
  const health = await deps.etcd.health();
  if (!health.reachable || !health.hasLeader || health.alarms.length > 0) {
    return { won: false, key: "", reason: "this member is not healthy; it does not campaign" };
  }
  const periodMs = periodAfter(job.spec.every, job.slot);
  const ballot = await campaignForUpload(deps.etcd, { slot: job.slot, periodMs, node: deps.node, name: job.name });
  deps.log.info(ballot.won ? "elected to upload this slot" : "not uploading this slot", {
    name: job.name,
    election: ballot.key,
    ...(ballot.won ? {} : { reason: ballot.reason }),
  });
  return ballot;
}

async function save(job: ScheduleJob, remote: Store | undefined, deps: RecurringDeps): Promise<SaveResult> {
  const { spec } = job;
  const signal = AbortSignal.any([job.signal, AbortSignal.timeout(spec.timeoutSeconds * 1000)]);
  return saveSnapshot(
    saveOptions(spec, { name: job.name, kind: "recurring", node: deps.node, version: deps.version, signal }),
    { source: deps.etcd, local: deps.local, remote, log: deps.log, clock: deps.clock, sleep: deps.sleep },
  );
}

async function succeeded(
  job: ScheduleJob,
  startedAt: Date,
  result: SaveResult,
  ballot: Ballot | undefined,
  remote: Store | undefined,
  deps: RecurringDeps,
): Promise<RunRecord> {
  const { manifest } = result;
  const created = new Date(manifest.createdAt);
  deps.metrics.saveFinished("recurring", true, result.durationMs, created, manifest.archive.size);
  const upload = uploadOutcome(result, ballot);
  if (result.upload) deps.metrics.uploadFinished("recurring", result.upload.ok, created, manifest.archive.size);
  if (result.upload && !result.upload.ok) {
    if (ballot?.won) await ballot.release();
    notify(deps, job, "upload.failed", { location: "s3", reason: result.upload.error });
  }
  notify(deps, job, "snapshot.succeeded", { size: manifest.archive.size, revision: manifest.etcd.revision });
  const policy: RetentionPolicy = {
    ...job.spec.retention,
    clusterId: job.spec.retention.clusterId ?? manifest.clusterId,
  };
  const local = await prune(deps.local, `node:${deps.node}`, "local", policy, job, deps);
  const s3 = remote && result.upload?.ok ? await prune(remote, "s3", "s3", policy, job, deps) : null;
  if (remote && s3 && !s3.error) await pruneLog(remote, job, deps);
  // The uploader rewrites the folder's listing index once, after its commit and its prune.
  if (remote && result.upload?.ok) await refreshListingIndex(remote, deps.log);
  return finish(deps, {
    ...base(job, startedAt, deps),
    result: "success",
    size: manifest.archive.size,
    upload,
    pruned: { local, s3 },
  });
}

function uploadOutcome(result: SaveResult, ballot: Ballot | undefined): NonNullable<RunRecord["upload"]> {
  if (!ballot) return { result: "none" };
  if (!ballot.won) return { result: "not-uploader", reason: ballot.reason };
  if (result.upload?.ok) return { result: "uploaded" };
  return { result: "failed", reason: result.upload?.error ?? "the upload did not run" };
}

async function failed(job: ScheduleJob, startedAt: Date, reason: string, deps: RecurringDeps): Promise<RunRecord> {
  const now = deps.clock();
  deps.metrics.saveFinished("recurring", false, now.getTime() - startedAt.getTime(), now);
  deps.log.warn("recurring snapshot failed; nothing is pruned", { name: job.name, reason });
  notify(deps, job, "snapshot.failed", { location: "local", reason });
  return finish(deps, { ...base(job, startedAt, deps), result: "failure", reason });
}

/** A run cancelled on purpose (a restore paused the schedule): recorded and counted as skipped, not failed. */
async function cancelled(job: ScheduleJob, startedAt: Date, reason: string, deps: RecurringDeps): Promise<RunRecord> {
  deps.log.warn("recurring snapshot cancelled; nothing is pruned", { name: job.name, reason });
  deps.metrics.skipped("recurring");
  return finish(deps, { ...base(job, startedAt, deps), result: "skipped", reason });
}

/**
 * A run cut short by the agent stopping (or the schedule being removed): not a failure of the member or the store,
 * so it is neither counted nor notified as one, and the history says what happened instead of leaving a gap.
 */
async function interrupted(job: ScheduleJob, startedAt: Date, reason: string, deps: RecurringDeps): Promise<RunRecord> {
  deps.log.info("recurring snapshot interrupted; nothing is kept or pruned", { name: job.name, reason });
  return finish(deps, { ...base(job, startedAt, deps), result: "interrupted", reason });
}

async function prune(
  store: Store,
  location: string,
  label: "local" | "s3",
  policy: RetentionPolicy,
  job: ScheduleJob,
  deps: RecurringDeps,
): Promise<PruneSummary> {
  try {
    const plan = planPrune(location, await listCatalog(store, location), policy, deps.clock());
    const done = await executePrune(store, plan, deps.log);
    deps.metrics.pruneFinished(label, done.removed.length, done.failed.length);
    if (done.failed.length) {
      const reason = done.failed.map((f) => `${f.name}: ${f.error}`).join("; ");
      notify(deps, job, "prune.failed", { location: label, reason });
    }
    return { removed: done.removed.length, failed: done.failed.length };
  } catch (err) {
    const reason = describeError(err);
    deps.metrics.pruneFailed(label);
    deps.log.warn("prune failed", { location, error: reason });
    notify(deps, job, "prune.failed", { location: label, reason });
    return { removed: 0, failed: 0, error: reason };
  }
}

/** The revision log after the S3 folder's prune: what no kept snapshot needs any more (src/pitr/prune.ts). */
async function pruneLog(store: Store, job: ScheduleJob, deps: RecurringDeps): Promise<void> {
  try {
    const done = (await pruneLogIn(store)).result;
    if (!done) return;
    deps.log.info("revision log pruned", { chains: done.removedChains, segments: done.removedSegments });
    if (done.failed.length) {
      const reason = done.failed.map((f) => `${f.key}: ${f.error}`).join("; ");
      notify(deps, job, "prune.failed", { location: "s3", reason });
    }
  } catch (err) {
    deps.log.warn("the revision log was not pruned", { error: describeError(err) });
  }
}

function notify(
  deps: RecurringDeps,
  job: Omit<ScheduleJob, "signal">,
  type: Parameters<Notifier["notify"]>[0]["type"],
  extra: { location?: "local" | "s3"; reason?: string; size?: number; revision?: number },
): void {
  deps.notifier.notify({
    type,
    time: deps.clock().toISOString(),
    node: deps.node,
    name: job.name,
    kind: "recurring",
    catchUp: job.catchUp,
    ...extra,
  });
}

function base(job: Omit<ScheduleJob, "signal">, startedAt: Date, deps: RecurringDeps) {
  return {
    name: job.name,
    kind: "recurring" as const,
    slot: job.slot.toISOString(),
    catchUp: job.catchUp,
    startedAt: startedAt.toISOString(),
    finishedAt: deps.clock().toISOString(),
  };
}

async function finish(deps: RecurringDeps, record: RunRecord): Promise<RunRecord> {
  await deps.history.record(record);
  return record;
}
