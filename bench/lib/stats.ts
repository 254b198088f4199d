/** Summaries of repeated measurements: median, min and max, and ratios between two series of the same runs. */

export interface Summary {
  median: number;
  min: number;
  max: number;
  /** Every measured value, in run order (the warm-up excluded). */
  values: number[];
}

export function summarize(values: readonly number[]): Summary {
  if (values.length === 0) throw new Error("summarize: no values");
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, min: sorted[0]!, max: sorted.at(-1)!, values: [...values] };
}

/**
 * The subject's median over the baseline's, and the range of the per-run ratios (run i of the subject over run i
 * of the baseline: they ran back to back, so the pair shares the machine's load at that moment).
 */
export function ratioOf(subject: Summary, baseline: Summary): { ratio: number; pairedMin: number; pairedMax: number } {
  const paired = subject.values.map((v, i) => v / (baseline.values[i] ?? Number.NaN)).filter(Number.isFinite);
  return {
    ratio: subject.median / baseline.median,
    pairedMin: paired.length ? Math.min(...paired) : Number.NaN,
    pairedMax: paired.length ? Math.max(...paired) : Number.NaN,
  };
}
