/**
 * Durations, written two ways with one reader: Go's `time.ParseDuration` syntax for the RKE keys that use it
 * (`services.etcd.creation`, `retention`, `lifeboat.schedule.interval`), and the operator syntax of flags and
 * retention policies, which adds days and weeks (`14d`, `2w`). One writer, formatDuration, prints the operator form.
 */

const GO_UNITS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

const OPERATOR_UNITS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

/** The result of parsing a Go duration: milliseconds, or a message saying what is wrong. */
export type DurationParse = { ok: true; ms: number } | { ok: false; message: string };

type Sum = { ok: true; ms: number } | { ok: false; why: string };

/** Adds up `<number><unit>` parts (`1h30m`) in `units`; `why` says what stopped it. */
function sumParts(text: string, units: Record<string, number>): Sum {
  let rest = text;
  let total = 0;
  while (rest !== "") {
    const m = /^(\d+\.?\d*|\.\d+)([a-zµμ]*)/i.exec(rest);
    if (!m || m[1] === undefined) return { ok: false, why: `unexpected "${rest}"` };
    const unit = m[2] ?? "";
    if (unit === "") return { ok: false, why: `missing unit after ${m[1]}` };
    const factor = units[unit];
    if (factor === undefined) return { ok: false, why: unknownUnit(unit, m[1], units) };
    total += Number(m[1]) * factor;
    rest = rest.slice(m[0].length);
  }
  return { ok: true, ms: total };
}

/** Go has no `d`: RKE would fail on `3d` too, so the hint gives the hours to write instead. */
function unknownUnit(unit: string, amount: string, units: Record<string, number>): string {
  if (unit === "d" && units.d === undefined) return `there is no "d" unit: ${amount}d is ${Number(amount) * 24}h`;
  return `unknown unit "${unit}"`;
}

/**
 * Go's `time.ParseDuration` syntax, which RKE uses for `services.etcd.creation` and `retention` (`12h`, `5m0s`,
 * `1h30m`, `1.5h`, `-2s`, `0`), in milliseconds (fractional for sub-millisecond units). Days are not a Go unit: `3d`
 * is rejected with a hint.
 */
export function parseGoDuration(text: string): DurationParse {
  const bad = (why: string): DurationParse => ({
    ok: false,
    message: `"${text}" is not a Go duration (${why}); use h, m, s, ms, us or ns, e.g. 72h, 1h30m, 5m0s`,
  });
  let rest = text.trim();
  if (rest === "") return bad("empty");
  let sign = 1;
  if (rest[0] === "-" || rest[0] === "+") {
    sign = rest[0] === "-" ? -1 : 1;
    rest = rest.slice(1);
  }
  if (rest === "0") return { ok: true, ms: 0 };
  const sum = sumParts(rest, GO_UNITS);
  return sum.ok ? { ok: true, ms: sign * sum.ms } : bad(sum.why);
}

/** The operator syntax is stricter about numbers than Go: no sign, no spaces, no `1.` or `.5`, a unit on each. */
const OPERATOR_SHAPE = /^(?:\d+(?:\.\d+)?[a-z]+)+$/;

/**
 * Milliseconds in a duration such as `72h`, `1h30m`, `7d`, `2w` or `0.5h` (Go's syntax plus `d` and `w`),
 * rounded to whole milliseconds; undefined for anything else, including an empty string.
 */
export function parseDuration(text: string): number | undefined {
  if (!OPERATOR_SHAPE.test(text)) return undefined;
  const sum = sumParts(text, OPERATOR_UNITS);
  return sum.ok ? Math.round(sum.ms) : undefined;
}

const FORMAT_UNITS: readonly [string, number][] = [
  ["d", 86_400_000],
  ["h", 3_600_000],
  ["m", 60_000],
  ["s", 1000],
  ["ms", 1],
];

/**
 * A duration as operators write it: `72h`, `1h30m`, `45s`, `14d`. Under a week it is written in hours, as
 * RKE prints its window (`72h`, not `3d`); from a week on, in days (`8d1h`). Parses back with parseDuration.
 */
export function formatDuration(ms: number): string {
  if (ms <= 0) return "0s";
  const units = ms >= 604_800_000 ? FORMAT_UNITS : FORMAT_UNITS.slice(1);
  let rest = ms;
  let out = "";
  for (const [suffix, size] of units) {
    const n = Math.floor(rest / size);
    if (n > 0) out += `${n}${suffix}`;
    rest -= n * size;
  }
  return out;
}
