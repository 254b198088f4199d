/**
 * Five-field cron expressions (minute hour day-of-month month day-of-week), evaluated in UTC so that every node
 * fires at the same instants whatever its time zone. Fields take `*`, `?`, numbers, ranges `a-b`, steps `a-b/n`
 * and `a/n` (a star with a step too), lists, and month (JAN-DEC) and weekday (SUN-SAT) names; weekday 7 is Sunday.
 * As in Vixie cron, when both the day-of-month and the day-of-week are restricted, a day matching either one fires.
 * The matching is croner's; this file fixes its options and names the bad field in errors.
 */
import { Cron } from "croner";
import { UserError } from "../util/errors.js";

const MINUTE_MS = 60_000;
const FIELDS = ["minute", "hour", "day of month", "month", "day of week"] as const;

/** A parsed expression. */
export interface CronSchedule {
  readonly expression: string;
  /** The first firing instant strictly after `after` (whole minutes, UTC). */
  next(after: Date): Date;
  /** The last firing instant at or before `at`, or undefined when there is none in the searched range. */
  previous(at: Date): Date | undefined;
}

/** Parses `expression`; throws UserError naming the bad field, or when the expression can never fire. */
export function parseCron(expression: string): CronSchedule {
  const parts = expression.trim().split(/\s+/);
  if (parts.length !== 5) throw new UserError(`cron "${expression}": expected 5 fields, got ${parts.length}`);
  const cron = compile(parts, expression);
  const schedule: CronSchedule = {
    expression: expression.trim(),
    next: (after) => {
      const found = cron.nextRun(after);
      if (!found) throw new UserError(`cron "${expression}" never fires`);
      return found;
    },
    // croner looks strictly before its reference: one second past the minute makes the minute itself count.
    previous: (at) => cron.previousRuns(1, new Date(floorMinute(at.getTime()) + 1000))[0],
  };
  schedule.next(new Date(Date.UTC(2000, 0, 1)));
  return schedule;
}

function compile(parts: string[], expression: string): Cron {
  try {
    return build(parts);
  } catch (err) {
    const i = parts.findIndex((_, j) => !fieldParses(parts, j));
    const field = i >= 0 ? `${FIELDS[i]} "${parts[i]}": ` : "";
    throw new UserError(`cron "${expression}": ${field}${reason(err)}`, undefined, { cause: err });
  }
}

function build(parts: string[]): Cron {
  // croner reads `?` as "the current value"; here it means "any", as in the schedules RKE users write.
  const fields = parts.map((p) => p.replaceAll("?", "*"));
  // Vixie cron: a day field that starts with a star (`*`, `*/2`) does not count as restricted, so both must match.
  const domAndDow = fields[2]!.startsWith("*") || fields[4]!.startsWith("*");
  return new Cron(fields.join(" "), { timezone: "UTC", mode: "5-part", domAndDow, sloppyRanges: true, paused: true });
}

/** Whether field `i` parses on its own (every other field a star): how a croner error is traced to its field. */
function fieldParses(parts: string[], i: number): boolean {
  try {
    build(parts.map((p, j) => (j === i ? p : "*")));
    return true;
  } catch {
    return false;
  }
}

function reason(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.replace(/^CronPattern:\s*/, "");
}

function floorMinute(ms: number): number {
  return Math.floor(ms / MINUTE_MS) * MINUTE_MS;
}
