/**
 * The one schema for retention policies. `applyRetention` checks every policy against it, so a policy built in
 * code gets the same checks as one read from cluster.yml. Unknown keys are errors: a misspelt option must not
 * silently turn into "keep nothing" (RKE's `s3backupconfig` vs `s3_backup_config` lesson).
 */
import { z } from "zod";
import { ConfigError } from "../util/errors.js";
import type { RetentionPolicy } from "./types.js";

const tierCount = z.number().int().nonnegative();
const positiveMs = z.number().int().positive();
const scope = {
  clusterId: z.string().min(1).optional(),
  lineage: z.array(z.string().min(1)).readonly().optional(),
  includeOneTime: z.boolean().optional(),
};

/** The tier options of a tiered policy, in the order they are described. */
export const TIER_OPTIONS = ["last", "hourly", "daily", "weekly", "monthly", "yearly", "within"] as const;

const hasATier = (p: Partial<Record<(typeof TIER_OPTIONS)[number], number>>): boolean =>
  TIER_OPTIONS.some((k) => (p[k] ?? 0) > 0);
const NO_TIER = `a tiered policy needs at least one of ${TIER_OPTIONS.join(", ")} above 0`;

export const retentionPolicySchema = z.discriminatedUnion("type", [
  z.strictObject({ type: z.literal("window"), windowMs: positiveMs, ...scope }),
  z.strictObject({ type: z.literal("count"), keep: z.number().int().min(1), ...scope }),
  z
    .strictObject({
      type: z.literal("tiered"),
      last: tierCount.optional(),
      hourly: tierCount.optional(),
      daily: tierCount.optional(),
      weekly: tierCount.optional(),
      monthly: tierCount.optional(),
      yearly: tierCount.optional(),
      within: positiveMs.optional(),
      ...scope,
    })
    .refine(hasATier, { message: NO_TIER }),
]) satisfies z.ZodType<RetentionPolicy>;

/** Zod issues as ConfigError issues: `policy.daily`, `nodes[0].address`. */
export function toConfigError(error: z.ZodError, prefix?: string): ConfigError {
  return new ConfigError(
    error.issues.map((issue) => {
      const path = issue.path.reduce<string>(
        (acc, key) => (typeof key === "number" ? `${acc}[${key}]` : acc ? `${acc}.${String(key)}` : String(key)),
        prefix ?? "",
      );
      return { path, message: issue.message };
    }),
  );
}

/** Throws ConfigError (paths under `policy`) unless `policy` is a valid RetentionPolicy. */
export function checkPolicy(policy: RetentionPolicy): void {
  const parsed = retentionPolicySchema.safeParse(policy);
  if (!parsed.success) throw toConfigError(parsed.error, "policy");
}
