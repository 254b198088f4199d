/**
 * What `lifeboat etcd schedule push` sends every agent: its recurring-snapshot schedule, retention policy, S3
 * settings and webhook from cluster.yml (what `rke up` did by recreating the etcd-rolling-snapshots container), and
 * the push itself. Agents keep it in schedule.json; pushing again never resets their timer. `services.etcd.snapshot:
 * false` removes it.
 */
import type { SchedulePush, ScheduleSpec } from "../schedule/spec.js";
import { describeEvery } from "../schedule/spec.js";
import { defaultStaleAfter } from "../schedule/freshness.js";
import type { ClusterConfig } from "../config/cluster.js";
import { retentionPolicyFromConfig, type RetentionPolicy } from "../retention/index.js";
import { s3Location } from "../store/s3-location.js";
import { saveSettingsOf } from "./save.js";
import { formatDuration, parseDuration } from "../util/duration.js";
import { describeError, exitCodeOfFailures, UserError } from "../util/errors.js";
import type { Fleet } from "./fleet.js";

export interface ScheduleFlags {
  /** Replaces cluster.yml's interval (and cron) with a duration such as `30s`, `15m`, `2h`. */
  interval?: string | undefined;
  /** Upper bound of the random delay of each run (default 5s). */
  jitter?: string | undefined;
}

export interface PushReport {
  schedule: string | null;
  /** The scheduled verify, described; null without one. */
  verify: string | null;
  /** The continuous revision log, described; null without one. */
  continuous: string | null;
  retention: string | null;
  s3: string | null;
  nodes: NodePush[];
  exitCode: number;
}

export interface NodePush {
  node: string;
  ok: boolean;
  since?: string;
  nextRun?: string;
  reason?: string;
}

export const DEFAULT_JITTER_MS = 5000;

/**
 * The body every agent receives, from the loaded config and the state file's lineage (so that the agents' pruning
 * covers snapshots taken before a restore). Pure; throws UserError for a bad flag.
 */
export function buildSchedulePush(
  config: ClusterConfig,
  stateFile: Buffer | undefined,
  flags: ScheduleFlags,
  lineage: readonly string[] = [],
): SchedulePush {
  const notifications = config.lifeboat.notifications ?? null;
  const interval = flags.interval === undefined ? undefined : wholeSeconds("--interval", flags.interval, 1000);
  if (!config.backup.recurring) {
    if (config.lifeboat.continuous)
      throw new UserError(
        "lifeboat.continuous: the revision log is pushed with the schedule, and services.etcd.snapshot is false",
      );
    return { schedule: null, notifications, staleAfterMs: watchOff(config, interval) };
  }
  const every = scheduleEvery(config, interval);
  const staleAfterMs =
    config.lifeboat.staleAfterMs === undefined ? defaultStaleAfter(every) : config.lifeboat.staleAfterMs;
  const schedule: ScheduleSpec = {
    every,
    jitterMs: flags.jitter === undefined ? DEFAULT_JITTER_MS : wholeSeconds("--jitter", flags.jitter, 0),
    retention: clusterRetention(config, { intervalMs: interval, lineage }),
    ...saveSettingsOf(config, stateFile),
    timeoutSeconds: config.backup.timeoutSeconds,
  };
  if (config.backup.s3) schedule.s3 = config.backup.s3;
  if (config.lifeboat.verify) schedule.verify = config.lifeboat.verify;
  if (config.lifeboat.continuous) {
    if (!schedule.s3)
      throw new UserError(
        "lifeboat.continuous: the revision log is written to S3, and no S3 is configured (backup_config.s3backupconfig)",
      );
    schedule.continuous = config.lifeboat.continuous;
  }
  const identity = config.lifeboat.encryption?.identity;
  if (identity) schedule.identity = identity;
  return { schedule, notifications, staleAfterMs };
}

/** The period: --interval, else `lifeboat.schedule.cron`, else the configured interval. */
function scheduleEvery(config: ClusterConfig, interval: number | undefined): ScheduleSpec["every"] {
  return interval === undefined && config.lifeboat.schedule && "cron" in config.lifeboat.schedule
    ? { type: "cron", expression: config.lifeboat.schedule.cron }
    : { type: "interval", ms: interval ?? configuredInterval(config) };
}

/**
 * The threshold pushed with recurring snapshots turned off: the one the schedule would have had, so that a cluster
 * whose backups were switched off goes stale rather than silent (`stale_after: off` to stop watching).
 */
function watchOff(config: ClusterConfig, interval: number | undefined): number | null {
  if (config.lifeboat.staleAfterMs !== undefined) return config.lifeboat.staleAfterMs;
  try {
    return defaultStaleAfter(scheduleEvery(config, interval));
  } catch {
    return null;
  }
}

/**
 * The retention cluster.yml asks for: RKE's window (`retention × interval_hours`, or the legacy `retention`
 * duration), scoped to lifeboat.cluster_id when set and to the state file's lineage. With `intervalMs` (from
 * --interval) and backup_config, the window follows the new interval: `retention` still counts intervals.
 */
export function clusterRetention(
  config: ClusterConfig,
  opts: { intervalMs?: number | undefined; includeOneTime?: boolean; lineage?: readonly string[] } = {},
): RetentionPolicy {
  const b = config.backup;
  const clusterId = config.lifeboat.clusterId;
  const scope = {
    ...(clusterId === undefined ? {} : { clusterId }),
    ...(opts.lineage?.length ? { lineage: opts.lineage } : {}),
    ...(opts.includeOneTime ? { includeOneTime: true } : {}),
  };
  if (opts.intervalMs !== undefined && b.source === "backup_config") {
    const windowMs = (b.retentionCount ?? 6) * opts.intervalMs;
    return retentionPolicyFromConfig({ policy: { type: "window", windowMs }, ...scope });
  }
  return retentionPolicyFromConfig({
    retentionWindowMs: b.retentionWindowMs,
    ...(b.source === "backup_config" ? { intervalHours: b.intervalHours, retentionCount: b.retentionCount } : {}),
    ...scope,
  });
}

function wholeSeconds(flag: string, text: string, min: number): number {
  const ms = parseDuration(text);
  if (ms === undefined || ms < min || ms % 1000 !== 0) {
    throw new UserError(
      `${flag}: "${text}" is not a duration of whole seconds${min ? ` of at least ${min / 1000}s` : ""} (e.g. 30s, 15m, 2h)`,
    );
  }
  return ms;
}

/** `lifeboat.schedule.interval` when set, else RKE's interval (`interval_hours`, or the legacy `creation`). */
function configuredInterval(config: ClusterConfig): number {
  const own = config.lifeboat.schedule;
  return own && "intervalMs" in own ? own.intervalMs : checkInterval(config.backup.intervalMs);
}

function checkInterval(ms: number): number {
  if (ms < 1000 || ms % 1000 !== 0) {
    throw new UserError(`services.etcd.creation: the interval must be whole seconds of at least 1s (got ${ms} ms)`);
  }
  return ms;
}

/** Sends `body` to every agent, then reads back when each runs next. */
export async function pushSchedule(fleet: Pick<Fleet, "nodes">, body: SchedulePush): Promise<NodePush[]> {
  return Promise.all(
    fleet.nodes.map(async (n): Promise<NodePush> => {
      try {
        const view = await n.pushSchedule(body);
        const status = await n.status();
        return { node: n.node.memberName, ok: true, ...defined({ since: view.since, nextRun: status.nextRun?.at }) };
      } catch (err) {
        return { node: n.node.memberName, ok: false, reason: describeError(err) };
      }
    }),
  );
}

export function pushReport(body: SchedulePush, config: ClusterConfig, nodes: NodePush[]): PushReport {
  const failed = nodes.filter((n) => !n.ok).length;
  const s = body.schedule;
  const retention = s ? describePolicy(s.retention) : null;
  return {
    schedule: s ? describeEvery(s.every) : null,
    verify: s?.verify ? describeVerify(s.verify) : null,
    continuous: s?.continuous
      ? `a revision log segment every ${formatDuration(s.continuous.intervalMs)} to S3 (one writer)`
      : null,
    retention,
    s3: s?.s3 && config.backup.s3 ? s3Location(config.backup.s3) : null,
    nodes,
    exitCode: exitCodeOfFailures(failed, nodes.length),
  };
}

function describeVerify(v: NonNullable<ScheduleSpec["verify"]>): string {
  const what = "the newest snapshot is restored into a throwaway etcd";
  return "everyMs" in v
    ? `${what} every ${formatDuration(v.everyMs)}`
    : `${what} after every ${v.afterSnapshots} recurring snapshots`;
}

function describePolicy(p: RetentionPolicy): string {
  const lineage = p.lineage?.length ? ` (lineage: ${p.lineage.join(", ")})` : "";
  if (p.type === "window") return `keep ${formatDuration(p.windowMs)}${lineage}`;
  if (p.type === "count") return `keep the newest ${p.keep}${lineage}`;
  return `tiered${lineage}`;
}

function defined<T extends Record<string, string | undefined>>(fields: T): { [K in keyof T]?: string } {
  const out: { [K in keyof T]?: string } = {};
  for (const [k, v] of Object.entries(fields)) if (v !== undefined) out[k as keyof T] = v;
  return out;
}
