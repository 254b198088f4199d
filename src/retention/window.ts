/** RKE's age window (rke-tools `DeleteBackups`): strictly older than `now − window` goes. */
import { formatDuration } from "../util/duration.js";
import { formatInstant } from "./time.js";
import type { WindowPolicy } from "./types.js";
import { keepFor, removeFor, type Candidate, type Verdict } from "./verdict.js";

/** One verdict per candidate, same order. A snapshot created exactly at the cutoff is kept, as in RKE. */
export function decideWindow(group: readonly Candidate[], policy: WindowPolicy, now: Date): Verdict[] {
  const cutoff = new Date(now.getTime() - policy.windowMs);
  const span = formatDuration(policy.windowMs);
  return group.map(({ time }) =>
    time.getTime() < cutoff.getTime()
      ? removeFor(`older than ${span} window (created ${formatInstant(time)}, cutoff ${formatInstant(cutoff)})`)
      : keepFor(`within ${span} window (created ${formatInstant(time)})`),
  );
}
