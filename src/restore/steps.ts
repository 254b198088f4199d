/**
 * A node's restore steps (docs/design.md "Restore", README.md beside this file): fetch the prepared file from a peer,
 * rebuild the data directory beside the old one and swap it in, run the post-restore hooks, put the old data back
 * (rollback), verify a prepared file on loopback, and remove what a session leaves. The agent's routes
 * (src/agent/restore-routes.ts) parse the requests, check the session, and call these.
 */
import { mkdir, readdir, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { verifySnapshotFile, type SnapshotDigest } from "../archive/trailer.js";
import type { EtcdTools } from "../etcd/binaries.js";
import { runShell, lastLines } from "../etcd/exec.js";
import type { MemberController } from "../etcd/member.js";
import { restoreSnapshotToDir } from "../etcd/restore-tool.js";
import type { Contents } from "../snapshot/manifest.js";
import type { LocalStore } from "../store/local.js";
import { ChecksumMismatchError, NotFoundError } from "../util/errors.js";
import { insideDir } from "../util/fs.js";
import { GrowingFile } from "../util/growing-file.js";
import type { Logger } from "../util/log.js";
import {
  exists,
  readRollbackRecord,
  reinstateRestoredRecord,
  removeStaleStaging,
  restoredStampOf,
  ROLLBACK_RECORD,
  rollbackDataDir,
  stagingDirFor,
  swapDataDir,
} from "./node.js";
import { cancelling, extractArriving } from "./incoming.js";
import { counted, type RestoreProgressTracker } from "./progress.js";
import { verifySnapshotOnLoopback } from "./verify.js";

/** What the node side needs of its agent. */
export interface NodeDeps {
  config: {
    node: string;
    restoreDir: string;
    snapshotDir: string;
    postRestore: readonly string[];
    etcd: { dataDir: string; peerUrl: string };
  };
  member: Pick<MemberController, "state" | "stop">;
  /** This node's snapshot folder. */
  local: LocalStore;
  tools: () => Promise<EtcdTools>;
  log: Logger;
  clock: () => Date;
  /** Where the steps count their bytes (GET /v1/restore/progress); absent where nobody asks. */
  progress?: RestoreProgressTracker | undefined;
  /** The snapshot files verified in the open session, so that the rebuild need not hash them again. */
  verified?: VerifiedFiles | undefined;
}

/** Snapshot `name` as prepared by the peer agent at `peer` (host:port), as a stream (opened over mutual TLS). */
export type PeerDownload = (
  peer: string,
  name: string,
) => Promise<{ body: Readable; size?: number | undefined; close(): void }>;

export interface FetchStep {
  name: string;
  peer: string;
  /** The snapshot's sha256 when the coordinator knows it in advance (from the manifest); else it compares after. */
  sha256?: string | undefined;
  /** The snapshot's size when known, for the progress total. */
  size?: number | undefined;
}

export interface ApplyStep {
  name: string;
  sha256: string;
  initialCluster: string;
  initialClusterToken: string;
  bumpRevision: number;
  stamp: string;
}

/**
 * Streams what the peer serves (the archive as it arrives there, or its prepared snapshot file) into
 * `<restore_dir>/download/`, and the snapshot out of it into `<restore_dir>/<name>` as the bytes come: inflated,
 * trailer and sha256 checked, compared with `sha256` when given, and committed only once the whole archive is there
 * and its central directory agrees (extractSnapshotStreaming). The received archive is removed once the snapshot is.
 */
export async function fetchFromPeer(
  body: FetchStep,
  openPeer: PeerDownload,
  deps: Pick<NodeDeps, "config" | "progress" | "verified">,
) {
  const { config } = deps;
  const downloads = join(config.restoreDir, "download");
  await mkdir(downloads, { recursive: true, mode: 0o700 });
  const download = await openPeer(body.peer, body.name);
  const phase = deps.progress?.start("fetch", body.size);
  const received = await GrowingFile.create(insideDir(downloads, `${body.name}.from-peer`));
  const dest = insideDir(config.restoreDir, body.name);
  try {
    // A peer stream that breaks mid-way fails the write, and the extraction with it. The received copy is scratch.
    const incoming = {
      file: received,
      arrived: received.fill(download.body, { durable: false }),
      cancel: cancelling(download.body),
    };
    const digest = await extractArriving(incoming, {
      name: body.name,
      destPath: dest,
      size: body.size,
      ...(phase ? { onBytes: (n: number) => phase.add(n) } : {}),
      check: (digest) => {
        if (body.sha256 !== undefined && digest.sha256 !== body.sha256) {
          throw new ChecksumMismatchError(
            `snapshot ${body.name} fetched by ${config.node} from ${body.peer}: sha256 ${digest.sha256}, expected ${body.sha256}`,
          );
        }
      },
    });
    await deps.verified?.record(dest, digest);
    phase?.end(true, digest.size);
    return { node: config.node, size: digest.size, sha256: digest.sha256, dbSha256: digest.dbSha256 };
  } catch (err) {
    phase?.end(false);
    throw err;
  } finally {
    download.close();
    await received.release();
    await rm(received.path, { force: true });
  }
}

/**
 * The snapshot files this agent wrote and verified in the open session, by path, with their inode, size and times
 * right after the write. A file whose stat still matches has not been written to since (any write moves its mtime
 * and ctime, and ctime cannot be set back from user space), so the rebuild need not read it a second time to hash
 * it; the restore tool checks the snapshot's own sha256 trailer as it reads anyway. Held in memory only: an agent
 * that restarted re-hashes.
 */
export class VerifiedFiles {
  private readonly files = new Map<string, { digest: SnapshotDigest; stamp: string }>();

  async record(path: string, digest: SnapshotDigest): Promise<void> {
    this.files.set(path, { digest, stamp: await statStamp(path) });
  }

  /** The recorded digest of `path` when the file is unchanged since it was recorded. */
  async unchanged(path: string): Promise<SnapshotDigest | undefined> {
    const known = this.files.get(path);
    if (!known) return undefined;
    const now = await statStamp(path).catch(() => undefined);
    return now === known.stamp ? known.digest : undefined;
  }

  clear(): void {
    this.files.clear();
  }
}

async function statStamp(path: string): Promise<string> {
  const s = await stat(path, { bigint: true });
  return [s.dev, s.ino, s.size, s.mtimeNs, s.ctimeNs].join(":");
}

/** Rebuilds the data directory from the checked file beside the old one and swaps it in (the member is stopped). */
export async function apply(body: ApplyStep, deps: NodeDeps) {
  const { config } = deps;
  const snapshotPath = insideDir(config.restoreDir, body.name);
  const recorded = await deps.verified?.unchanged(snapshotPath);
  const digest = recorded ?? (await verifySnapshotFile(snapshotPath));
  if (recorded) deps.log.info("snapshot unchanged since it was verified: not hashed again", { name: body.name });
  if (digest.sha256 !== body.sha256) {
    throw new ChecksumMismatchError(
      `snapshot ${body.name} on ${config.node}: sha256 ${digest.sha256}, expected ${body.sha256}`,
    );
  }
  const stale = await removeStaleStaging(config.etcd.dataDir);
  if (stale.length) deps.log.info("removed leftovers of an earlier restore attempt", { stale });
  const staged = stagingDirFor(config.etcd.dataDir, body.stamp);
  const rebuild = async () =>
    restoreSnapshotToDir({
      tools: await deps.tools(),
      snapshotPath,
      dataDir: staged,
      name: config.node,
      initialCluster: body.initialCluster,
      initialClusterToken: body.initialClusterToken,
      initialAdvertisePeerUrls: config.etcd.peerUrl,
      ...(body.bumpRevision > 0 ? { bumpRevision: body.bumpRevision, markCompacted: true } : {}),
    });
  // The restore tool reports no bytes: the rebuild shows its time, of the snapshot's size.
  await counted(deps.progress, "rebuild", digest.size, rebuild, { bytes: false });
  const record = await swapDataDir({
    dataDir: config.etcd.dataDir,
    stagedDir: staged,
    stamp: body.stamp,
    name: body.name,
    restoreDir: config.restoreDir,
    now: deps.clock(),
  });
  deps.log.info("data directory restored", { name: body.name, oldDataDir: record.oldDataDir ?? null });
  return { node: config.node, ...record };
}

/** The post-restore hooks, one after another; a failing one is reported, never fatal. */
export async function runHooks(commands: readonly string[], deps: Pick<NodeDeps, "log">) {
  const results = [];
  for (const command of commands) {
    const result = await runShell(command, { timeoutMs: 300_000 });
    results.push({ command, code: result.code, output: lastLines(result.stdout + result.stderr, 5) });
    if (result.code !== 0) deps.log.warn("post-restore hook failed", { command, code: result.code });
  }
  return results;
}

/**
 * Puts the data directory from before the restore back: the pending one (a restore that failed or was cut off), or,
 * with `stamp` and nothing pending, the one kept by that successful restore. The member is stopped first and left
 * stopped: the CLI starts every member together.
 */
export async function rollback(stamp: string | undefined, deps: NodeDeps) {
  const dir = deps.config.restoreDir;
  const pending = await readRollbackRecord(dir);
  if (!pending && !stamp) return { restored: false, reason: "no restore is pending on this node" };
  if (!pending && stamp) await reinstateRestoredRecord(dir, stamp);
  if ((await deps.member.state()) !== "stopped") await deps.member.stop();
  const result = await rollbackDataDir(dir);
  await removeRestoreFiles(deps, "rolled back");
  deps.log.warn("restore rolled back", { restored: result.restored, stamp: result.record?.stamp ?? null });
  return result;
}

/**
 * Removes what restores leave in the restore folder (extracted snapshots, downloads, verify folders, temp files) and
 * stale staging directories; never the rollback record nor the records of finished restores.
 */
export async function removeRestoreFiles(
  deps: { config: Pick<NodeDeps["config"], "restoreDir" | "etcd">; log: Logger },
  reason: string,
) {
  const dir = deps.config.restoreDir;
  const keep = (n: string) => n === ROLLBACK_RECORD || restoredStampOf(n) !== undefined;
  const names = await readdir(dir).catch(() => [] as string[]);
  const removed = names.filter((n) => !keep(n));
  for (const n of removed) await rm(insideDir(dir, n), { recursive: true, force: true });
  if (!(await readRollbackRecord(dir).catch(() => undefined))) {
    removed.push(...(await removeStaleStaging(deps.config.etcd.dataDir)));
  }
  if (removed.length) deps.log.info("removed restore leftovers", { reason, removed: removed.length });
}

/** Restores the prepared file into a throwaway etcd on loopback; the file is removed whatever the outcome. */
export async function verifyPrepared(name: string, expected: Contents | null | undefined, deps: NodeDeps) {
  const path = insideDir(deps.config.restoreDir, name);
  if (!(await exists(path))) throw new NotFoundError(`no prepared snapshot ${name} on ${deps.config.node}`);
  try {
    return await verifySnapshotOnLoopback({
      snapshotPath: path,
      tools: await deps.tools(),
      workDir: deps.config.restoreDir,
      log: deps.log,
      expected,
    });
  } finally {
    await rm(path, { force: true });
  }
}
