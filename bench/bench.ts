/**
 * One benchmark run, in the order that keeps the machine quiet for each measurement:
 *   1-node sandbox (one-node.ts): fill -> save loop (cases 1-4) -> listing (6) -> memory at larger sizes -> down
 *   then compression choices on etcdctl's snapshot file, then a 3-node sandbox for the restore (5), then another for
 *   the revision log's recovery point (9).
 * Every case measures its baseline in the same loop (see cases/*.ts); this file only sequences them.
 */
import { createReadStream } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findEtcdTools } from "../src/etcd/binaries.js";
import { archiveKey, manifestKey } from "../src/snapshot/manifest.js";
import type { BenchOptions } from "./lib/args.js";
import { load, machineInfo } from "./lib/machine.js";
import type { BenchResult } from "./lib/results.js";
import { startSandbox } from "./lib/sandbox.js";
import { runCompression } from "./cases/compression.js";
import { runRestore } from "./cases/restore.js";
import { runRpo } from "./cases/rpo.js";
import { runRto } from "./cases/rto.js";
import { addSeries, onOneNode, type Kept, type RunContext } from "./one-node.js";
import { restoreRows } from "./rows.js";

export async function runBench(o: BenchOptions, command: string, log: (line: string) => void): Promise<BenchResult> {
  const started = Date.now();
  const tools = await findEtcdTools({ ...(o.etcdSeries ? { series: o.etcdSeries } : {}), developerCache: true });
  const result: BenchResult = {
    date: new Date().toISOString(),
    command,
    machine: machineInfo(tools.version),
    options: { size: o.size, runs: o.runs, cases: [...o.cases], memoryAt: o.memoryAt },
    dbSize: 0,
    rows: [],
    compression: [],
    series: {},
    notes: [],
    durationMs: 0,
  };
  const work = await mkdtemp(join(tmpdir(), "lifeboat-bench-work-"));
  const run: RunContext = { o, tools, work, result, log };
  try {
    // The recovery point and time cases fill sandboxes of their own: alone, they skip the 1-node sandbox.
    const kept: Kept = [...o.cases].some((c) => c !== "rpo" && c !== "rto") ? await onOneNode(run) : {};
    if (o.cases.has("compression") && kept.snapshotFile) {
      log("compression choices on the snapshot file");
      result.compression = await runCompression(kept.snapshotFile, o.runs, log);
      await rm(kept.snapshotFile, { force: true });
    }
    if (o.cases.has("restore") && kept.archive) await restoreCase(run, kept.archive);
    if (o.cases.has("rpo")) await rpoCase(run);
    if (o.cases.has("rto")) {
      result.rto = await runRto({ size: o.rtoSize, etcdSeries: o.etcdSeries, log, keep: o.keep });
      log(`  recovery time ${(result.rto.restoreMs / 1000).toFixed(1)} s (${result.rto.verdict})`);
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  result.machine.loadEnd = load();
  result.durationMs = Date.now() - started;
  return result;
}

/** Case 5 on a fresh 3-node sandbox whose S3 gets the archive kept from the 1-node sandbox. */
async function restoreCase(run: RunContext, archive: NonNullable<Kept["archive"]>): Promise<void> {
  run.log("3-node sandbox for the restore");
  const sandbox = await startSandbox({ nodes: 3, etcdSeries: run.o.etcdSeries });
  try {
    const s3 = sandbox.s3();
    try {
      await s3.put(archiveKey(archive.name), createReadStream(archive.file));
      await s3.put(manifestKey(archive.name), createReadStream(archive.manifest));
    } finally {
      await s3.close();
    }
    await rm(archive.file, { force: true });
    const restore = await runRestore({ ...run, sandbox, name: archive.name, runs: run.o.runs, workDir: run.work });
    const { result } = run;
    result.rows.push(...restoreRows(restore));
    addSeries(result, { "restore-floor": restore.floor, restore: restore.lifeboat });
    if (restore.note) result.notes.push(restore.note);
    const phases = (p: Record<string, number[]>) => Object.entries(p).map(([k, v]) => `${k} ${median(v)} ms`);
    result.notes.push(`Restore floor phases (median): ${phases(restore.floorPhasesMs).join(", ")}.`);
    const ours = phases(restore.lifeboatPhasesMs);
    if (ours.length) result.notes.push(`snapshot-restore phases as it reports them (median): ${ours.join("; ")}.`);
  } finally {
    await sandbox.down(run.o.keep);
  }
}

/** Case 9 on a fresh 3-node sandbox: the revision log's recovery point after a total loss. */
async function rpoCase(run: RunContext): Promise<void> {
  run.log("3-node sandbox for the recovery point of the revision log");
  const sandbox = await startSandbox({ nodes: 3, etcdSeries: run.o.etcdSeries });
  try {
    const rpo = await runRpo({ sandbox, log: run.log });
    run.result.rpo = rpo;
    run.log(
      `  lost ${rpo.lostWrites} of ${rpo.acknowledged} acknowledged writes: ${rpo.lossSeconds} s (${rpo.verdict})`,
    );
  } finally {
    await sandbox.down(run.o.keep);
  }
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}
