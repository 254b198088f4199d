/** The flags of `npm run bench`, parsed and checked up front so that a typo fails before any sandbox starts. */
import { parseArgs } from "node:util";

export const CASES = [
  "save",
  "rke",
  "s3",
  "memory",
  "restore",
  "list",
  "compression",
  "encrypted",
  "rpo",
  "rto",
] as const;
export type CaseId = (typeof CASES)[number];

/** The cases a plain `npm run bench` runs: all but the recovery time at 1 GiB, which takes minutes on its own. */
export const DEFAULT_CASES: readonly CaseId[] = CASES.filter((c) => c !== "rto");

export interface BenchOptions {
  /** Database size to fill etcd to, in bytes. */
  size: number;
  /** Measured runs per case (a warm-up run comes on top). */
  runs: number;
  cases: Set<CaseId>;
  out: string;
  /** Database size of the recovery-time case (`rto`). */
  rtoSize: number;
  /** Larger database sizes at which the memory case is measured again (the fill continues up to each). */
  memoryAt: number[];
  etcdSeries?: string;
  /** Leave the sandboxes running (for profiling by hand). */
  keep: boolean;
}

export const USAGE = `usage: npm run bench -- [--size 512MiB] [--runs 3] [--cases ${DEFAULT_CASES.join(",")}]
                        [--out bench/results] [--memory-at 2GiB] [--etcd-series 3.5] [--keep]
                        [--cases ...,rto] [--rto-size 1GiB]   (rto: the recovery time, not in the default run)`;

const UNITS: Record<string, number> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
};

/** "512MiB", "2GiB", "1.5GB", "1048576" -> bytes. Throws with the flag's name on anything else. */
export function parseSize(text: string, flag = "--size"): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmg]i?b|b)?$/i.exec(text.trim());
  const unit = UNITS[(m?.[2] ?? "b").toLowerCase()];
  if (!m || unit === undefined) throw new Error(`${flag}: "${text}" is not a size such as 512MiB or 2GiB`);
  const bytes = Math.round(Number(m[1]) * unit);
  if (bytes < 1024 * 1024) throw new Error(`${flag}: ${text} is below 1 MiB`);
  return bytes;
}

export function parseBenchArgs(argv: readonly string[]): BenchOptions {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      size: { type: "string", default: "512MiB" },
      runs: { type: "string", default: "3" },
      cases: { type: "string", default: DEFAULT_CASES.join(",") },
      "rto-size": { type: "string", default: "1GiB" },
      out: { type: "string", default: "bench/results" },
      "memory-at": { type: "string", default: "" },
      "etcd-series": { type: "string" },
      keep: { type: "boolean", default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  const runs = Number(values.runs);
  if (!Number.isInteger(runs) || runs < 3) throw new Error(`--runs: at least 3 measured runs (got ${values.runs})`);
  const cases = new Set<CaseId>();
  for (const c of values.cases
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)) {
    if (!(CASES as readonly string[]).includes(c))
      throw new Error(`--cases: unknown case "${c}" (known: ${CASES.join(", ")})`);
    cases.add(c as CaseId);
  }
  if (cases.size === 0) throw new Error("--cases: name at least one case");
  const size = parseSize(values.size);
  const memoryAt = values["memory-at"]
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => parseSize(s, "--memory-at"));
  if (memoryAt.some((m) => m <= size)) throw new Error("--memory-at: each size must be above --size");
  if (memoryAt.length) cases.add("memory");
  return {
    size,
    rtoSize: parseSize(values["rto-size"], "--rto-size"),
    runs,
    cases,
    out: values.out,
    memoryAt: memoryAt.sort((a, b) => a - b),
    keep: values.keep,
    ...(values["etcd-series"] ? { etcdSeries: values["etcd-series"] } : {}),
  };
}

export function formatSize(bytes: number): string {
  const gib = bytes / 1024 ** 3;
  if (gib >= 1) return `${+gib.toFixed(2)} GiB`;
  return `${+(bytes / 1024 ** 2).toFixed(1)} MiB`;
}
