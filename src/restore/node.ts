/**
 * What a restore does on one node, run by that node's agent. The old data directory is never deleted: the
 * restored one is built beside it (`<dataDir>.restore-<stamp>`), then the old one is renamed to `<dataDir>.old-<stamp>`
 * and the new one into place. A rollback record in the restore directory says how to undo the swap.
 */
import { lstat, mkdir, readdir, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { RollbackRecord } from "../api/restore.js";
import { readJsonFile } from "../config/json-file.js";
import { UserError } from "../util/errors.js";
import { renameDurably, writeFileAtomic } from "../util/fs.js";

/** The record on disk is what the preflight and apply routes show of it: one schema (src/api/restore.ts). */
export { RollbackRecord };

/** A timestamp usable in a file name, e.g. 20261127T101502Z. */
export function restoreStamp(now: Date): string {
  return now
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "Z");
}

export function stagingDirFor(dataDir: string, stamp: string): string {
  return `${dataDir}.restore-${stamp}`;
}

export function oldDirFor(dataDir: string, stamp: string): string {
  return `${dataDir}.old-${stamp}`;
}

/** The rollback record's file name in the restore folder: present while a restore is pending. */
export const ROLLBACK_RECORD = "rollback.json";

export function rollbackRecordPath(restoreDir: string): string {
  return join(restoreDir, ROLLBACK_RECORD);
}

/** The stamp of a finished restore's record file (`restored-<stamp>.json`), or undefined for any other name. */
export function restoredStampOf(name: string): string | undefined {
  return /^restored-([0-9A-Za-z]+)\.json$/.exec(name)?.[1];
}

export async function exists(path: string): Promise<boolean> {
  return lstat(path).then(
    () => true,
    () => false,
  );
}

/**
 * Puts `stagedDir` in place as `dataDir`, keeping the old one as `<dataDir>.old-<stamp>`. The rollback record is
 * written BEFORE the first rename, so a crash in between still leaves enough to undo by hand or with --rollback.
 */
export async function swapDataDir(o: {
  dataDir: string;
  stagedDir: string;
  stamp: string;
  name: string;
  restoreDir: string;
  now: Date;
}): Promise<RollbackRecord> {
  if (!(await exists(o.stagedDir))) throw new UserError(`restored data ${o.stagedDir} is missing`);
  const hadOld = await exists(o.dataDir);
  const record: RollbackRecord = {
    stamp: o.stamp,
    name: o.name,
    dataDir: o.dataDir,
    ...(hadOld ? { oldDataDir: oldDirFor(o.dataDir, o.stamp) } : {}),
    swappedAt: o.now.toISOString(),
  };
  await mkdir(o.restoreDir, { recursive: true, mode: 0o700 });
  await writeFileAtomic(rollbackRecordPath(o.restoreDir), JSON.stringify(record, null, 2) + "\n");
  if (record.oldDataDir) await rename(o.dataDir, record.oldDataDir);
  await renameDurably(o.stagedDir, o.dataDir);
  return record;
}

export async function readRollbackRecord(restoreDir: string): Promise<RollbackRecord | undefined> {
  return readJsonFile(rollbackRecordPath(restoreDir), RollbackRecord);
}

/**
 * Undoes `swapDataDir`: the restored data directory is kept as `<dataDir>.failed-<stamp>` (for diagnosis) and the
 * old one goes back. Idempotent: running it again after a completed rollback changes nothing.
 */
export async function rollbackDataDir(restoreDir: string): Promise<{ restored: boolean; record?: RollbackRecord }> {
  const record = await readRollbackRecord(restoreDir);
  if (!record) return { restored: false };
  const failed = `${record.dataDir}.failed-${record.stamp}`;
  if (record.oldDataDir && (await exists(record.oldDataDir))) {
    if (await exists(record.dataDir)) await rename(record.dataDir, failed);
    await renameDurably(record.oldDataDir, record.dataDir);
  } else if (!record.oldDataDir && (await exists(record.dataDir))) {
    await rename(record.dataDir, failed);
  }
  await rm(rollbackRecordPath(restoreDir), { force: true });
  return { restored: true, record };
}

function restoredRecordPath(restoreDir: string, stamp: string): string {
  if (!/^[0-9A-Za-z]+$/.test(stamp)) throw new UserError(`invalid restore stamp ${JSON.stringify(stamp)}`);
  return join(restoreDir, `restored-${stamp}.json`);
}

/**
 * After a successful restore the record is retired as `restored-<stamp>.json`: the old data directory stays until
 * the operator removes it (restore-cleanup), and `--rollback` can still put it back while it is there.
 */
export async function retireRollbackRecord(restoreDir: string): Promise<void> {
  const record = await readRollbackRecord(restoreDir);
  if (!record) return;
  await writeFileAtomic(restoredRecordPath(restoreDir, record.stamp), JSON.stringify(record, null, 2) + "\n");
  await rm(rollbackRecordPath(restoreDir), { force: true });
}

/** The newest finished restore's record on this node, if any. */
export async function latestRestoredRecord(restoreDir: string): Promise<RollbackRecord | undefined> {
  const names = await readdir(restoreDir).catch(() => [] as string[]);
  const stamps = names.flatMap((n) => restoredStampOf(n) ?? []).sort();
  const newest = stamps.at(-1);
  if (!newest) return undefined;
  return readJsonFile(restoredRecordPath(restoreDir, newest), RollbackRecord);
}

/**
 * Makes the finished restore `stamp` pending again, so that `rollbackDataDir` undoes it. Refuses when its old data
 * directory is gone (nothing to put back) or another restore is pending.
 */
export async function reinstateRestoredRecord(restoreDir: string, stamp: string): Promise<RollbackRecord> {
  if (await readRollbackRecord(restoreDir)) throw new UserError("another restore is pending on this node");
  const path = restoredRecordPath(restoreDir, stamp);
  const record = await readJsonFile(path, RollbackRecord);
  if (!record) throw new UserError(`this node has no record of the restore ${stamp}`);
  if (!record.oldDataDir || !(await exists(record.oldDataDir))) {
    throw new UserError(`the data directory from before the restore ${stamp} is gone on this node`);
  }
  await writeFileAtomic(rollbackRecordPath(restoreDir), JSON.stringify(record, null, 2) + "\n");
  await rm(path, { force: true });
  return record;
}

/** Removes leftovers of an earlier attempt that never swapped in (retrying a restore must never trip on them). */
export async function removeStaleStaging(dataDir: string): Promise<string[]> {
  const parent = dirname(dataDir);
  const prefix = `${basename(dataDir)}.restore-`;
  const names = await readdir(parent).catch(() => [] as string[]);
  const stale = names.filter((n) => n.startsWith(prefix)).map((n) => join(parent, n));
  for (const dir of stale) await rm(dir, { recursive: true, force: true });
  return stale;
}
