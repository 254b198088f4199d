/**
 * A stored save (`compression: none`) makes its archive in place (docs/design.md "Write order and invariants"): the
 * member's stream goes at full speed, as spool.ts writes it, into the hidden part file right after the snapshot
 * entry's zip header, and the member is released; the file is then read back once (etcd's trailer, the CRC-32 and the
 * archive's sha256), the rest of the archive is appended (data descriptor, state file, central directory), and the
 * file is fsynced and renamed into place. The result is byte for byte the archive the zip writer makes of the same
 * stream (src/archive/rke.ts, storedSnapshotArchive).
 *
 * Zipping the stream as it arrived made the member wait on two sha256 passes and a CRC-32 on the agent's one thread
 * (a 518 MiB member: about 3 s instead of 1.7 s), and wrote the bytes through a zip writer, a tee and a file stream.
 * Nothing lists before the rename (the part file is hidden, src/store/local.ts), and a failure removes the file.
 */
import { createHash } from "node:crypto";
import { open } from "node:fs/promises";
import type { Readable } from "node:stream";
import { storedSnapshotArchive, type SnapshotArchiveResult } from "../archive/rke.js";
import { archiveKey } from "./manifest.js";
import { writeAllAt } from "../util/fs.js";
import { spoolSnapshot } from "./spool.js";

/** What a stored save needs of the node's folder (a LocalStore). */
export interface InPlaceStore {
  scratchPath(key: string): string;
  commitScratch(path: string, key: string): Promise<void>;
}

export interface StoredArchive {
  /** The archive as committed: its size and sha256, and its key in the folder. */
  archive: { key: string; bytes: number; sha256: string };
  inner: SnapshotArchiveResult;
  released: { bytes: number; memberMs: number };
}

/**
 * Writes snapshot `name` from `stream` (the member's) as `<name>.zip` in `local`, stored. `onReleased` runs once the
 * member has sent its last byte (the save measures the contents meanwhile); `onProgress` is told of the bytes checked.
 * Rejects, leaving nothing in the folder, when the stream, the trailer or a write fails.
 */
export async function writeStoredArchive(
  stream: Readable,
  local: InPlaceStore,
  options: {
    name: string;
    stateFile?: Buffer | undefined;
    onReleased?: (() => void) | undefined;
    onProgress?: ((bytes: number) => void) | undefined;
  },
): Promise<StoredArchive> {
  const key = archiveKey(options.name);
  const frame = storedSnapshotArchive({ name: options.name, stateFile: options.stateFile });
  const path = local.scratchPath(key);
  const spool = await spoolSnapshot(stream, path, { prefix: frame.header });
  spool.released.then(options.onReleased, () => undefined);
  try {
    const hash = createHash("sha256").update(frame.header);
    let checked = 0;
    const { tail, result } = await frame.finish(spool.reader, (chunk) => {
      hash.update(chunk);
      checked += chunk.length;
      options.onProgress?.(checked);
    });
    const released = await spool.released;
    await appendAndSync(path, frame.header.length + result.snapshotSize, tail);
    hash.update(tail);
    await local.commitScratch(path, key);
    return { archive: { key, bytes: result.archiveBytes, sha256: hash.digest("hex") }, inner: result, released };
  } finally {
    // After the rename there is no part file left to remove; before it, this removes what was written.
    await spool.close();
  }
}

/** Writes `tail` at `position` (the end of the snapshot's bytes) and fsyncs the whole file. */
async function appendAndSync(path: string, position: number, tail: Buffer): Promise<void> {
  const file = await open(path, "r+");
  try {
    await writeAllAt(file, tail, position);
    await file.sync();
  } finally {
    await file.close();
  }
}
