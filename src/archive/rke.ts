/**
 * RKE's snapshot archive layout (rke-tools `compressFiles`): a ZIP, deflated, every entry's time forced to the
 * Unix epoch, entry names being absolute in-container paths with the leading slash:
 *   /backup/<name>                     the etcd snapshot as `etcdctl snapshot save` wrote it (trailer included)
 *   /etc/kubernetes/<name>.rkestate    the cluster state file, when there was one
 * RKE looks entries up by exact name, so these names must be reproduced byte for byte.
 */
import { createReadStream } from "node:fs";
import { open } from "node:fs/promises";
import { Readable, type Transform } from "node:stream";
import { crc32 } from "node:zlib";
import { chunksOf } from "../util/chunks.js";
import { ArchiveError, NotFoundError, UserError } from "../util/errors.js";
import { writeStreamAtomic } from "../util/fs.js";
import { validateSnapshotName } from "./names.js";
import { SnapshotVerifier, type SnapshotDigest } from "./trailer.js";
import { SIG, type MethodName } from "./zip-format.js";
import { openZip, type ZipReader } from "./zip-reader.js";
import { confirmStreamedEntry, streamFirstEntry } from "./zip-stream.js";
import { ZipWriter, type EntryResult } from "./zip-writer.js";

export { isRecurringName, validateSnapshotName } from "./names.js";

/**
 * Deflate level for snapshots unless configured (`lifeboat.snapshot.level`). Measured by `npm run bench` on a 512 MiB
 * database: level 1 keeps 35.0% of the bytes at 96 MiB/s, level 6 (zlib's and zip's default) 33.2% at 35 MiB/s.
 */
export const DEFAULT_SNAPSHOT_LEVEL = 1;

/** The state file is a few hundred KiB in practice; anything past this is not one. */
export const MAX_STATE_FILE_BYTES = 64 * 1024 * 1024;

export function snapshotEntryName(name: string): string {
  return `/backup/${name}`;
}

export function stateEntryName(name: string): string {
  return `/etc/kubernetes/${name}.rkestate`;
}

export interface SnapshotArchiveOptions {
  name: string;
  /** The snapshot stream (DB plus sha256 trailer), e.g. from Maintenance.Snapshot. */
  snapshot: Readable;
  stateFile?: Buffer | undefined;
  /** Default "deflate", as RKE writes. */
  method?: MethodName | undefined;
  level?: number | undefined;
  /** Deflate threads for the snapshot entry (ZipWriter's `threads`: 1, the default, deflates on this thread). */
  threads?: number | undefined;
  /** Passed to ZipWriter (tests). */
  forceZip64?: boolean;
}

export interface SnapshotArchiveResult {
  /** Size and digests of the snapshot file inside the archive (see SnapshotDigest). */
  snapshotSize: number;
  snapshotSha256: string;
  dbSha256: string;
  snapshotCompressedSize: number;
  snapshotCrc32: number;
  /** Bytes of the state file entry, when one was written. */
  stateFileSize?: number;
  /** Size of the whole archive. */
  archiveBytes: number;
}

/**
 * Zips `snapshot` as `/backup/<name>` (then `stateFile`, if given, as `/etc/kubernetes/<name>.rkestate`) in one
 * pass that also verifies the snapshot's sha256 trailer. Read `output` to the end (file, upload, or both);
 * `done` resolves once the archive is complete. On any failure, a bad trailer included, `output` fails with the
 * same error and `done` rejects, so a consumer never keeps a half-written or unverified archive.
 * Throws UserError at once for an unsafe name.
 */
export function writeSnapshotArchive(options: SnapshotArchiveOptions): {
  output: Readable;
  done: Promise<SnapshotArchiveResult>;
} {
  assertName(options.name);
  const writer = new ZipWriter(options.forceZip64 ? { forceZip64: true } : {});
  const done = writeEntries(writer, options);
  // Callers usually await `done` only after consuming `output`; an early failure must not count as unhandled.
  done.catch(() => undefined);
  return { output: writer.output, done };
}

export interface StoredSnapshotArchive {
  /** The snapshot entry's local header: the file's first bytes, right before the snapshot's. */
  header: Buffer;
  /**
   * Reads the snapshot's bytes back (`data`, the file after `header`), verifying etcd's trailer and computing the
   * CRC-32 on the way (each chunk is also given to `onData`), and resolves with what follows them in the file: the
   * data descriptor, the state file's entry, the central directory and the end records. Rejects as
   * writeSnapshotArchive does (a bad trailer: ChecksumMismatchError).
   */
  finish(data: Readable, onData?: (chunk: Buffer) => void): Promise<{ tail: Buffer; result: SnapshotArchiveResult }>;
}

/**
 * writeSnapshotArchive with `method: "store"`, for a snapshot whose bytes are written straight into the archive file
 * (src/snapshot/stored.ts): `header`, the snapshot, then `finish`'s `tail` are, byte for byte, what
 * writeSnapshotArchive writes for the same snapshot and state file. Throws UserError at once for an unsafe name.
 */
export function storedSnapshotArchive(
  options: Pick<SnapshotArchiveOptions, "name" | "stateFile" | "forceZip64">,
): StoredSnapshotArchive {
  assertName(options.name);
  const writer = new ZipWriter(options.forceZip64 ? { forceZip64: true } : {});
  const header = writer.beginWrittenEntry(snapshotEntryName(options.name));
  const collected = (async () => {
    const parts: Buffer[] = [];
    for await (const chunk of chunksOf(writer.output)) parts.push(chunk);
    return Buffer.concat(parts);
  })();
  collected.catch(() => undefined);
  const finish = async (data: Readable, onData?: (chunk: Buffer) => void) => {
    const verifier = new SnapshotVerifier(`snapshot ${options.name}`);
    try {
      let crc = 0;
      for await (const chunk of chunksOf(through(data, verifier))) {
        crc = crc32(chunk, crc);
        onData?.(chunk);
      }
      const digest = verifier.result;
      const snap = await writer.endWrittenEntry({ size: digest.size, crc32: crc });
      const result = archiveResult(digest, snap);
      if (options.stateFile) {
        const state = await writer.addEntry(stateEntryName(options.name), options.stateFile, { method: "store" });
        result.stateFileSize = state.size;
      }
      result.archiveBytes = (await writer.finish()).bytes;
      return { tail: await collected, result };
    } catch (err) {
      data.destroy();
      writer.abort(err instanceof Error ? err : new Error(String(err)));
      throw err;
    }
  };
  return { header, finish };
}

function archiveResult(digest: SnapshotDigest, snap: EntryResult): SnapshotArchiveResult {
  return {
    snapshotSize: digest.size,
    snapshotSha256: digest.sha256,
    dbSha256: digest.dbSha256,
    snapshotCompressedSize: snap.compressedSize,
    snapshotCrc32: snap.crc32,
    archiveBytes: 0,
  };
}

async function writeEntries(writer: ZipWriter, options: SnapshotArchiveOptions): Promise<SnapshotArchiveResult> {
  const entryOptions = {
    method: options.method ?? "deflate",
    level: options.level ?? DEFAULT_SNAPSHOT_LEVEL,
  };
  const verifier = new SnapshotVerifier(`snapshot ${options.name}`);
  try {
    const snap = await writer.addEntry(snapshotEntryName(options.name), through(options.snapshot, verifier), {
      ...entryOptions,
      threads: options.threads ?? 1,
    });
    const result = archiveResult(verifier.result, snap);
    if (options.stateFile) {
      const state = await writer.addEntry(stateEntryName(options.name), options.stateFile, entryOptions);
      result.stateFileSize = state.size;
    }
    result.archiveBytes = (await writer.finish()).bytes;
    return result;
  } catch (err) {
    options.snapshot.destroy();
    writer.abort(err instanceof Error ? err : new Error(String(err)));
    throw err;
  }
}

/** `source` piped into `transform`, with the source's errors carried over (plain `pipe` drops them). */
function through(source: Readable, transform: Transform): Transform {
  source.once("error", (err) => transform.destroy(err));
  return source.pipe(transform);
}

function assertName(name: string): void {
  const reason = validateSnapshotName(name, { allowRecurring: true });
  if (reason) throw new UserError(`invalid snapshot name ${JSON.stringify(name)}: ${reason}`);
}

/**
 * "zip" when the file starts with a ZIP signature, otherwise "raw" (a bare snapshot file). Ignores the extension.
 * NotFoundError when there is no such file.
 */
export async function detectSnapshotFile(path: string): Promise<"zip" | "raw"> {
  const handle = await open(path, "r").catch((err: NodeJS.ErrnoException) => {
    throw err.code === "ENOENT" ? new NotFoundError(`snapshot file ${path} does not exist`, { cause: err }) : err;
  });
  try {
    const head = Buffer.alloc(4);
    const { bytesRead } = await handle.read(head, 0, 4, 0);
    return startsAsZip(head.subarray(0, bytesRead)) ? "zip" : "raw";
  } finally {
    await handle.close();
  }
}

/** The first bytes of a file are a ZIP's: a local file header, or the end record of an empty archive. */
function startsAsZip(head: Buffer): boolean {
  if (head.length < 4) return false;
  const signature = head.readUInt32LE(0);
  return signature === SIG.localHeader || signature === SIG.end;
}

export interface ExtractOptions {
  /** Refuse a snapshot entry larger than this (uncompressed). Default: no limit. */
  maxSize?: number;
  /** Mode of the extracted file; default 0600. */
  mode?: number;
  /** Told of the snapshot bytes as they are written (for progress). */
  onBytes?: (bytes: number) => void;
}

export interface ExtractResult extends SnapshotDigest {
  format: "zip" | "raw";
  /** The zip entry the snapshot came from. */
  entry?: string;
}

/**
 * Writes the snapshot `name` held in `path` to `destPath` atomically, with its trailer verified: nothing appears
 * at `destPath` unless the whole snapshot checked out. For a zip the entry is `/backup/<name>` exactly, or
 * `backup/<name>` (re-zipped by hand); a raw snapshot file is verified and copied. Rejects with ArchiveError for
 * a bad archive or a missing entry, ChecksumMismatchError for a bad snapshot, UserError for an unsafe name,
 * NotFoundError when `path` does not exist.
 */
export async function extractSnapshot(
  path: string,
  name: string,
  destPath: string,
  options: ExtractOptions = {},
): Promise<ExtractResult> {
  assertName(name);
  const verifier = new SnapshotVerifier(`snapshot ${name} in ${path}`);
  const onBytes = options.onBytes;
  if (onBytes) verifier.on("data", (chunk: Buffer) => onBytes(chunk.length));
  const mode = options.mode ?? 0o600;
  if ((await detectSnapshotFile(path)) === "raw") {
    await writeStreamAtomic(destPath, through(createReadStream(path, { highWaterMark: 1 << 20 }), verifier), { mode });
    return { ...verifier.result, format: "raw" };
  }
  const zip = await openZip(path);
  try {
    const entry = findEntry(zip, snapshotEntryName(name));
    if (!entry) throw new ArchiveError(`${path} holds no ${snapshotEntryName(name)} entry (${listEntries(zip)})`);
    const data = zip.openEntry(entry, options.maxSize === undefined ? {} : { maxSize: options.maxSize });
    await writeStreamAtomic(destPath, through(data, verifier), { mode });
    return { ...verifier.result, format: "zip", entry };
  } finally {
    await zip.close();
  }
}

export interface StreamingExtractOptions extends ExtractOptions {
  /** The archive (or raw snapshot file) from its first byte, as it arrives. */
  source: Readable;
  /** Resolves with the path of the whole archive once it arrived and was checked; rejects when it did not. */
  whole: () => Promise<string>;
  name: string;
  destPath: string;
  /** Runs on the snapshot's digest before it is committed: throw to refuse it (nothing appears at `destPath`). */
  check?: (digest: SnapshotDigest) => void;
  /** The snapshot's size when known (its manifest's): a stored entry can then stream too (zip-stream.ts). */
  size?: number | undefined;
}

/**
 * extractSnapshot, from an archive that is still arriving: the snapshot entry, when it comes first (ours and RKE's
 * do), is inflated and verified as its bytes arrive; a raw snapshot file is verified as it arrives. Nothing is
 * committed at `destPath` before the whole archive is there and its central directory confirms the streamed entry
 * (zip-stream.ts), so the checks are extractSnapshot's. An archive whose first entry is another, or whose stored
 * entry has its size after the data, is extracted from disk once whole. Errors as extractSnapshot's.
 */
export async function extractSnapshotStreaming(o: StreamingExtractOptions): Promise<ExtractResult> {
  assertName(o.name);
  const label = `snapshot ${o.name} in ${o.destPath}`;
  const { head, stream } = await peek(o.source, 4);
  const mode = o.mode ?? 0o600;
  const verifier = new SnapshotVerifier(`snapshot ${o.name}`);
  const onBytes = o.onBytes;
  if (onBytes) verifier.on("data", (chunk: Buffer) => onBytes(chunk.length));
  const commit = (data: Readable, confirm: () => Promise<void>) =>
    writeStreamAtomic(o.destPath, through(data, verifier), {
      mode,
      beforeCommit: async () => {
        await confirm();
        o.check?.(verifier.result);
      },
    });
  if (!startsAsZip(head)) {
    await commit(stream, async () => void (await o.whole()));
    return { ...verifier.result, format: "raw" };
  }
  const absolute = snapshotEntryName(o.name);
  const streamed = await streamFirstEntry(stream, [absolute, absolute.slice(1)], {
    label,
    maxSize: o.maxSize,
    size: o.size,
  });
  if ("reason" in streamed) {
    stream.destroy();
    const path = await o.whole();
    const result = await extractSnapshot(path, o.name, o.destPath, o);
    o.check?.(result);
    return result;
  }
  await commit(streamed.data, async () => {
    const path = await o.whole();
    const zip = await openZip(path);
    try {
      const entry = findEntry(zip, absolute);
      if (entry !== streamed.entry.name)
        throw new ArchiveError(`${path}: its snapshot entry is ${JSON.stringify(entry)}, not the first one`);
      confirmStreamedEntry(zip, streamed.entry, path);
    } finally {
      await zip.close();
    }
  });
  return { ...verifier.result, format: "zip", entry: streamed.entry.name };
}

/** The first `bytes` bytes of `source` (fewer at its end), and a stream of all of it, those bytes included. */
async function peek(source: Readable, bytes: number): Promise<{ head: Buffer; stream: Readable }> {
  const chunks = source[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const first: Buffer[] = [];
  let have = 0;
  let ended = false;
  while (have < bytes) {
    const next = await chunks.next();
    if (next.done) {
      ended = true;
      break;
    }
    first.push(next.value);
    have += next.value.length;
  }
  async function* all(): AsyncGenerator<Buffer> {
    yield* first;
    if (ended) return;
    for (;;) {
      const next = await chunks.next();
      if (next.done) return;
      yield next.value;
    }
  }
  const stream = Readable.from(all(), { objectMode: false });
  stream.once("close", () => void chunks.return?.());
  return { head: Buffer.concat(first).subarray(0, bytes), stream };
}

/**
 * The cluster state file stored with snapshot `name` in `path` (`/etc/kubernetes/<name>.rkestate`, or the same
 * without the leading slash), or undefined for a raw snapshot or an archive without one. ArchiveError past
 * MAX_STATE_FILE_BYTES or for a corrupt entry.
 */
export async function readStateFile(path: string, name: string): Promise<Buffer | undefined> {
  assertName(name);
  if ((await detectSnapshotFile(path)) === "raw") return undefined;
  const zip = await openZip(path);
  try {
    const entry = findEntry(zip, stateEntryName(name));
    if (!entry) return undefined;
    const chunks: Buffer[] = [];
    for await (const chunk of zip.openEntry(entry, { maxSize: MAX_STATE_FILE_BYTES })) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  } finally {
    await zip.close();
  }
}

/** The exact absolute name, else the same name without its leading slash; never a prefix match. */
function findEntry(zip: ZipReader, absolute: string): string | undefined {
  return [absolute, absolute.slice(1)].find((n) => zip.getEntry(n) !== undefined);
}

function listEntries(zip: ZipReader): string {
  const names = zip.entries.map((e) => JSON.stringify(e.name));
  if (names.length === 0) return "the archive is empty";
  return `entries: ${names.slice(0, 10).join(", ")}${names.length > 10 ? ", ..." : ""}`;
}
