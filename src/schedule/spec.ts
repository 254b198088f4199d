/**
 * What `lifeboat etcd schedule push` sends to each agent, and what the agent keeps of it in `schedule.json`
 * (mode 0600: it holds S3 credentials and the cluster state file). Validated at the edge with one schema.
 */
import { z } from "zod";
import { retentionPolicySchema } from "../retention/index.js";
import { formatDuration } from "../util/duration.js";
import { S3Settings } from "../config/s3-settings.js";
import { NotifySettings } from "../telemetry/notify.js";
import { SaveEncryption } from "../snapshot/seal.js";
import { IdentitySource } from "../crypto/age.js";
import { parseCron } from "./cron.js";

/** How often recurring snapshots run: a fixed interval (whole seconds, aligned to the Unix epoch) or a cron expression. */
export const Every = z.discriminatedUnion("type", [
  z.object({
    type: z.literal("interval"),
    ms: z
      .number()
      .int()
      .min(1000, "the interval must be at least 1s")
      .refine((ms) => ms % 1000 === 0, "the interval must be whole seconds"),
  }),
  z.object({
    type: z.literal("cron"),
    expression: z.string().check(
      z.superRefine((value, ctx) => {
        try {
          parseCron(value);
        } catch (err) {
          ctx.addIssue({ code: "custom", message: (err as Error).message, input: value });
        }
      }),
    ),
  }),
]);
export type Every = z.infer<typeof Every>;

/**
 * The scheduled verify (src/schedule/verify.ts): on its own timer (`everyMs`, slots aligned to the Unix epoch like the
 * snapshots'), or by the uploader (without S3: an elected node) after every `afterSnapshots`-th recurring snapshot.
 */
export const VerifySchedule = z.union([
  z.object({
    everyMs: z
      .number()
      .int()
      .min(1000, "the verify interval must be at least 1s")
      .refine((ms) => ms % 1000 === 0, "the verify interval must be whole seconds"),
  }),
  z.object({ afterSnapshots: z.number().int().min(1).max(100_000) }),
]);
export type VerifySchedule = z.infer<typeof VerifySchedule>;

export const ScheduleSpec = z.object({
  every: Every,
  /** Upper bound of the random delay added to each run (never more than a tenth of the period). */
  jitterMs: z.number().int().min(0).max(3_600_000).default(5000),
  /** Applied to this node's directory after every successful run, and to S3 by the run's uploader. */
  retention: retentionPolicySchema,
  /** Present when recurring snapshots go to S3 too; the uploader of each run is elected through etcd. */
  s3: S3Settings.optional(),
  compression: z.enum(["deflate", "store"]).default("deflate"),
  level: z.number().int().min(0).max(9).optional(),
  threads: z.number().int().min(1).max(16).optional(),
  retries: z.number().int().min(0).max(20).default(4),
  retryPauseSeconds: z.number().min(0).max(600).default(15),
  /** A run that takes longer is aborted and counts as failed (RKE's `backup_config.timeout`). */
  timeoutSeconds: z.number().int().min(1).max(86_400).default(300),
  /** The cluster state file (base64) as of the push, embedded in every recurring archive. */
  stateFile: z.string().optional(),
  /** Recurring copies are encrypted as one-time ones are: the push carries the recipients (public keys) only. */
  encryption: SaveEncryption.optional(),
  verify: VerifySchedule.optional(),
  /** The continuous revision log (src/pitr/writer.ts): needs `s3`; one agent of the cluster writes it. */
  continuous: z
    .object({
      intervalMs: z.number().int().min(1000).max(600_000),
      maxSegmentBytes: z
        .number()
        .int()
        .min(65_536)
        .max(1 << 30),
    })
    .optional(),
  /**
   * Where this node finds the age identity that opens encrypted copies for a scheduled verify: cluster.yml's
   * identity_file (a path on the node) or identity_env (a variable of the agent's environment), never the key.
   */
  identity: IdentitySource.optional(),
});
export type ScheduleSpec = z.infer<typeof ScheduleSpec>;

/** The body of `PUT /v1/schedule`: null removes the schedule (`snapshot: false`) or the notifications. */
export const SchedulePush = z.object({
  schedule: ScheduleSpec.nullable(),
  notifications: NotifySettings.nullable(),
  /**
   * The freshness threshold (src/schedule/freshness.ts), sent by every push, with or without a schedule: null turns
   * the watch off (`stale_after: off`). Absent (an older CLI): twice the schedule's period, or off without one.
   */
  staleAfterMs: z.number().int().min(1000).nullable().optional(),
});
export type SchedulePush = z.infer<typeof SchedulePush>;

/**
 * The body of `PUT /v1/schedule/lineage`: the cluster's lineage from the state file, sent by the CLI at the end of
 * a restore so that recurring pruning covers the snapshots taken before it without a new push (which would also
 * replace the interval an operator pushed with flags).
 */
export const LineagePush = z.object({ lineage: z.array(z.string().min(1)) });
export type LineagePush = z.infer<typeof LineagePush>;

/** The stored schedule with its retention's lineage replaced; undefined when there is no schedule to update. */
export function withLineage(
  doc: ScheduleDocument | undefined,
  lineage: readonly string[],
  now: Date,
): ScheduleDocument | undefined {
  const schedule = doc?.schedule;
  if (!doc || !schedule) return undefined;
  const { lineage: _old, ...retention } = schedule.retention;
  const scoped = lineage.length ? { ...retention, lineage: [...lineage] } : retention;
  return { ...doc, updatedAt: now.toISOString(), schedule: { ...schedule, retention: scoped } };
}

/** `schedule.json` in the agent's folder. */
export const ScheduleDocument = SchedulePush.extend({
  version: z.literal(1),
  /**
   * When this schedule was first pushed (kept across pushes that leave it enabled). Until a recurring snapshot
   * exists, the first run is the first slot after this instant.
   */
  since: z.iso.datetime(),
  updatedAt: z.iso.datetime(),
});
export type ScheduleDocument = z.infer<typeof ScheduleDocument>;

/** The document after a push: `since` survives a re-push, so pushing never resets the timer (unlike RKE). */
export function mergePush(
  existing: ScheduleDocument | undefined,
  push: SchedulePush,
  now: Date,
): ScheduleDocument | undefined {
  if (!push.schedule && !push.notifications) return undefined;
  const keepSince = existing?.schedule && push.schedule;
  return {
    version: 1,
    since: keepSince ? existing.since : now.toISOString(),
    updatedAt: now.toISOString(),
    schedule: push.schedule,
    notifications: push.notifications,
  };
}

/** For messages: `every 30s`, `every 12h`, or the cron expression (evaluated in UTC). */
export function describeEvery(every: Every): string {
  return every.type === "interval" ? `every ${formatDuration(every.ms)}` : `cron "${every.expression}" (UTC)`;
}
