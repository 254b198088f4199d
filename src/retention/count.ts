/** Count-based retention: the newest N of a location stay. */
import { formatInstant } from "./time.js";
import type { CountPolicy } from "./types.js";
import { keepFor, removeFor, type Candidate, type Verdict } from "./verdict.js";

/** One verdict per candidate, same order; `group` must be sorted newest first. */
export function decideCount(group: readonly Candidate[], policy: CountPolicy): Verdict[] {
  return group.map(({ time }, i) =>
    i < policy.keep
      ? keepFor(`one of the newest ${policy.keep} (#${i + 1}, created ${formatInstant(time)})`)
      : removeFor(`beyond the newest ${policy.keep} (#${i + 1}, created ${formatInstant(time)})`),
  );
}
