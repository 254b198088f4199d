/**
 * Go's `time.ParseDuration` syntax, which RKE uses for `services.etcd.creation` and `retention` (`12h`, `5m0s`,
 * `1h30m`, `1.5h`). Days are not a Go unit: `3d` is rejected with a hint, as RKE would fail on it too.
 */

const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** The result of parsing a Go duration: milliseconds, or a message saying what is wrong. */
export type DurationParse = { ok: true; ms: number } | { ok: false; message: string };

/** Parses a Go duration string into milliseconds (may be fractional for sub-millisecond units). */
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
  let total = 0;
  while (rest !== "") {
    const m = /^(\d+\.?\d*|\.\d+)([a-zµμ]*)/i.exec(rest);
    if (!m || m[1] === undefined) return bad(`unexpected "${rest}"`);
    const unit = m[2] ?? "";
    if (unit === "") return bad(`missing unit after ${m[1]}`);
    const factor = UNIT_MS[unit];
    if (factor === undefined) {
      return bad(unit === "d" ? `there is no "d" unit: ${m[1]}d is ${Number(m[1]) * 24}h` : `unknown unit "${unit}"`);
    }
    total += Number(m[1]) * factor;
    rest = rest.slice(m[0].length);
  }
  return { ok: true, ms: sign * total };
}
