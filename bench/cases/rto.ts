/**
 * Case "rto", the recovery time an operator is asked about in a drill (not in the default run: `--cases rto`, size
 * `--rto-size`, default 1 GiB): a 3-member sandbox (etcd's quota raised with `--quota-backend-bytes`) is filled to
 * the size, one snapshot goes to S3, every node's local copy is deleted so that the restore must come from S3, and
 * `lifeboat etcd snapshot-restore` is timed from the command's start to its exit, which comes only after the health
 * gate (every member up, one leader, the new cluster ID). Afterwards the key count on every member is checked
 * against the fill. One run: it takes minutes, and the figure is absolute (target <= 60 s), not a ratio.
 */
import { rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { archiveKey, manifestKey } from "../../src/snapshot/manifest.js";
import { fillEtcd } from "../lib/fill.js";
import { formatSize } from "../lib/args.js";
import { lifeboatOk, startSandbox } from "../lib/sandbox.js";
import { timingsOf } from "../lib/timings.js";

const TARGET_MS = 60_000;
const NAME = "bench-rto";

export interface RtoResult {
  askedBytes: number;
  dbSize: number;
  keys: number;
  fillMs: number;
  saveMs: number;
  /** From the restore command's start to its exit after the health gate. */
  restoreMs: number;
  targetMs: number;
  verdict: "met" | "missed";
  /** The phases `snapshot-restore` reports (title -> ms). */
  phasesMs: Record<string, number>;
  /** Keys on each member after the restore (each must equal `keys`). */
  keysAfter: number[];
}

export async function runRto(o: {
  size: number;
  etcdSeries?: string | undefined;
  log: (line: string) => void;
  keep?: boolean;
}): Promise<RtoResult> {
  // Room for the fill, the puts in flight, and the restore's revision bump.
  const quota = Math.min(8 * 1024 ** 3, Math.max(2 * 1024 ** 3, 2 * o.size));
  o.log(`3-node sandbox for the recovery time, quota ${formatSize(quota)}`);
  const sandbox = await startSandbox({ nodes: 3, etcdSeries: o.etcdSeries, quotaBackendBytes: quota });
  try {
    const etcd = await sandbox.etcd(0);
    o.log(`  fill to ${formatSize(o.size)}`);
    const fill = await fillEtcd(etcd, { targetBytes: o.size, seed: 7 });
    o.log(`  ${fill.keys} keys, dbSize ${formatSize(fill.dbSize)} in ${(fill.durationMs / 1000).toFixed(0)} s`);
    const saved = await lifeboatOk(
      ["--output", "json", "etcd", "snapshot-save", "--config", sandbox.config, "--name", NAME],
      {
        timeoutMs: 15 * 60_000,
      },
    );
    const report = JSON.parse(saved.stdout) as { s3?: { ok: boolean; reason?: string } };
    if (!report.s3?.ok) throw new Error(`the S3 copy failed: ${report.s3?.reason ?? "no upload"}`);
    // The restore must come from S3: no node keeps a copy of its own.
    for (const n of sandbox.info.nodes) {
      const dir = join(dirname(n.agentDir), "snapshots");
      for (const key of [manifestKey(NAME), archiveKey(NAME)]) await rm(join(dir, key), { force: true });
    }
    o.log(`  saved in ${(saved.wallMs / 1000).toFixed(1)} s; local copies removed; restoring from S3`);
    const restored = await lifeboatOk(
      ["--output", "json", "etcd", "snapshot-restore", "--config", sandbox.config, "--name", NAME, "--yes"],
      { timeoutMs: 15 * 60_000 },
    );
    const keysAfter: number[] = [];
    for (let i = 0; i < sandbox.info.nodes.length; i++) {
      const client = await sandbox.etcd(i);
      keysAfter.push(await client.count(""));
    }
    if (keysAfter.some((k) => k !== fill.keys))
      throw new Error(`after the restore the members hold ${keysAfter.join(", ")} keys, not ${fill.keys}`);
    o.log(`  restored in ${(restored.wallMs / 1000).toFixed(1)} s; ${fill.keys} keys on every member`);
    return {
      askedBytes: o.size,
      dbSize: fill.dbSize,
      keys: fill.keys,
      fillMs: fill.durationMs,
      saveMs: saved.wallMs,
      restoreMs: restored.wallMs,
      targetMs: TARGET_MS,
      verdict: restored.wallMs <= TARGET_MS ? "met" : "missed",
      phasesMs: timingsOf(restored.stdout),
      keysAfter,
    };
  } finally {
    await sandbox.down(o.keep);
  }
}

export function rtoLines(r: RtoResult): string[] {
  const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  return [
    "",
    "## Recovery time (`--cases rto`)",
    "",
    `A 3-member sandbox filled to ${formatSize(r.dbSize)} (etcd dbSize; ${r.keys} keys, in ${s(r.fillMs)}), one ` +
      `snapshot saved to S3 (${s(r.saveMs)}), every node's local copy deleted, then \`snapshot-restore\` from S3 ` +
      `timed from the command's start to its exit after the health gate. Afterwards every member held ` +
      `${r.keysAfter.join(", ")} keys.`,
    "",
    "| Figure | Value | Target | Verdict |",
    "| --- | --- | --- | --- |",
    `| restore from S3 to a healthy cluster | ${s(r.restoreMs)} | <= ${s(r.targetMs)} | ${r.verdict} |`,
    ...Object.entries(r.phasesMs).map(([phase, ms]) => `| phase: ${phase} | ${s(ms)} | | report |`),
  ];
}
