/**
 * What restores leave behind on one node, and removing it (`lifeboat etcd restore-cleanup`, docs/design.md
 * "Restore leftovers"): list (I/O), plan (pure), apply. Only two folders are ever read or changed: the data
 * directory's parent, where nothing but the `<basename>.old-*`, `.failed-*` and `.restore-*` siblings counts, and
 * the restore directory. The live data directory is never a candidate, and nothing is removed while a rollback
 * record says a restore is mid-way or awaiting rollback.
 */
import { lstat, readdir, rm } from "node:fs/promises";
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from "node:path";
import type { z } from "zod";
import type {
  CleanupItem as CleanupItemSchema,
  CleanupPlan as CleanupPlanSchema,
  CleanupResult as CleanupResultSchema,
  LeftoverEntry as LeftoverEntrySchema,
  LeftoverKind as LeftoverKindSchema,
  LeftoverListing as LeftoverListingSchema,
} from "../api/restore.js";
import { describeError } from "../util/errors.js";
import type { Logger } from "../util/log.js";
import { exists, readRollbackRecord, restoredStampOf, ROLLBACK_RECORD, rollbackRecordPath } from "./node.js";

/** The listing, plan and result are what the cleanup routes send (src/api/restore.ts: one schema each). */
export type LeftoverKind = z.infer<typeof LeftoverKindSchema>;
export type LeftoverEntry = z.infer<typeof LeftoverEntrySchema>;
export type LeftoverListing = z.infer<typeof LeftoverListingSchema>;
export type CleanupItem = z.infer<typeof CleanupItemSchema>;
export type CleanupPlan = z.infer<typeof CleanupPlanSchema>;
export type CleanupResult = z.infer<typeof CleanupResultSchema>;

export interface CleanupPolicy {
  /** How many data directories (`.old-*` and `.failed-*` together) and restore records to keep, newest first. */
  keep: number;
  /** Set when the node is busy (a restore or a save holds it): nothing is removed. */
  busy?: string;
}

const STAMP = "[0-9A-Za-z]+";
const SIBLING_KINDS = { old: "old-data", failed: "failed-data", restore: "staging" } as const;
const RANKED: ReadonlySet<LeftoverKind> = new Set(["old-data", "failed-data"]);
const DATA_KINDS: ReadonlySet<LeftoverKind> = new Set(["old-data", "failed-data", "staging"]);

const REMOVE_REASON: Partial<Record<LeftoverKind, string>> = {
  staging: "a rebuild that never swapped in",
  snapshot: "an extracted snapshot: a full copy of the database, needed only during a restore",
  download: "archives downloaded for a restore",
  verify: "left by snapshot-verify",
  partial: "an interrupted write",
};

/** `<base>.old-<stamp>` and its kin, exactly: `<base>.oldish` or `<base>.old-` are not ours. */
export function classifySibling(base: string, name: string): { kind: LeftoverKind; stamp: string } | undefined {
  const m = new RegExp(`^${escapeRegExp(base)}\\.(old|failed|restore)-(${STAMP})$`).exec(name);
  if (!m) return undefined;
  return { kind: SIBLING_KINDS[m[1] as keyof typeof SIBLING_KINDS], stamp: m[2]! };
}

function classifyRestoreEntry(name: string, isDir: boolean, size: number): { kind: LeftoverKind; stamp?: string } {
  const record = restoredStampOf(name);
  if (record && !isDir) return { kind: "record", stamp: record };
  if (name === "download" && isDir) return { kind: "download" };
  if (name.startsWith("verify-") && isDir) return { kind: "verify" };
  if (/^\..+\.[0-9a-f]{8}\.part$/.test(name) && !isDir) return { kind: "partial" };
  // Every etcd snapshot is the bbolt file (whole pages) plus a 32-byte trailer; anything else is not ours to judge.
  if (!isDir && size % 512 === 32) return { kind: "snapshot" };
  return { kind: "unknown" };
}

/** Lists both folders; a folder that does not exist lists as empty. */
export async function listLeftovers(dirs: { dataDir: string; restoreDir: string }): Promise<LeftoverListing> {
  const dataDir = resolve(dirs.dataDir);
  const restoreDir = resolve(dirs.restoreDir);
  const entries = [...(await listSiblings(dataDir)), ...(await listRestoreDir(restoreDir, dataDir))];
  return { dataDir, restoreDir, entries, pendingRollback: await pendingRollback(restoreDir) };
}

async function listSiblings(dataDir: string): Promise<LeftoverEntry[]> {
  const parent = dirname(dataDir);
  const out: LeftoverEntry[] = [];
  for (const name of await readdir(parent).catch(() => [] as string[])) {
    const found = classifySibling(basename(dataDir), name);
    if (found) out.push(await describe(join(parent, name), found.kind, found.stamp));
  }
  return out;
}

async function listRestoreDir(restoreDir: string, dataDir: string): Promise<LeftoverEntry[]> {
  const out: LeftoverEntry[] = [];
  for (const name of await readdir(restoreDir).catch(() => [] as string[])) {
    const path = join(restoreDir, name);
    // When the restore directory is the data directory's parent, its siblings are already listed (or live).
    const sibling = restoreDir === dirname(dataDir) && (path === dataDir || classifySibling(basename(dataDir), name));
    if (name === ROLLBACK_RECORD || sibling) continue;
    const info = await lstat(path).catch(() => undefined);
    if (!info) continue;
    const found = classifyRestoreEntry(name, info.isDirectory(), info.size);
    out.push(await describe(path, found.kind, found.stamp));
  }
  return out;
}

async function pendingRollback(restoreDir: string): Promise<LeftoverListing["pendingRollback"]> {
  if (!(await exists(rollbackRecordPath(restoreDir)))) return null;
  try {
    const record = await readRollbackRecord(restoreDir);
    return record ? { name: record.name, stamp: record.stamp } : null;
  } catch (err) {
    return { error: `rollback.json does not parse: ${describeError(err)}` };
  }
}

async function describe(path: string, kind: LeftoverKind, stamp?: string): Promise<LeftoverEntry> {
  const info = await lstat(path);
  const symlink = info.isSymbolicLink();
  return {
    path,
    kind,
    size: symlink ? info.size : await sizeOf(path),
    modified: info.mtime.toISOString(),
    ...(stamp ? { stamp } : {}),
    ...(symlink ? { symlink } : {}),
  };
}

/** Bytes under `path`, never following a symbolic link. */
async function sizeOf(path: string): Promise<number> {
  const info = await lstat(path).catch(() => undefined);
  if (!info?.isDirectory()) return info?.size ?? 0;
  let total = 0;
  for (const name of await readdir(path).catch(() => [] as string[])) total += await sizeOf(join(path, name));
  return total;
}

/** Decides, without I/O, what to keep and remove. Every decision carries its reason. */
export function planCleanup(listing: LeftoverListing, policy: CleanupPolicy, now: Date): CleanupPlan {
  const refused = refusal(listing, policy);
  const ranks = rankNewest(listing.entries);
  const items = listing.entries.map((entry): CleanupItem => {
    const decision = decide(listing, entry, ranks.get(entry) ?? 0, policy.keep);
    const refusedHere = refused !== undefined && decision.action === "remove";
    return {
      ...entry,
      ageSeconds: Math.max(0, Math.round((now.getTime() - entryTime(entry)) / 1000)),
      ...(refusedHere ? { action: "keep", reason: `not removed: ${refused}` } : decision),
    };
  });
  return {
    dataDir: listing.dataDir,
    restoreDir: listing.restoreDir,
    keep: policy.keep,
    now: now.toISOString(),
    ...(refused ? { refused } : {}),
    items,
  };
}

function refusal(listing: LeftoverListing, policy: CleanupPolicy): string | undefined {
  const pending = listing.pendingRollback;
  if (pending) {
    const what = pending.error ?? `restore of ${pending.name} at ${pending.stamp}`;
    return (
      `a restore is in progress or awaiting rollback (${rollbackRecordPath(listing.restoreDir)}: ${what}); ` +
      "let it finish or run snapshot-restore --rollback first"
    );
  }
  return policy.busy;
}

/** 0 for the newest data directory (and, apart, the newest record), 1 for the next... by stamp, then mtime. */
function rankNewest(entries: readonly LeftoverEntry[]): Map<LeftoverEntry, number> {
  const ranks = new Map<LeftoverEntry, number>();
  for (const group of [RANKED, new Set<LeftoverKind>(["record"])]) {
    const sorted = entries.filter((e) => group.has(e.kind) && !e.symlink).sort((a, b) => entryTime(b) - entryTime(a));
    sorted.forEach((e, i) => ranks.set(e, i));
  }
  return ranks;
}

function decide(
  listing: LeftoverListing,
  entry: LeftoverEntry,
  rank: number,
  keep: number,
): Pick<CleanupItem, "action" | "reason"> {
  const unsafe = unsafeReason(listing, entry);
  if (unsafe) return { action: "keep", reason: unsafe };
  if (entry.symlink) return { action: "keep", reason: "a symbolic link: not followed; remove it by hand" };
  if (RANKED.has(entry.kind) || entry.kind === "record") {
    const what = entry.kind === "record" ? "restore records" : "old data directories";
    return rank < keep
      ? { action: "keep", reason: `one of the ${keep} newest ${what} (--keep ${keep})` }
      : { action: "remove", reason: `older than the ${keep} newest ${what} kept (--keep ${keep})` };
  }
  const reason = REMOVE_REASON[entry.kind];
  return reason ? { action: "remove", reason } : { action: "keep", reason: "not something a restore leaves here" };
}

/**
 * Why `entry` must not be removed whatever the plan says, or undefined when it may: a data-directory kind must be
 * a `<basename>.<kind>-<stamp>` sibling of the data directory, any other kind a direct child of the restore
 * directory (not rollback.json), and neither may be or hold the live data directory.
 */
export function unsafeReason(dirs: { dataDir: string; restoreDir: string }, entry: LeftoverEntry): string | undefined {
  const path = resolve(entry.path);
  const dataDir = resolve(dirs.dataDir);
  if (path === dataDir || contains(path, dataDir)) return "is or holds the live data directory: never removed";
  if (DATA_KINDS.has(entry.kind)) {
    const found = classifySibling(basename(dataDir), basename(path));
    const sibling = dirname(path) === dirname(dataDir) && found?.kind === entry.kind;
    return sibling ? undefined : `not a ${basename(dataDir)}.* sibling of ${dataDir}: never removed`;
  }
  const restoreDir = resolve(dirs.restoreDir);
  const child = dirname(path) === restoreDir && basename(path) !== ROLLBACK_RECORD;
  return child ? undefined : `not directly inside ${restoreDir}: never removed`;
}

/** Whether `path` lies below `dir` (both resolved). */
function contains(dir: string, path: string): boolean {
  const rel = relative(dir, path);
  return rel !== "" && rel !== ".." && !rel.startsWith(`..${sep}`) && !isAbsolute(rel);
}

/** The restore stamp when the name has one (it says when the restore ran), else the modification time. */
function entryTime(entry: LeftoverEntry): number {
  const m = entry.stamp ? /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(entry.stamp) : null;
  if (m) return Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!);
  return new Date(entry.modified).getTime();
}

/**
 * Removes what the plan says to remove. Each path is checked again against the folders before it goes, and a
 * rollback record that appeared since the plan was made stops everything.
 */
export async function applyCleanup(plan: CleanupPlan, log?: Logger): Promise<CleanupResult> {
  const result: CleanupResult = { removed: [], failed: [] };
  if (plan.refused) return result;
  if (await exists(rollbackRecordPath(plan.restoreDir))) {
    const error = "a rollback record appeared: a restore started; nothing removed";
    return {
      removed: [],
      failed: plan.items.filter((i) => i.action === "remove").map((i) => ({ path: i.path, error })),
    };
  }
  for (const item of plan.items.filter((i) => i.action === "remove")) {
    const unsafe = unsafeReason(plan, item);
    if (unsafe) {
      result.failed.push({ path: item.path, error: unsafe });
      continue;
    }
    try {
      await rm(item.path, { recursive: true, force: true });
      result.removed.push(item.path);
      log?.info("removed restore leftover", { path: item.path, kind: item.kind, size: item.size });
    } catch (err) {
      result.failed.push({ path: item.path, error: describeError(err) });
    }
  }
  return result;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
