/**
 * Atomic, durable file writes: temp file beside the target, fsync, rename, fsync the directory.
 * A crash at any point leaves either the old file or the new one, never a half-written file under the final name.
 */
import { randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { open, rename, rm, statfs, type FileHandle } from "node:fs/promises";
import { basename, dirname, join, relative, resolve, sep } from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { InsufficientSpaceError, UserError } from "./errors.js";

/** The temp name used while writing `target`: hidden, in the same directory, never matching a snapshot name. */
export function tempPathFor(target: string): string {
  return join(dirname(target), `.${basename(target)}.${randomBytes(4).toString("hex")}.part`);
}

export async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Renames `from` (a file or directory, already fsynced) to `to` and fsyncs the directory of `to`: the commit step of
 * every atomic write, so that the new name survives a crash.
 */
export async function renameDurably(from: string, to: string): Promise<void> {
  await rename(from, to);
  await fsyncDir(dirname(to));
}

/** Writes all of `data` into `file` at `position` (one write may be short). */
export async function writeAllAt(file: FileHandle, data: Uint8Array, position: number): Promise<void> {
  for (let done = 0; done < data.length;) {
    const { bytesWritten } = await file.write(data, done, data.length - done, position + done);
    done += bytesWritten;
  }
}

/** Writes `data` to `target` atomically with the given mode (default 0600). */
export async function writeFileAtomic(target: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  const tmp = tempPathFor(target);
  try {
    const handle = await open(tmp, "wx", mode);
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await renameDurably(tmp, target);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/**
 * Bytes a file write stream queues while a write runs; they go out together in its next one (one writev). At the
 * default 16 KiB a source of small chunks (a member's 32 KiB snapshot messages) waits on every write.
 */
const WRITE_BATCH = 1 << 20;

/**
 * Streams `source` into `target` atomically. `beforeCommit` runs after the data is fsynced and before the rename:
 * throw there (for example on a checksum mismatch) and nothing appears under `target`.
 */
export async function writeStreamAtomic(
  target: string,
  source: Readable | AsyncIterable<Uint8Array>,
  options: { mode?: number; beforeCommit?: () => void | Promise<void> } = {},
): Promise<void> {
  const tmp = tempPathFor(target);
  try {
    await pipeline(
      source,
      createWriteStream(tmp, { flags: "wx", mode: options.mode ?? 0o600, highWaterMark: WRITE_BATCH }),
    );
    const handle = await open(tmp, "r+");
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    await options.beforeCommit?.();
    await renameDurably(tmp, target);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/**
 * `dir/name` for a `name` that must stay one entry inside `dir`: anything that resolves elsewhere (`..`, an absolute
 * path, a separator) is refused. Names are checked by their schema first; this is the second, path-level proof.
 */
export function insideDir(dir: string, name: string): string {
  const base = resolve(dir);
  const path = resolve(base, name);
  const rel = relative(base, path);
  if (!rel || rel.startsWith("..") || rel.includes(sep) || path !== join(base, rel)) {
    throw new UserError(`${JSON.stringify(name)} is not a name inside ${dir}`);
  }
  return path;
}

/** Refuses, naming both numbers, when the file system of `dir` has less than `bytes` available to this process. */
export async function ensureFreeSpace(dir: string, bytes: number, what: string): Promise<void> {
  const info = await statfs(dir);
  const free = info.bavail * info.bsize;
  if (free >= bytes) return;
  const mib = (n: number) => `${Math.ceil(n / 1048576)} MiB`;
  throw new InsufficientSpaceError(`${what} needs ${mib(bytes)} in ${dir}, which has ${mib(free)} free`);
}
