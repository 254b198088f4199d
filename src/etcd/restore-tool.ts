/**
 * etcd's offline snapshot commands: restore a snapshot into a new data directory, and read a snapshot's status.
 * From 3.5 on they live in etcdutl; 3.4 has them in etcdctl (with ETCDCTL_API=3).
 */
import { lstat, mkdir, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { randomBytes } from "node:crypto";
import { z } from "zod";
import { ChecksumMismatchError, UserError } from "../util/errors.js";
import { renameDurably } from "../util/fs.js";
import type { EtcdTools } from "./binaries.js";
import { assertSucceeded, CommandFailedError, runCommand } from "./exec.js";

export interface RestoreOptions {
  tools: EtcdTools;
  snapshotPath: string;
  /** Must not exist; it appears only once the restore has succeeded. */
  dataDir: string;
  name: string;
  /** "name=peerURL,..." of every member of the restored cluster: the same on every member. */
  initialCluster: string;
  initialClusterToken: string;
  /** This member's peer URL(s), comma-separated. */
  initialAdvertisePeerUrls: string;
  /** Raise the revision by this much, so that watchers and caches see the restore as newer (see supportsBumpRevision). */
  bumpRevision?: number;
  /** Mark the new revision compacted; defaults to true exactly when bumpRevision > 0, which etcdutl requires. */
  markCompacted?: boolean;
  /** Accept a snapshot without etcd's sha256 trailer (a db file copied from a data directory). */
  skipHashCheck?: boolean;
  timeoutMs?: number;
}

export interface SnapshotStatus {
  hash: number;
  revision: number;
  totalKey: number;
  totalSize: number;
}

const DEFAULT_TIMEOUT_MS = 10 * 60_000;
const HELP_TIMEOUT_MS = 10_000;

/**
 * Restores `snapshotPath` into `dataDir` (into a temporary sibling first, renamed at the end). Throws UserError for
 * options the tool cannot honour (checked before touching the disk), ChecksumMismatchError when the snapshot's
 * trailer does not verify, and CommandFailedError for any other failure of the tool.
 */
export async function restoreSnapshotToDir(o: RestoreOptions): Promise<void> {
  const markCompacted = o.markCompacted ?? (o.bumpRevision ?? 0) > 0;
  await validateRestore(o, markCompacted);
  const staging = join(dirname(o.dataDir), `.${basename(o.dataDir)}.${randomBytes(4).toString("hex")}.restoring`);
  const args = [
    "snapshot",
    "restore",
    o.snapshotPath,
    `--data-dir=${staging}`,
    `--name=${o.name}`,
    `--initial-cluster=${o.initialCluster}`,
    `--initial-cluster-token=${o.initialClusterToken}`,
    `--initial-advertise-peer-urls=${o.initialAdvertisePeerUrls}`,
  ];
  if (o.skipHashCheck) args.push("--skip-hash-check");
  if (o.bumpRevision) args.push(`--bump-revision=${o.bumpRevision}`);
  if (markCompacted) args.push("--mark-compacted");
  const { file, env } = offlineTool(o.tools);
  const timeoutMs = o.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  await mkdir(dirname(o.dataDir), { recursive: true });
  try {
    const result = await runCommand(file, args, { timeoutMs, env });
    if (result.code !== 0 && /sha256|missing hash|integrity/i.test(result.stderr)) {
      throw new ChecksumMismatchError(`snapshot ${o.snapshotPath} did not verify: ${lastLine(result.stderr)}`);
    }
    assertSucceeded(`${basename(file)} snapshot restore`, result, timeoutMs);
    await renameDurably(staging, o.dataDir);
  } catch (err) {
    await rm(staging, { recursive: true, force: true });
    throw err;
  }
}

/** Whether this etcd's restore command has --bump-revision, read from its --help. */
export async function supportsBumpRevision(tools: EtcdTools): Promise<boolean> {
  const { file, env } = offlineTool(tools);
  const result = await runCommand(file, ["snapshot", "restore", "--help"], { timeoutMs: HELP_TIMEOUT_MS, env });
  return /--bump-revision\b/.test(result.stdout + result.stderr);
}

const StatusJson = z.object({
  hash: z.number(),
  revision: z.number(),
  totalKey: z.number(),
  totalSize: z.number(),
});

/** The status of a snapshot file (`snapshot status -w json`): hash of its contents, revision, keys, size. */
export async function snapshotStatus(tools: EtcdTools, path: string): Promise<SnapshotStatus> {
  const { file, env } = offlineTool(tools);
  const result = await runCommand(file, ["snapshot", "status", path, "-w", "json"], { timeoutMs: 60_000, env });
  assertSucceeded(`${basename(file)} snapshot status`, result, 60_000);
  const parsed = StatusJson.safeParse(parseJson(result.stdout));
  if (!parsed.success) {
    throw new CommandFailedError(`unexpected output of snapshot status for ${path}: ${parsed.error.message}`, 0, "");
  }
  return parsed.data;
}

async function validateRestore(o: RestoreOptions, markCompacted: boolean): Promise<void> {
  const bump = o.bumpRevision ?? 0;
  if (!Number.isSafeInteger(bump) || bump < 0) throw new UserError(`bumpRevision must be a whole number >= 0`);
  if (markCompacted && bump === 0) throw new UserError("markCompacted needs bumpRevision > 0");
  if (bump > 0 && !markCompacted) throw new UserError("bumpRevision > 0 needs markCompacted");
  if (bump > 0 && !(await supportsBumpRevision(o.tools))) {
    throw new UserError(`etcd ${o.tools.version} cannot bump the revision on restore (no --bump-revision)`);
  }
  if (await exists(o.dataDir)) throw new UserError(`restore target ${o.dataDir} already exists`);
}

function offlineTool(tools: EtcdTools): { file: string; env: NodeJS.ProcessEnv } {
  if (tools.etcdutl) return { file: tools.etcdutl, env: process.env };
  return { file: tools.etcdctl, env: { ...process.env, ETCDCTL_API: "3" } };
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function lastLine(text: string): string {
  return text.trim().split("\n").at(-1) ?? "";
}
