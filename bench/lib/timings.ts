/** The `timings` object of `snapshot-restore --output json` (phase title -> ms); empty if it has none. */
export function timingsOf(stdout: string): Record<string, number> {
  try {
    const timings = (JSON.parse(stdout) as { timings?: Record<string, unknown> }).timings ?? {};
    return Object.fromEntries(Object.entries(timings).filter((e): e is [string, number] => typeof e[1] === "number"));
  } catch {
    return {};
  }
}
