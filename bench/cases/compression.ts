/**
 * Compression choices on the filled database: Lifeboat's archive writer over etcdctl's snapshot file with store,
 * deflate levels 1, 6 and 9 on one thread, and level 1 on two deflate threads (a save's default), each a whole process (warm-up + runs, interleaved), for the ratio and the speed that
 * the default level should be chosen from.
 */
import { fileURLToPath } from "node:url";
import { measureOk } from "../lib/proc.js";
import type { CompressionRow } from "../lib/results.js";
import { summarize } from "../lib/stats.js";

const TOOL = fileURLToPath(new URL("../tools/compress.js", import.meta.url));

export const SETTINGS: readonly { method: "store" | "deflate"; level?: number; threads?: number }[] = [
  { method: "store" },
  { method: "deflate", level: 1 },
  { method: "deflate", level: 1, threads: 2 },
  { method: "deflate", level: 6 },
  { method: "deflate", level: 9 },
];

export async function runCompression(
  file: string,
  runs: number,
  log: (line: string) => void,
): Promise<CompressionRow[]> {
  const walls = SETTINGS.map(() => [] as number[]);
  const rss = SETTINGS.map(() => [] as number[]);
  const sizes = SETTINGS.map(() => ({ inputBytes: 0, outputBytes: 0 }));
  for (let i = 0; i <= runs; i++) {
    const line: string[] = [];
    for (const [k, s] of SETTINGS.entries()) {
      const args = [TOOL, file, s.method, String(s.level ?? ""), String(s.threads ?? 1)];
      const m = await measureOk(process.execPath, args);
      sizes[k] = JSON.parse(m.stdout) as { inputBytes: number; outputBytes: number };
      if (i > 0) {
        walls[k]!.push(m.wallMs);
        rss[k]!.push(m.peakRss);
      }
      line.push(`${label(s)} ${(m.wallMs / 1000).toFixed(1)}s`);
    }
    log(`  ${i === 0 ? "warm-up" : `run ${i}/${runs}`}: ${line.join(", ")}`);
  }
  return SETTINGS.map((s, k) => {
    const wall = summarize(walls[k]!);
    const { inputBytes, outputBytes } = sizes[k]!;
    return {
      method: s.method,
      ...(s.level === undefined ? {} : { level: s.level }),
      threads: s.threads ?? 1,
      inputBytes,
      outputBytes,
      ratio: outputBytes / inputBytes,
      wall,
      mibPerSecond: inputBytes / 1024 ** 2 / (wall.median / 1000),
      peakRss: summarize(rss[k]!),
    };
  });
}

export function label(s: { method: string; level?: number; threads?: number }): string {
  const threads = (s.threads ?? 1) > 1 ? `x${s.threads}` : "";
  return (s.level === undefined ? s.method : `${s.method}-${s.level}`) + threads;
}
