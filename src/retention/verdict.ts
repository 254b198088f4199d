/** The shared shapes of one policy run over one location's candidates. */
import type { RetentionInput } from "./types.js";

/** An input the policy may act on, with its resolved creation time and its position in the caller's list. */
export interface Candidate {
  readonly input: RetentionInput;
  readonly index: number;
  readonly time: Date;
}

/** What a rule decided for one candidate, with at least one reason. */
export interface Verdict {
  readonly keep: boolean;
  readonly reasons: readonly string[];
}

export const keepFor = (...reasons: string[]): Verdict => ({ keep: true, reasons });
export const removeFor = (...reasons: string[]): Verdict => ({ keep: false, reasons });

/** Newest first; equal times by name (descending) and then input order, so every run orders ties the same way. */
export function newestFirst(a: Candidate, b: Candidate): number {
  const byTime = b.time.getTime() - a.time.getTime();
  if (byTime !== 0) return byTime;
  if (a.input.name !== b.input.name) return a.input.name < b.input.name ? 1 : -1;
  return a.index - b.index;
}
