/**
 * The vocabulary of retention: what the caller knows about each snapshot, the policy, and the decision.
 * Everything here is plain data so a decision can be printed (`prune --dry-run`), compared in golden files
 * and carried out by a separate executor.
 */

/** Recurring snapshots come from the schedule and are what retention prunes; one-time ones were asked for by name. */
export type SnapshotKind = "one-time" | "recurring";

/** One stored copy of a snapshot, as listed from one location. */
export interface RetentionInput {
  /** Snapshot name without folder or extension, e.g. `2026-11-26T10:00:00Z_etcd` or `rke_etcd_snapshot_…`. */
  readonly name: string;
  /** Where this copy lives, e.g. `node:etcd-a` or `s3`. Retention is applied to each location on its own. */
  readonly location: string;
  /** Cluster ID from the manifest; absent for snapshots without one (for example written by RKE itself). */
  readonly clusterId?: string;
  readonly kind: SnapshotKind;
  /** Creation time from the manifest. When absent the time is read from an RKE recurring name (`<RFC3339>_etcd`). */
  readonly created?: Date;
  /** True once the copy's digest has been checked against its manifest. Only verified copies count as "newest". */
  readonly verified: boolean;
}

/** Options shared by every policy: which inputs the policy may touch at all. */
export interface RetentionScope {
  /** Only inputs recorded with this cluster ID are considered; every other input is kept ("other cluster"). */
  readonly clusterId?: string;
  /**
   * Every cluster ID this cluster has had across restores (a restore gives etcd a new one): inputs recorded with
   * any of them count as this cluster's, in one group with `clusterId`'s, so copies taken before a restore age out
   * by the same policy instead of being kept as another cluster's forever.
   */
  readonly lineage?: readonly string[];
  /** Also prune one-time snapshots. Default false: they are kept. */
  readonly includeOneTime?: boolean;
}

/** RKE's rule: keep what was created at or after `now − windowMs`; remove what is strictly older. */
export interface WindowPolicy extends RetentionScope {
  readonly type: "window";
  /** Window length in milliseconds; RKE uses `retention × interval_hours` hours. Must be > 0. */
  readonly windowMs: number;
}

/** Keep the newest `keep` snapshots of each location. */
export interface CountPolicy extends RetentionScope {
  readonly type: "count";
  /** How many to keep per location; an integer ≥ 1. */
  readonly keep: number;
}

/**
 * restic-style tiers: for each option, keep the newest snapshot of each of the most recent N periods (UTC hours,
 * days, ISO weeks, months, years) that hold a snapshot. A snapshot may be kept for several reasons at once.
 * At least one option must be set to a positive value.
 */
export interface TieredPolicy extends RetentionScope {
  readonly type: "tiered";
  /** Keep the newest N snapshots. */
  readonly last?: number;
  readonly hourly?: number;
  readonly daily?: number;
  readonly weekly?: number;
  readonly monthly?: number;
  readonly yearly?: number;
  /** Keep every snapshot created within this many milliseconds of the location's newest (not future) snapshot. */
  readonly within?: number;
}

export type RetentionPolicy = WindowPolicy | CountPolicy | TieredPolicy;

/** One input with the human reasons for its fate; `input` is the very object that was passed in. */
export interface RetentionEntry {
  readonly input: RetentionInput;
  /** At least one reason, most important first. */
  readonly reasons: readonly string[];
}

/** Every input appears in exactly one of the two lists, each list in input order. */
export interface RetentionDecision {
  readonly keep: readonly RetentionEntry[];
  readonly remove: readonly RetentionEntry[];
}
