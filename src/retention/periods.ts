/** UTC calendar periods for tiered retention; each key names its period and sorts like it. */

export type PeriodUnit = "hourly" | "daily" | "weekly" | "monthly" | "yearly";

const pad = (n: number, width = 2): string => String(n).padStart(width, "0");

/** ISO 8601 week of a UTC date: the week belongs to the year holding its Thursday. */
function isoWeek(date: Date): { year: number; week: number } {
  const day = date.getUTCDay() || 7;
  const thursday = new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate() + 4 - day));
  const yearStart = Date.UTC(thursday.getUTCFullYear(), 0, 1);
  const week = Math.ceil(((thursday.getTime() - yearStart) / 86_400_000 + 1) / 7);
  return { year: thursday.getUTCFullYear(), week };
}

/**
 * The UTC period a time falls in, written for people: `2026-11-20T10` (hour), `2026-11-20` (day),
 * `2026-W47` (ISO week), `2026-11` (month), `2026` (year). Equal keys mean the same period.
 */
export function periodKey(unit: PeriodUnit, date: Date): string {
  const y = pad(date.getUTCFullYear(), 4);
  const mo = pad(date.getUTCMonth() + 1);
  const d = pad(date.getUTCDate());
  switch (unit) {
    case "hourly":
      return `${y}-${mo}-${d}T${pad(date.getUTCHours())}`;
    case "daily":
      return `${y}-${mo}-${d}`;
    case "weekly": {
      const w = isoWeek(date);
      return `${pad(w.year, 4)}-W${pad(w.week)}`;
    }
    case "monthly":
      return `${y}-${mo}`;
    case "yearly":
      return y;
  }
}
