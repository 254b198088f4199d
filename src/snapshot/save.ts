/**
 * Taking one snapshot on one node (runs inside the agent):
 *   health gate (with RKE's retries) -> stream from exactly this member into a hidden part file at full speed
 *   (spool.ts: the member is released as soon as etcd has sent its database) -> read behind the writer: verify
 *   etcd's trailer, zip (RKE layout) and hash in one pass -> local archive (atomic) and, on the one uploading node,
 *   S3 at the same time -> the key count and HashKV at the snapshot's revision -> S3 manifest -> local manifest (the
 *   commit point). A stored save (`compression: none`) makes its archive in the part file itself (stored.ts), and
 *   the uploader sends S3 the committed file.
 * A failure at any step leaves nothing that lists as a snapshot (no manifest is written before its archive is durable).
 */
import type { Readable } from "node:stream";
import { writeSnapshotArchive, snapshotEntryName, stateEntryName, type SnapshotArchiveResult } from "../archive/rke.js";
import type { SaveResult, UploadOutcome } from "../api/snapshots.js";
import type { Store } from "../store/store.js";
import { describeError, RemoteError } from "../util/errors.js";
import type { Logger } from "../util/log.js";
import {
  archiveKey,
  FORMAT_VERSION,
  manifestKey,
  serializeManifest,
  type Contents,
  type Manifest,
} from "./manifest.js";
import { encryptingConsumer, sealedManifest, type CopyWrite, type SaveEncryption } from "./seal.js";
import { tee, type TeeOutcome, type TeeResult } from "./tee.js";
import { measureContents, type MeasureSource } from "./contents.js";
import { spoolSnapshot } from "./spool.js";
import { writeStoredArchive, type InPlaceStore } from "./stored.js";

/** What the pipeline needs from the etcd member; the agent passes its EtcdMemberClient. */
/** `count` and `hashKV` (MeasureSource) give the snapshot's contents (src/snapshot/contents.ts). */
export interface SnapshotSource extends MeasureSource {
  health(): Promise<{ reachable: boolean; hasLeader: boolean; alarms: string[]; error?: string }>;
  status(): Promise<{ memberId: string; clusterId: string; revision: number; dbSize: number; version: string }>;
  snapshot(opts?: { signal?: AbortSignal }): Readable;
}

export interface SaveOptions {
  name: string;
  kind: Manifest["kind"];
  node: string;
  stateFile?: Buffer | undefined;
  compression: "deflate" | "store";
  level?: number | undefined;
  /** Deflate threads (src/archive/parallel-deflate.ts); 1: zlib's single stream. */
  threads?: number | undefined;
  /** Health-gate attempts after the first (RKE: 4) and the pause between them. */
  retries: number;
  retryPauseMs: number;
  toolVersion: string;
  signal?: AbortSignal | undefined;
  /** Encrypt the S3 copy (and the local one with `local`) to these age recipients (src/crypto/age.ts). */
  encryption?: SaveEncryption | undefined;
}

export interface SaveDeps {
  source: SnapshotSource;
  /**
   * This node's snapshot folder. With `scratchPath` (a LocalStore), the member's stream is spooled to a hidden file
   * there first (spool.ts), and with `commitScratch` too a stored archive is made in that file (stored.ts); without
   * them the archive writer reads the member directly (and holds it while it works).
   */
  local: Store & Partial<InPlaceStore>;
  /** Set on the node chosen to upload: S3 receives the archive while it is being written locally. */
  remote?: Store | undefined;
  log: Logger;
  clock: () => Date;
  /** Rejects when `signal` aborts (a stopping agent must not wait out the health gate's pauses). */
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  onProgress?: ((bytes: number) => void) | undefined;
}

/** What a save reports is what POST /v1/snapshots sends in its result event (src/api/snapshots.ts). */
export type { SaveResult, UploadOutcome };

/** Thrown when the member is not healthy enough to snapshot after every retry. */
export class UnhealthyMemberError extends RemoteError {
  override name = "UnhealthyMemberError";
}

export async function saveSnapshot(options: SaveOptions, deps: SaveDeps): Promise<SaveResult> {
  const started = deps.clock();
  await healthGate(options, deps);
  const status = await deps.source.status();
  options.signal?.throwIfAborted();
  const stream = deps.source.snapshot(options.signal ? { signal: options.signal } : {});
  const made = inPlace(options, deps.local)
    ? await storeInPlace(stream, options, deps, deps.local, status.revision)
    : await zipAndTee(stream, options, deps, status.revision);
  const { written, inner, released, measured } = made;
  const contents = (await measured) ?? (await measureContents(deps.source, status.revision, deps.log));
  const manifest: Manifest = {
    formatVersion: FORMAT_VERSION,
    name: options.name,
    kind: options.kind,
    clusterId: status.clusterId,
    node: options.node,
    memberId: status.memberId,
    createdAt: started.toISOString(),
    etcd: { version: status.version, revision: status.revision, dbSize: status.dbSize },
    snapshot: {
      entry: snapshotEntryName(options.name),
      size: inner.snapshotSize,
      sha256: inner.snapshotSha256,
      dbSha256: inner.dbSha256,
    },
    archive: {
      file: archiveKey(options.name),
      format: "zip",
      compression: options.compression,
      size: written.bytes,
      sha256: written.sha256,
    },
    stateFile: options.stateFile ? { included: true, entry: stateEntryName(options.name) } : { included: false },
    encryption: null,
    contents,
    tool: { name: "lifeboat", version: options.toolVersion },
  };
  const upload = deps.remote ? await commitRemote(deps.remote, manifest, written.outcomes[1], deps.log) : undefined;
  const local = sealedManifest(manifest, written.outcomes[0]);
  await deps.local.put(manifestKey(options.name), Buffer.from(serializeManifest(local)));
  deps.log.info("snapshot saved", { name: options.name, size: written.bytes, revision: status.revision });
  const result: SaveResult = { manifest: local, durationMs: deps.clock().getTime() - started.getTime() };
  if (released) result.memberMs = released.memberMs;
  if (upload) result.upload = upload;
  return result;
}

/** What making the archive gave: the copies written, the snapshot's digests, and the contents measured meanwhile. */
interface Made {
  written: Pick<TeeResult<CopyWrite>, "outcomes" | "bytes" | "sha256">;
  inner: SnapshotArchiveResult;
  released: { bytes: number; memberMs: number } | undefined;
  /** Undefined when nothing measured meanwhile (the save then measures after the archive); null when it failed. */
  measured: Promise<Contents | null> | undefined;
}

/** A stored save into a node's folder, with its own copy plain: the archive is made in place (stored.ts). */
function inPlace(options: SaveOptions, local: SaveDeps["local"]): local is SaveDeps["local"] & InPlaceStore {
  return (
    options.compression === "store" &&
    !options.encryption?.local &&
    typeof local.scratchPath === "function" &&
    typeof local.commitScratch === "function"
  );
}

/**
 * The member's stream is spooled to a hidden part file when the folder has one (spool.ts), then zipped while it is
 * read back (a compressed save), and the archive goes to the local copy and, on the uploader, S3 at the same time.
 */
async function zipAndTee(stream: Readable, options: SaveOptions, deps: SaveDeps, revision: number): Promise<Made> {
  const scratch = options.compression === "deflate" ? deps.local.scratchPath?.(`${options.name}.db`) : undefined;
  const spool = scratch ? await spoolSnapshot(stream, scratch) : undefined;
  // Once etcd has sent its database, its key count and HashKV are read while the archive is still being made.
  const measured = spool?.released.then(
    () => measureContents(deps.source, revision, deps.log),
    () => null,
  );
  try {
    const archive = writeSnapshotArchive({
      name: options.name,
      snapshot: spool ? spool.reader : stream,
      stateFile: options.stateFile,
      method: options.compression,
      level: options.level,
      threads: options.threads,
    });
    const enc = options.encryption;
    const consumers = [encryptingConsumer(options.name, deps.local, enc?.local ? enc : undefined)];
    if (deps.remote) consumers.push({ ...encryptingConsumer(options.name, deps.remote, enc), optional: true });
    const written = await tee(archive.output, consumers, deps.onProgress);
    const inner = await archive.done;
    return { written, inner, released: await spool?.released, measured };
  } finally {
    await spool?.close();
  }
}

/** The archive made in place in the node's folder (stored.ts), then, on the uploader, S3 sent the committed file. */
async function storeInPlace(
  stream: Readable,
  options: SaveOptions,
  deps: SaveDeps,
  local: InPlaceStore,
  revision: number,
): Promise<Made> {
  let measured: Promise<Contents | null> | undefined;
  const made = await writeStoredArchive(stream, local, {
    name: options.name,
    stateFile: options.stateFile,
    onReleased: () => {
      measured = measureContents(deps.source, revision, deps.log);
    },
    onProgress: deps.onProgress,
  });
  const put = { key: made.archive.key, size: made.archive.bytes, verified: "local-fsync" as const };
  const outcomes: TeeOutcome<CopyWrite>[] = [{ ok: true, value: { put } }];
  if (deps.remote) {
    const upload = encryptingConsumer(options.name, deps.remote, options.encryption);
    try {
      outcomes.push({ ok: true, value: await upload.run(await deps.local.get(made.archive.key)) });
    } catch (error) {
      outcomes.push({ ok: false, error });
    }
  }
  return {
    written: { outcomes, bytes: made.archive.bytes, sha256: made.archive.sha256 },
    inner: made.inner,
    released: made.released,
    measured,
  };
}

async function healthGate(options: SaveOptions, deps: SaveDeps): Promise<void> {
  let reason = "";
  const signal = options.signal;
  for (let attempt = 0; attempt <= options.retries; attempt++) {
    options.signal?.throwIfAborted();
    if (attempt > 0) {
      deps.log.warn("member not healthy, retrying", { attempt, of: options.retries, reason });
      await deps.sleep(options.retryPauseMs, options.signal);
      options.signal?.throwIfAborted();
    }
    // A cancelled run (a restore pausing the schedule, the agent stopping) never waits out the retries.
    signal?.throwIfAborted();
    const health = await deps.source.health();
    if (!health.reachable) reason = `member unreachable: ${health.error ?? "no answer"}`;
    else if (!health.hasLeader) reason = "member has no leader (no quorum)";
    else if (health.alarms.length) reason = `active alarm: ${health.alarms.join(", ")}`;
    else return;
  }
  throw new UnhealthyMemberError(reason, true);
}

/** The S3 copy exists for Lifeboat once its manifest is stored beside the verified archive. */
async function commitRemote(
  remote: Store,
  manifest: Manifest,
  outcome: TeeOutcome<CopyWrite> | undefined,
  log: Logger,
): Promise<UploadOutcome> {
  if (!outcome?.ok) {
    const error = describeError(outcome?.error ?? "upload did not run");
    log.warn("upload failed; the local archive is kept", { name: manifest.name, error });
    return { ok: false, error };
  }
  try {
    const sealed = sealedManifest(manifest, outcome);
    await remote.put(manifestKey(manifest.name), Buffer.from(serializeManifest(sealed)));
    return { ok: true, key: outcome.value.put.key, verified: outcome.value.put.verified };
  } catch (err) {
    return { ok: false, error: `manifest upload failed: ${describeError(err)}` };
  }
}
