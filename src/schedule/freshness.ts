/**
 * "Never silently stale": the one freshness rule for every location (a node's directory, the S3 folder), used by the
 * agent (its metrics and its stale/recovered webhook, src/schedule/watch.ts) and by `snapshot-status` alike.
 *
 * A watched location is stale when its newest good snapshot (listed `ok`: the manifest parses and the archive has
 * the recorded size, so its bytes were verified before it was committed) is older than `staleAfterMs`. Without a
 * good copy the age counts from when watching began (the first push of a threshold), so a new cluster gets one
 * threshold's grace for its first snapshot. The threshold is cluster.yml's `lifeboat.schedule.stale_after`, or
 * twice the schedule's period (for cron, twice the longest gap between two consecutive runs).
 */
import { z } from "zod";
import type { VerifyRecord } from "./history.js";
import { parseCron } from "./cron.js";
import type { Every } from "./spec.js";

/** The gaps of a cron expression are measured over the year 2000 (a leap year: every calendar day is in it). */
const CRON_FROM = new Date(Date.UTC(1999, 11, 31, 23, 59));
const CRON_HORIZON_MS = 366 * 86_400_000;
const CRON_MAX_RUNS = 10_000;

export const FreshnessState = z.enum(["fresh", "stale", "unwatched"]);
export type FreshnessState = z.infer<typeof FreshnessState>;

/** A location's freshness as `GET /v1/status` and `snapshot-status -o json` report it. */
export const Freshness = z.object({
  state: FreshnessState,
  /** The threshold; null when the location is not watched. */
  staleAfterMs: z.number().nullable(),
  /** Creation time of the newest good copy, if there is one. */
  newestGood: z.string().nullable(),
  /** When the location is (or was) stale from: the newest good copy (or the start of watching) plus the threshold. */
  staleAt: z.string().nullable(),
  /** When watching began. */
  watchedSince: z.string().nullable(),
});
export type Freshness = z.infer<typeof Freshness>;

export interface FreshnessInput {
  /** Creation time (manifest) of the location's newest good copy. */
  newestGood: Date | undefined;
  /** The threshold; null or undefined: the location is not watched. */
  staleAfterMs: number | null | undefined;
  /** When watching began: with no good copy, the age counts from here (none: stale at once). */
  watchedSince: Date | undefined;
  now: Date;
}

/** The rule itself. Stale means strictly older than the threshold. */
export function evaluateFreshness(input: FreshnessInput): Freshness {
  const newestGood = input.newestGood?.toISOString() ?? null;
  if (input.staleAfterMs === null || input.staleAfterMs === undefined) return unwatched(newestGood);
  const reference = input.newestGood ?? input.watchedSince;
  const staleAt = reference ? new Date(reference.getTime() + input.staleAfterMs) : undefined;
  const stale = !staleAt || input.now.getTime() > staleAt.getTime();
  return {
    state: stale ? "stale" : "fresh",
    staleAfterMs: input.staleAfterMs,
    newestGood,
    staleAt: staleAt?.toISOString() ?? null,
    watchedSince: input.watchedSince?.toISOString() ?? null,
  };
}

/** A location nobody watches (no threshold was pushed, or `stale_after: off`). */
export function unwatched(newestGood: string | null = null): Freshness {
  return { state: "unwatched", staleAfterMs: null, newestGood, staleAt: null, watchedSince: null };
}

/**
 * Whether this node's last scheduled verify (a restore of a snapshot into a throwaway etcd) failed and is still the
 * cluster's newest (`cluster`: /lifeboat/verify/last, src/schedule/verify.ts). Only a recurring verify counts: whoever
 * runs `snapshot-verify` by hand sees its result (and exit 4) at once. A later verify of either kind on this node, or
 * a later scheduled verify anywhere, clears it: one failure is reported by one node, until the next verify.
 */
export function lastVerifyFailed(
  own: Pick<VerifyRecord, "kind" | "result" | "finishedAt"> | null | undefined,
  cluster?: Pick<VerifyRecord, "finishedAt">,
): boolean {
  if (own?.kind !== "recurring" || own.result !== "failure") return false;
  return !cluster || Date.parse(cluster.finishedAt) <= Date.parse(own.finishedAt);
}

/** The default threshold: twice the period, for cron twice the longest gap between consecutive runs. */
export function defaultStaleAfter(every: Every): number {
  return 2 * (every.type === "interval" ? every.ms : longestCronGap(every.expression));
}

/** The longest gap between consecutive runs of `expression` in the year after `from` (at most 10,000 runs). */
export function longestCronGap(expression: string, from: Date = CRON_FROM): number {
  const cron = parseCron(expression);
  const end = from.getTime() + CRON_HORIZON_MS;
  let previous = cron.next(from);
  let longest = 0;
  for (let i = 0; i < CRON_MAX_RUNS && previous.getTime() <= end; i++) {
    const next = cron.next(previous);
    longest = Math.max(longest, next.getTime() - previous.getTime());
    previous = next;
  }
  return longest;
}
