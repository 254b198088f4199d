/**
 * restic-style tiers (`internal/data/snapshot_policy.go` `ApplyPolicy`): walking newest to oldest, each tier
 * keeps the first snapshot of every new period until its count runs out. A tier that still has room when the
 * walk ends also keeps the oldest snapshot, which stretches the history kept (restic's "oldest" rule).
 */
import { periodKey, type PeriodUnit } from "./periods.js";
import { formatDuration } from "../util/duration.js";
import { formatInstant } from "./time.js";
import type { TieredPolicy } from "./types.js";
import { keepFor, removeFor, type Candidate, type Verdict } from "./verdict.js";

const PERIODS: readonly PeriodUnit[] = ["hourly", "daily", "weekly", "monthly", "yearly"];

/** One verdict per candidate, same order; `group` must be sorted newest first. */
export function decideTiered(group: readonly Candidate[], policy: TieredPolicy, now: Date): Verdict[] {
  const reasons = group.map((): string[] => []);
  if (policy.within !== undefined) markWithin(group, policy.within, now, reasons);
  if (policy.last) markLast(group, policy.last, reasons);
  for (const unit of PERIODS) {
    const count = policy[unit];
    if (count) markPeriods(group, unit, count, reasons);
  }
  const miss = `matches no tier (${describeTiers(policy)})`;
  return reasons.map((r) => (r.length > 0 ? keepFor(...r) : removeFor(miss)));
}

/** "last 3, daily 7, within 3d": the tiers a policy sets, for removal reasons and listings. */
export function describeTiers(policy: TieredPolicy): string {
  const parts: string[] = [];
  for (const key of ["last", ...PERIODS] as const) {
    const n = policy[key];
    if (n) parts.push(`${key} ${n}`);
  }
  if (policy.within !== undefined) parts.push(`within ${formatDuration(policy.within)}`);
  return parts.join(", ");
}

/**
 * Within is measured back from the newest snapshot that is not in the future, not from `now` (as restic
 * does): if saving stops for a while, the last good stretch of history is not thrown away day by day.
 */
function markWithin(group: readonly Candidate[], within: number, now: Date, reasons: string[][]): void {
  const anchor = group.find((c) => c.time.getTime() <= now.getTime())?.time ?? now;
  const cutoff = anchor.getTime() - within;
  const text = `within ${formatDuration(within)} of the newest snapshot (${formatInstant(anchor)})`;
  group.forEach((c, i) => {
    if (c.time.getTime() >= cutoff) reasons[i]?.push(text);
  });
}

function markLast(group: readonly Candidate[], last: number, reasons: string[][]): void {
  group.slice(0, last).forEach((_, i) => reasons[i]?.push(`one of the last ${last} (#${i + 1})`));
}

function markPeriods(group: readonly Candidate[], unit: PeriodUnit, count: number, reasons: string[][]): void {
  let left = count;
  let previous: string | undefined;
  group.forEach((c, i) => {
    if (left === 0) return;
    const key = periodKey(unit, c.time);
    if (key !== previous) {
      reasons[i]?.push(`${unit} snapshot ${key}`);
      previous = key;
      left -= 1;
    } else if (i === group.length - 1) {
      reasons[i]?.push(`oldest ${unit} snapshot ${key}`);
    }
  });
}
