/** Retention: one pure policy function for every location, and the parser that builds its policy from config. */
export { applyRetention, NEWEST_VERIFIED, NO_TIME, ONE_TIME } from "./apply.js";
export { retentionPolicyFromConfig, RKE_DEFAULTS } from "./config.js";
export type { RetentionConfig, RetentionPolicyConfig } from "./config.js";
export { periodKey } from "./periods.js";
export type { PeriodUnit } from "./periods.js";
export { retentionPolicySchema } from "./schema.js";
export { describeTiers } from "./tiered.js";
export { formatInstant, parseRfc3339, snapshotTime, timeFromRkeName } from "./time.js";
export type {
  CountPolicy,
  RetentionDecision,
  RetentionEntry,
  RetentionInput,
  RetentionPolicy,
  RetentionScope,
  SnapshotKind,
  TieredPolicy,
  WindowPolicy,
} from "./types.js";
