/** Turns RKE's retention settings (and an optional explicit policy) from cluster.yml into a RetentionPolicy. */
import { z } from "zod";
import { retentionPolicySchema, toConfigError } from "./schema.js";
import { parseDuration } from "../util/duration.js";
import type { RetentionPolicy } from "./types.js";

const HOUR_MS = 3_600_000;
/** RKE's defaults: `backup_config.interval_hours` 12, `retention` 6, legacy `retention: 72h`. */
export const RKE_DEFAULTS = { intervalHours: 12, retentionCount: 6, retentionWindowMs: 72 * HOUR_MS } as const;

/** A duration in milliseconds, or as text (`72h`, `7d`, `1h30m`). */
const duration = z.union([z.number(), z.string()]).transform((value, ctx) => {
  const ms = typeof value === "number" ? value : parseDuration(value);
  if (ms !== undefined && Number.isInteger(ms) && ms > 0) return ms;
  ctx.addIssue({
    code: "custom",
    message: `expected a duration like 72h, 7d or 1h30m, or a positive whole number of milliseconds; got ${JSON.stringify(value)}`,
  });
  return z.NEVER;
});
const tierCount = z.number().int().nonnegative().optional();

const policyConfigSchema = z.discriminatedUnion("type", [
  z.strictObject({ type: z.literal("window"), windowMs: duration.optional() }),
  z.strictObject({ type: z.literal("count"), keep: z.number().int().min(1) }),
  z.strictObject({
    type: z.literal("tiered"),
    last: tierCount,
    hourly: tierCount,
    daily: tierCount,
    weekly: tierCount,
    monthly: tierCount,
    yearly: tierCount,
    within: duration.optional(),
  }),
]);

const configSchema = z.strictObject({
  intervalHours: z.number().int().min(1).optional(),
  retentionCount: z.number().int().min(1).optional(),
  retentionWindowMs: z.number().int().positive().optional(),
  clusterId: z.string().min(1).optional(),
  lineage: z.array(z.string().min(1)).optional(),
  includeOneTime: z.boolean().optional(),
  policy: policyConfigSchema.optional(),
});

/** An explicit policy as written in configuration; durations may be milliseconds or text such as `72h`. */
export type RetentionPolicyConfig = z.input<typeof policyConfigSchema>;

/** Retention settings as the config layer and the CLI know them. */
export interface RetentionConfig {
  /** `backup_config.interval_hours`. */
  readonly intervalHours?: number;
  /** `backup_config.retention`: a count that RKE turns into a window of `retention × interval_hours` hours. */
  readonly retentionCount?: number;
  /** Legacy `services.etcd.retention` (e.g. `72h`) in ms; used only when neither backup_config value is set. */
  readonly retentionWindowMs?: number;
  /** Scope every policy to this cluster ID (from the state file). */
  readonly clusterId?: string;
  /** This cluster's cluster IDs across restores (`lifeboat.lineage` in the state file); empty means none. */
  readonly lineage?: readonly string[];
  /** `--include-one-time`. */
  readonly includeOneTime?: boolean;
  /** An explicit policy; replaces RKE's window. A window policy without `windowMs` gets RKE's window. */
  readonly policy?: RetentionPolicyConfig;
}

/**
 * The policy a configuration asks for. Without `policy` this is RKE's window: `retentionCount × intervalHours`
 * hours when either backup_config value is set (each defaulting as in RKE: 6 and 12), else `retentionWindowMs`,
 * else 72 h. Throws ConfigError (paths are the keys of `config`, e.g. `policy.keep`) for invalid values, for an
 * unknown key, and for a tiered policy without a tier.
 */
export function retentionPolicyFromConfig(config: RetentionConfig): RetentionPolicy {
  const parsed = configSchema.safeParse(config);
  if (!parsed.success) throw toConfigError(parsed.error);
  const { policy, clusterId, lineage, includeOneTime } = parsed.data;
  const scope = {
    ...(clusterId === undefined ? {} : { clusterId }),
    ...(lineage === undefined || lineage.length === 0 ? {} : { lineage }),
    ...(includeOneTime === undefined ? {} : { includeOneTime }),
  };
  const windowMs = policy?.type === "window" ? policy.windowMs : undefined;
  const chosen =
    policy === undefined || policy.type === "window"
      ? { type: "window" as const, windowMs: windowMs ?? rkeWindowMs(parsed.data) }
      : policy;
  const result = retentionPolicySchema.safeParse({ ...chosen, ...scope });
  if (!result.success) throw toConfigError(result.error, "policy");
  return result.data;
}

/** RKE's `--retention=<retention × interval_hours>h`, or the legacy window. */
function rkeWindowMs(config: Pick<RetentionConfig, "intervalHours" | "retentionCount" | "retentionWindowMs">): number {
  if (config.intervalHours === undefined && config.retentionCount === undefined) {
    return config.retentionWindowMs ?? RKE_DEFAULTS.retentionWindowMs;
  }
  const hours =
    (config.retentionCount ?? RKE_DEFAULTS.retentionCount) * (config.intervalHours ?? RKE_DEFAULTS.intervalHours);
  return hours * HOUR_MS;
}
