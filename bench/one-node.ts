/**
 * Everything measured on the 1-node sandbox: fill, the save loop (cases 1-4), listing (6), the memory case at
 * larger sizes; then what later cases need is copied out (a Lifeboat archive, etcdctl's file) and the sandbox goes.
 */
import { copyFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { EtcdMemberClient } from "../src/etcd/client.js";
import type { EtcdTools } from "../src/etcd/binaries.js";
import { generateIdentity } from "../src/crypto/age.js";
import { archiveKey, encryptedArchiveKey, manifestKey } from "../src/snapshot/manifest.js";
import { LocalStore } from "../src/store/local.js";
import { formatSize, type BenchOptions, type CaseId } from "./lib/args.js";
import { fillEtcd, type FillResult } from "./lib/fill.js";
import type { BenchResult, Series } from "./lib/results.js";
import { lifeboatOk, startSandbox, type BenchSandbox } from "./lib/sandbox.js";
import { runList } from "./cases/list.js";
import { etcdctlSave, runSaveLoop, type SaveLoopResult, type SaveSubject } from "./cases/save.js";
import { listRows, memoryAtRows, saveRows, sizeNotes } from "./rows.js";

/** etcd's default backend quota, and its largest (the sandbox raises it with `--quota-backend-bytes` as needed). */
export const ETCD_DEFAULT_QUOTA = 2 * 1024 ** 3;
const ETCD_MAX_QUOTA = 8 * 1024 ** 3;
/** Headroom under the quota for the puts in flight and the lag of Status.dbSize. */
const QUOTA_HEADROOM = 128 * 1024 ** 2;

export interface RunContext {
  o: BenchOptions;
  tools: EtcdTools;
  /** Scratch folder of this run (removed at the end). */
  work: string;
  result: BenchResult;
  log: (line: string) => void;
}

interface OneNode extends RunContext {
  sandbox: BenchSandbox;
  etcd: EtcdMemberClient;
  /** cluster.yml without S3. */
  localConfig: string;
  snapshotDir: string;
  removeSnapshot: (name: string) => Promise<void>;
  /** The member's backend quota. */
  quota: number;
}

/** What the cases after the 1-node sandbox need from it. */
export interface Kept {
  snapshotFile?: string;
  archive?: { name: string; file: string; manifest: string };
}

export async function onOneNode(run: RunContext): Promise<Kept> {
  run.log("1-node sandbox");
  const largest = Math.max(run.o.size, ...run.o.memoryAt);
  const quota = quotaFor(largest);
  const sandbox = await startSandbox({
    nodes: 1,
    etcdSeries: run.o.etcdSeries,
    ...(quota > ETCD_DEFAULT_QUOTA ? { quotaBackendBytes: quota } : {}),
  });
  try {
    const etcd = await sandbox.etcd(0);
    const fill = await fillTo(run, etcd, run.o.size, 0, quota);
    run.result.fill = fill;
    run.result.dbSize = fill.dbSize;
    const snapshotDir = join(dirname(sandbox.info.nodes[0]!.agentDir), "snapshots");
    const ctx: OneNode = {
      ...run,
      sandbox,
      etcd,
      localConfig: await sandbox.variant("local", (doc) => delete doc.services.etcd.backup_config.s3backupconfig),
      ...(run.o.cases.has("save") ? { storeConfig: await storeVariant(sandbox) } : {}),
      ...(run.o.cases.has("encrypted") ? { encryptedConfig: await encryptedVariant(sandbox) } : {}),
      snapshotDir,
      removeSnapshot: removeSnapshot(sandbox, snapshotDir),
      quota,
    };
    const loop = await saveCases(ctx);
    if (run.o.cases.has("list")) await listCase(ctx);
    const kept = await keep(ctx, loop);
    let keys = fill.keys;
    for (const size of run.o.memoryAt) keys += await memoryAt(ctx, size, keys, loop.series["lifeboat-s3"]);
    return kept;
  } finally {
    await sandbox.down(run.o.keep);
  }
}

function saveSubjects(cases: ReadonlySet<CaseId>): Set<SaveSubject> {
  const s = new Set<SaveSubject>();
  if (cases.has("save") || cases.has("rke") || cases.has("s3")) s.add("lifeboat-local");
  if (cases.has("save") || cases.has("rke")) s.add("etcdctl");
  if (cases.has("save")) s.add("lifeboat-local-store");
  if (cases.has("rke")) s.add("zip");
  if (cases.has("s3") || cases.has("memory") || cases.has("encrypted")) s.add("lifeboat-s3");
  if (cases.has("encrypted")) s.add("lifeboat-s3-encrypted");
  return s;
}

async function saveCases(ctx: OneNode): Promise<SaveLoopResult> {
  const subjects = saveSubjects(ctx.o.cases);
  if (!subjects.size) return { series: {} };
  ctx.log(`save loop: ${[...subjects].join(", ")}`);
  const loop = await runSaveLoop({ ...ctx, subjects, runs: ctx.o.runs, workDir: ctx.work });
  addSeries(ctx.result, loop.series);
  ctx.result.rows.push(...saveRows(loop.series));
  ctx.result.notes.push(...sizeNotes(loop.series));
  return loop;
}

async function listCase(ctx: OneNode): Promise<void> {
  ctx.log("listing");
  const list = await runList(ctx.sandbox, ctx.o.runs, ctx.log);
  ctx.result.rows.push(...listRows(list));
  for (const l of list) {
    addSeries(ctx.result, { [`list-${l.count}`]: l.lifeboat, [`bare-list-${l.count}`]: l.bare });
    ctx.result.notes.push(
      `Listing ${l.count}: snapshot-list showed ${l.listed.snapshots} ok S3 snapshots; ` +
        `ListObjectsV2 saw ${l.listed.keys} keys.`,
    );
  }
}

/**
 * Grows the database to `size` with new keys (overwriting would add history, not objects) and measures the agent
 * during S3 saves there: case 4 at a larger size, compared with `main`, the same saves at --size. Returns the
 * number of keys it added.
 */
async function memoryAt(ctx: OneNode, size: number, firstIndex: number, main: Series | undefined): Promise<number> {
  const fill = await fillTo(ctx, ctx.etcd, size, firstIndex, ctx.quota);
  ctx.log(`memory at ${formatSize(fill.dbSize)}`);
  const subjects = new Set<SaveSubject>(["lifeboat-s3"]);
  const loop = await runSaveLoop({ ...ctx, subjects, runs: ctx.o.runs, workDir: ctx.work, tag: `at${fill.dbSize}` });
  if (loop.keptSnapshot) await ctx.removeSnapshot(loop.keptSnapshot);
  const big = loop.series["lifeboat-s3"]!;
  if (main) ctx.result.rows.push(...memoryAtRows(big, main, fill.dbSize, ctx.result.dbSize));
  addSeries(ctx.result, { [`lifeboat-s3-at-${formatSize(fill.dbSize)}`]: big });
  return fill.keys;
}

/** The member's quota for a fill to `bytes`: etcd's default when it fits, else raised (at most etcd's 8 GiB). */
function quotaFor(bytes: number): number {
  return bytes > ETCD_DEFAULT_QUOTA - QUOTA_HEADROOM
    ? Math.min(ETCD_MAX_QUOTA, bytes + 4 * QUOTA_HEADROOM)
    : ETCD_DEFAULT_QUOTA;
}

async function fillTo(
  run: RunContext,
  etcd: EtcdMemberClient,
  size: number,
  firstIndex: number,
  quota: number,
): Promise<FillResult> {
  let target = size;
  if (size > quota - QUOTA_HEADROOM) {
    target = quota - QUOTA_HEADROOM;
    run.result.notes.push(
      `${formatSize(size)} asked, filled to ${formatSize(target)}: etcd's backend quota is at most 8 GiB.`,
    );
  }
  run.log(`fill to ${formatSize(target)}`);
  let shown = 0;
  const fill = await fillEtcd(etcd, {
    targetBytes: target,
    firstIndex,
    seed: 42 + firstIndex,
    onProgress: (db) => {
      if (db - shown < 128 * 1024 ** 2) return;
      shown = db;
      run.log(`  ${formatSize(db)}`);
    },
  });
  run.log(`  ${fill.keys} keys, dbSize ${formatSize(fill.dbSize)} in ${(fill.durationMs / 1000).toFixed(0)} s`);
  return fill;
}

/** cluster.yml without S3, saving with `compression: none`. */
function storeVariant(sandbox: BenchSandbox): Promise<string> {
  return sandbox.variant("store", (doc) => {
    delete doc.services.etcd.backup_config.s3backupconfig;
    const lifeboat = doc.lifeboat ?? {};
    doc.lifeboat = { ...lifeboat, snapshot: { ...(lifeboat.snapshot ?? {}), compression: "none" } };
  });
}

/** cluster.yml with one fresh recipient (its identity is not kept: a save needs only the public key). */
async function encryptedVariant(sandbox: BenchSandbox): Promise<string> {
  const { recipient } = await generateIdentity();
  return sandbox.variant("encrypted", (doc) => {
    doc.lifeboat = { ...(doc.lifeboat ?? {}), encryption: { recipients: [recipient] } };
  });
}

function removeSnapshot(sandbox: BenchSandbox, snapshotDir: string): (name: string) => Promise<void> {
  const local = new LocalStore(snapshotDir);
  return async (name) => {
    const s3 = sandbox.s3();
    try {
      // Manifest first, as Lifeboat deletes; a copy that is not there is fine.
      for (const key of [manifestKey(name), archiveKey(name), encryptedArchiveKey(name)]) {
        await local.remove(key).catch(() => undefined);
        await s3.remove(key).catch(() => undefined);
      }
    } finally {
      await s3.close();
    }
  };
}

async function keep(ctx: OneNode, loop: SaveLoopResult): Promise<Kept> {
  const kept: Kept = {};
  if (ctx.o.cases.has("compression")) {
    kept.snapshotFile = loop.snapshotFile ?? join(ctx.work, "etcdctl-snapshot.db");
    if (!loop.snapshotFile) await etcdctlSave(ctx, kept.snapshotFile);
  }
  if (ctx.o.cases.has("restore")) {
    let name = loop.keptSnapshot;
    if (name === undefined) {
      name = "bench-restore";
      ctx.log("one save for the restore case");
      await lifeboatOk(["etcd", "snapshot-save", "--config", ctx.localConfig, "--name", name]);
    }
    const file = join(ctx.work, archiveKey(name));
    const manifest = join(ctx.work, manifestKey(name));
    await copyFile(join(ctx.snapshotDir, archiveKey(name)), file);
    await copyFile(join(ctx.snapshotDir, manifestKey(name)), manifest);
    kept.archive = { name, file, manifest };
  }
  return kept;
}

export function addSeries(result: BenchResult, series: Record<string, Series | undefined>): void {
  for (const [k, v] of Object.entries(series)) if (v) result.series[k] = v;
}
