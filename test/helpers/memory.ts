/** Memory measurement for the streaming tests: the peak RSS growth while some work runs. */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

/**
 * Runs `work` while sampling RSS; returns the peak growth over the starting RSS. Most of the growth that remains
 * is garbage chunks V8 has not collected yet, far below what buffering a whole stream would cost.
 */
export async function peakRssGrowth(work: () => Promise<void>): Promise<number> {
  gc();
  const base = process.memoryUsage.rss();
  let peak = base;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 20);
  try {
    await work();
  } finally {
    clearInterval(timer);
  }
  return Math.max(peak, process.memoryUsage.rss()) - base;
}
