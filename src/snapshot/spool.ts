/**
 * The member's side of a save (docs/design.md "Write order and invariants"): the snapshot stream goes at full speed
 * into a hidden part file beside the archives, so that the member's long read transaction lasts only as long as etcd
 * takes to send its database, and the archive is made by reading that file back. Compression never holds the member.
 *
 * The reader starts once the member's stream has ended. Reading (and so deflating) beside the stream was measured
 * first: on two cores the deflate workers took CPU from etcd, and a 518 MiB member was busy 5.8 s instead of 2.1 s
 * (etcdctl's whole save: 2.8-3.1 s), for a whole save only 1 s shorter.
 *
 * The reader fails when the stream or the write fails. `close` stops the stream if it still runs and removes the
 * file, whatever happened; a crash leaves a `.part` file that the snapshot folder never lists (src/store/local.ts)
 * and the agent removes when it starts.
 */
import { EventEmitter, once } from "node:events";
import { mkdir, open, rm, type FileHandle } from "node:fs/promises";
import { dirname } from "node:path";
import { Readable } from "node:stream";
import { chunksOf } from "../util/chunks.js";
import { writeAllAt } from "../util/fs.js";

/** Bytes read behind the writer at a time. */
const READ_BYTES = 1 << 20;

/** Bytes of the member's stream held in memory while the disk is busy, at most. */
const MAX_BATCH_BYTES = 8 << 20;

export interface Spool {
  /** The snapshot's bytes as read back from the part file once the stream has ended; pass it to the archive writer. */
  reader: Readable;
  /** Resolves when the member's last byte is on disk (the member is released), with how long it was busy. */
  released: Promise<{ bytes: number; memberMs: number }>;
  /** Stops the member's stream if it still runs, and removes the part file. */
  close(): Promise<void>;
}

export interface SpoolOptions {
  /** Bytes written first in the file, before the stream's (a stored save's zip header: src/snapshot/stored.ts). */
  prefix?: Buffer | undefined;
  now?: (() => number) | undefined;
}

/**
 * Starts writing `source` (the member's snapshot stream) to `path`, which must not exist (mode 0600), after
 * `prefix`. The reader and `released.bytes` are the stream's bytes alone.
 */
export async function spoolSnapshot(source: Readable, path: string, options: SpoolOptions = {}): Promise<Spool> {
  const now = options.now ?? (() => performance.now());
  const prefix = options.prefix ?? Buffer.alloc(0);
  let write: FileHandle | undefined;
  let read: FileHandle;
  try {
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    write = await open(path, "wx", 0o600);
    if (prefix.length > 0) await writeAllAt(write, prefix, 0);
    read = await open(path, "r");
  } catch (err) {
    source.destroy();
    await write?.close();
    if (write) await rm(path, { force: true });
    throw err;
  }
  const state = new SpoolState(prefix.length);
  const released = copy(source, write, state, now);
  released.catch(() => undefined);
  let closed = false;
  return {
    reader: Readable.from(readBehind(read, state), { objectMode: false, highWaterMark: READ_BYTES }),
    released,
    async close() {
      if (closed) return;
      closed = true;
      source.destroy();
      await released.catch(() => undefined);
      await read.close().catch(() => undefined);
      await rm(path, { force: true });
    },
  };
}

/** What the writer has done, as the reader sees it. */
class SpoolState extends EventEmitter {
  /** The file's size so far: the prefix, then the stream's bytes as they are written. */
  written: number;
  ended = false;
  error: Error | undefined;

  constructor(readonly start: number) {
    super();
    this.written = start;
  }

  advance(bytes: number): void {
    this.written += bytes;
    this.emit("change");
  }

  finish(error?: Error): void {
    this.ended = true;
    this.error = error;
    this.emit("change");
  }
}

/** Writes in batches: chunks that arrive while a write runs go out together in the next one (one writev). */
async function copy(
  source: Readable,
  file: FileHandle,
  state: SpoolState,
  now: () => number,
): Promise<{ bytes: number; memberMs: number }> {
  let first: number | undefined;
  let batch: Buffer[] = [];
  let batched = 0;
  let writing: Promise<void> | undefined;
  let failure: Error | undefined;
  // A closure, so that the checks after an await are not narrowed away.
  const throwIfFailed = () => {
    if (failure) throw failure;
  };
  const flush = async (): Promise<void> => {
    while (batch.length > 0) {
      const out = batch;
      const size = batched;
      batch = [];
      batched = 0;
      let done = 0;
      while (done < size) {
        const { bytesWritten } = await file.writev(done === 0 ? out : remaining(out, done), state.written);
        done += bytesWritten;
        state.advance(bytesWritten);
      }
    }
  };
  try {
    for await (const chunk of chunksOf(source)) {
      throwIfFailed();
      first ??= now();
      batch.push(chunk);
      batched += chunk.length;
      writing ??= flush()
        .catch((err: unknown) => void (failure ??= err instanceof Error ? err : new Error(String(err))))
        .finally(() => (writing = undefined));
      // The member is read on while the disk writes, up to a bound: past it the stream waits for the disk.
      if (batched >= MAX_BATCH_BYTES) await writing;
    }
    throwIfFailed();
    const memberMs = first === undefined ? 0 : now() - first;
    while (writing) await writing;
    throwIfFailed();
    await flush();
    await file.close();
    state.finish();
    return { bytes: state.written - state.start, memberMs };
  } catch (err) {
    await writing?.catch(() => undefined);
    await file.close().catch(() => undefined);
    const error = err instanceof Error ? err : new Error(String(err));
    state.finish(error);
    throw error;
  }
}

/** The buffers of `list` from byte `skip` on (after a short write). */
function remaining(list: readonly Buffer[], skip: number): Buffer[] {
  const out: Buffer[] = [];
  for (const b of list) {
    if (skip >= b.length) {
      skip -= b.length;
      continue;
    }
    out.push(skip > 0 ? b.subarray(skip) : b);
    skip = 0;
  }
  return out;
}

async function* readBehind(file: FileHandle, state: SpoolState): AsyncGenerator<Buffer> {
  let position = state.start;
  while (!state.ended) await once(state, "change");
  for (;;) {
    if (state.error) throw state.error;
    if (position < state.written) {
      const want = Math.min(READ_BYTES, state.written - position);
      const buffer = Buffer.allocUnsafe(want);
      const { bytesRead } = await file.read(buffer, 0, want, position);
      if (bytesRead === 0) throw new Error(`the snapshot's part file ended at ${position} of ${state.written} bytes`);
      position += bytesRead;
      yield bytesRead === want ? buffer : buffer.subarray(0, bytesRead);
      continue;
    }
    if (state.ended) return;
    await once(state, "change");
  }
}
