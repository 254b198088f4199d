/**
 * A node's restore steps (docs/design.md "Restore", README.md beside this file): fetch the prepared file from a peer,
 * rebuild the data directory beside the old one and swap it in, run the post-restore hooks, put the old data back
 * (rollback), verify a prepared file on loopback, and remove what a session leaves. The agent's routes
 * (src/agent/restore-routes.ts) parse the requests, check the session, and call these.
 */
import { mkdir, readdir, rm } from "node:fs/promises";
import { pipeline, type Readable } from "node:stream";
import { SnapshotVerifier, verifySnapshotFile } from "../archive/trailer.js";
import type { EtcdTools } from "../etcd/binaries.js";
import { runShell, lastLines } from "../etcd/exec.js";
import type { MemberController } from "../etcd/member.js";
import { restoreSnapshotToDir } from "../etcd/restore-tool.js";
import type { Contents } from "../snapshot/manifest.js";
import type { LocalStore } from "../store/local.js";
import { ChecksumMismatchError, NotFoundError } from "../util/errors.js";
import { insideDir, writeStreamAtomic } from "../util/fs.js";
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
}

/** Snapshot `name` as prepared by the peer agent at `peer` (host:port), as a stream (opened over mutual TLS). */
export type PeerDownload = (
  peer: string,
  name: string,
) => Promise<{ body: Readable; size?: number | undefined; close(): void }>;

export interface FetchStep {
  name: string;
  peer: string;
  sha256: string;
}

export interface ApplyStep {
  name: string;
  sha256: string;
  initialCluster: string;
  initialClusterToken: string;
  bumpRevision: number;
  stamp: string;
}

/** Streams the prepared file from a peer agent, verifying etcd's trailer and the expected sha256 before committing. */
export async function fetchFromPeer(
  body: FetchStep,
  openPeer: PeerDownload,
  deps: Pick<NodeDeps, "config" | "progress">,
) {
  const { config } = deps;
  await mkdir(config.restoreDir, { recursive: true, mode: 0o700 });
  const download = await openPeer(body.peer, body.name);
  const phase = deps.progress?.start("fetch", download.size);
  try {
    const verifier = new SnapshotVerifier(body.name);
    if (phase) verifier.on("data", (chunk: Buffer) => phase.add(chunk.length));
    const dest = insideDir(config.restoreDir, body.name);
    // pipeline, not pipe: a peer stream that breaks mid-way fails the write (and removes its temp file).
    await writeStreamAtomic(dest, pipeline(download.body, verifier, ignore), {
      beforeCommit: () => {
        if (verifier.result.sha256 !== body.sha256) {
          throw new ChecksumMismatchError(
            `snapshot ${body.name} fetched by ${config.node} from ${body.peer}: sha256 ${verifier.result.sha256}, expected ${body.sha256}`,
          );
        }
      },
    });
    phase?.end(true, verifier.result.size);
    return { node: config.node, ...verifier.result };
  } catch (err) {
    phase?.end(false);
    throw err;
  } finally {
    download.close();
  }
}

/** Rebuilds the data directory from the checked file beside the old one and swaps it in (the member is stopped). */
export async function apply(body: ApplyStep, deps: NodeDeps) {
  const { config } = deps;
  const snapshotPath = insideDir(config.restoreDir, body.name);
  const digest = await verifySnapshotFile(snapshotPath);
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

/** For pipeline: its errors reach the stream's reader (the write), which reports them. */
function ignore(): void {}
