/**
 * Five-field cron expressions (minute hour day-of-month month day-of-week), evaluated in UTC so that every node
 * fires at the same instants whatever its time zone. Fields take `*`, `?`, numbers, ranges `a-b`, steps `a-b/n`
 * and `a/n` (a star with a step too), lists, and month (JAN-DEC) and weekday (SUN-SAT) names; weekday 7 is Sunday.
 * As in Vixie cron, when both the day-of-month and the day-of-week are restricted, a day matching either one fires.
 */
import { UserError } from "../util/errors.js";

const MINUTE_MS = 60_000;
const MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];
const DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
/** Enough steps to cross any gap a valid expression can have (29 February is at most 8 years away). */
const MAX_STEPS = 200_000;

interface FieldSpec {
  name: string;
  min: number;
  max: number;
  names?: string[];
  /** The value names start at (1 for months, 0 for weekdays). */
  nameBase?: number;
}

const FIELDS: readonly FieldSpec[] = [
  { name: "minute", min: 0, max: 59 },
  { name: "hour", min: 0, max: 23 },
  { name: "day of month", min: 1, max: 31 },
  { name: "month", min: 1, max: 12, names: MONTHS, nameBase: 1 },
  { name: "day of week", min: 0, max: 7, names: DAYS, nameBase: 0 },
];

/** A parsed expression: the allowed values of each field. */
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
  const sets = parts.map((text, i) => parseField(text, FIELDS[i]!, expression));
  const [minutes, hours, doms, months, rawDows] = sets as [
    Set<number>,
    Set<number>,
    Set<number>,
    Set<number>,
    Set<number>,
  ];
  const dows = new Set([...rawDows].map((d) => d % 7));
  const domRestricted = !isWildcard(parts[2]!);
  const dowRestricted = !isWildcard(parts[4]!);
  const dayMatches = (t: Date): boolean => {
    const dom = doms.has(t.getUTCDate());
    const dow = dows.has(t.getUTCDay());
    if (domRestricted && dowRestricted) return dom || dow;
    return (domRestricted ? dom : true) && (dowRestricted ? dow : true);
  };
  const matcher: Matcher = { minutes, hours, months, dayMatches };
  const schedule: CronSchedule = {
    expression: expression.trim(),
    next: (after) => {
      const found = search(matcher, new Date(floorMinute(after.getTime()) + MINUTE_MS), 1);
      if (!found) throw new UserError(`cron "${expression}" never fires`);
      return found;
    },
    previous: (at) => search(matcher, new Date(floorMinute(at.getTime())), -1),
  };
  schedule.next(new Date(Date.UTC(2000, 0, 1)));
  return schedule;
}

interface Matcher {
  minutes: Set<number>;
  hours: Set<number>;
  months: Set<number>;
  dayMatches: (t: Date) => boolean;
}

/**
 * Walks from `from` (a whole minute) forwards (`dir` 1) or backwards (-1) to the nearest matching minute,
 * skipping a whole month, day or hour at a time when that unit does not match.
 */
function search(m: Matcher, from: Date, dir: 1 | -1): Date | undefined {
  let t = from;
  for (let step = 0; step < MAX_STEPS; step++) {
    const y = t.getUTCFullYear();
    const mo = t.getUTCMonth();
    const d = t.getUTCDate();
    const h = t.getUTCHours();
    if (!m.months.has(mo + 1)) t = dir > 0 ? utc(y, mo + 1, 1, 0, 0) : utc(y, mo, 0, 23, 59);
    else if (!m.dayMatches(t)) t = dir > 0 ? utc(y, mo, d + 1, 0, 0) : utc(y, mo, d - 1, 23, 59);
    else if (!m.hours.has(h)) t = dir > 0 ? utc(y, mo, d, h + 1, 0) : utc(y, mo, d, h - 1, 59);
    else if (!m.minutes.has(t.getUTCMinutes())) t = new Date(t.getTime() + dir * MINUTE_MS);
    else return t;
  }
  return undefined;
}

function utc(y: number, mo: number, d: number, h: number, min: number): Date {
  return new Date(Date.UTC(y, mo, d, h, min));
}

function floorMinute(ms: number): number {
  return Math.floor(ms / MINUTE_MS) * MINUTE_MS;
}

function isWildcard(text: string): boolean {
  return text === "*" || text === "?" || text.startsWith("*/");
}

function parseField(text: string, spec: FieldSpec, expression: string): Set<number> {
  const bad = (why: string) => new UserError(`cron "${expression}": ${spec.name} "${text}": ${why}`);
  const values = new Set<number>();
  for (const item of text.split(",")) {
    const [range = "", stepText] = item.split("/");
    const step = stepText === undefined ? 1 : Number(stepText);
    if (!Number.isInteger(step) || step < 1) throw bad(`step must be a whole number >= 1`);
    let lo: number;
    let hi: number;
    if (range === "*" || range === "?") [lo, hi] = [spec.min, spec.max];
    else {
      const [a = "", b] = range.split("-");
      lo = valueOf(a, spec, bad);
      hi = b === undefined ? (stepText === undefined ? lo : spec.max) : valueOf(b, spec, bad);
    }
    if (lo > hi) throw bad(`range ${lo}-${hi} is backwards`);
    for (let v = lo; v <= hi; v += step) values.add(v);
  }
  return values;
}

function valueOf(text: string, spec: FieldSpec, bad: (why: string) => UserError): number {
  const named = spec.names?.indexOf(text.toUpperCase()) ?? -1;
  const value = named >= 0 ? named + (spec.nameBase ?? 0) : /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isInteger(value)) throw bad(`"${text}" is not a number${spec.names ? " or a name" : ""}`);
  if (value < spec.min || value > spec.max) throw bad(`${value} is outside ${spec.min}-${spec.max}`);
  return value;
}
