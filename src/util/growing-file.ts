/**
 * A file that readers follow while it is written: the restore's serving node downloads the archive into one, and its
 * own extraction and every peer's fetch read it as it grows (docs/design.md, "The restore pipeline").
 *
 * The writer is `writable()`, then `commit()` (fsync, the caller's check, rename into place, fsync the directory, as
 * writeStreamAtomic does) or `abort(err)`. A reader ends only after the commit, so it never takes a file whose last
 * check failed for a whole one; after an abort every reader fails with the abort's error and the temp file is gone.
 * Readers use the writer's own descriptor at their own offsets, so the rename changes nothing for them; the
 * descriptor is closed once the owner released the file and its last reader ended.
 */
import { open, rename, rm, type FileHandle } from "node:fs/promises";
import { dirname } from "node:path";
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { fsyncDir, tempPathFor } from "./fs.js";

const READ_BYTES = 1 << 20;

type State = { kind: "growing" } | { kind: "committed" } | { kind: "failed"; error: Error };

export class GrowingFile {
  private written = 0;
  private state: State;
  private readers = 0;
  private closed = false;
  private released = false;
  private waiters: (() => void)[] = [];

  private constructor(
    /** Where the file is, or will be once committed. */
    readonly path: string,
    private readonly handle: FileHandle,
    private readonly temp: string | undefined,
    size: number,
  ) {
    this.written = size;
    this.state = temp === undefined ? { kind: "committed" } : { kind: "growing" };
  }

  /** A new file for `target`, written into a hidden temp file beside it until the commit. */
  static async create(target: string, mode = 0o600): Promise<GrowingFile> {
    const temp = tempPathFor(target);
    const handle = await open(temp, "wx+", mode);
    return new GrowingFile(target, handle, temp, 0);
  }

  /** A whole file that is already there: readers read it to its end. */
  static async complete(path: string): Promise<GrowingFile> {
    const handle = await open(path, "r");
    const { size } = await handle.stat();
    return new GrowingFile(path, handle, undefined, size);
  }

  /** Bytes written so far. */
  get size(): number {
    return this.written;
  }

  get committed(): boolean {
    return this.state.kind === "committed";
  }

  /** Where the bytes go; each write is readable once its callback ran. */
  writable(): Writable {
    if (this.temp === undefined) throw new Error(`${this.path} is complete: it takes no writes`);
    const append = async (buffers: Buffer[]) => {
      if (this.state.kind !== "growing") throw new Error(`${this.path} is no longer being written`);
      const { bytesWritten } = await this.handle.writev(buffers, this.written);
      const total = buffers.reduce((n, b) => n + b.length, 0);
      if (bytesWritten !== total) throw new Error(`short write to ${this.temp} (${bytesWritten} of ${total} bytes)`);
      this.written += total;
      this.wake();
    };
    return new Writable({
      highWaterMark: 1 << 20,
      writev: (chunks, callback) => void append(chunks.map((c) => c.chunk as Buffer)).then(() => callback(), callback),
    });
  }

  /**
   * After the writable finished: fsync, `beforeCommit` (throw there and the file is aborted with that error), rename
   * into place, fsync the directory. Readers then read to the end and finish. `durable: false` skips both fsyncs, for
   * scratch files that are read back at once and never outlive the work (a crash leaves only a hidden temp file or a
   * file the next start removes).
   */
  async commit(beforeCommit?: () => void | Promise<void>, o: { durable?: boolean } = {}): Promise<void> {
    if (this.state.kind !== "growing" || this.temp === undefined) throw new Error(`${this.path} is not being written`);
    const durable = o.durable ?? true;
    try {
      if (durable) await this.handle.sync();
      await beforeCommit?.();
      await rename(this.temp, this.path);
      if (durable) await fsyncDir(dirname(this.path));
    } catch (err) {
      await this.abort(err instanceof Error ? err : new Error(String(err)));
      throw err;
    }
    this.state = { kind: "committed" };
    this.wake();
  }

  /**
   * Writes all of `source` into the file, then commits it (`check` and `durable` as for `commit`); on any failure the
   * file is aborted with the error (every reader fails with it) and the promise rejects with it.
   */
  async fill(source: Readable, o: { check?: () => void | Promise<void>; durable?: boolean } = {}): Promise<void> {
    try {
      await pipeline(source, this.writable());
      await this.commit(o.check, o.durable === undefined ? {} : { durable: o.durable });
    } catch (err) {
      await this.abort(err instanceof Error ? err : new Error(String(err)));
      throw err;
    }
  }

  /** Ends the write with `error`: every reader fails with it, the temp file is removed. Safe to repeat. */
  async abort(error: Error): Promise<void> {
    if (this.state.kind !== "growing") return;
    this.state = { kind: "failed", error };
    this.wake();
    if (this.temp !== undefined) await rm(this.temp, { force: true });
  }

  /** Drops this file: a growing one is aborted with `reason`; the descriptor closes once no reader needs it. */
  async release(reason = "the file is no longer served"): Promise<void> {
    await this.abort(new Error(reason));
    this.released = true;
    await this.closeIfIdle();
  }

  /**
   * The file from its first byte, waiting while it grows; ends after the commit, fails after an abort (a reader that
   * starts after an abort fails at once).
   */
  reader(): Readable {
    if (this.released) throw new Error(`${this.path} is no longer served`);
    this.readers++;
    let position = 0;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      this.readers--;
      void this.closeIfIdle();
    };
    const next = async (stream: Readable): Promise<void> => {
      for (;;) {
        if (this.state.kind === "failed") throw this.state.error;
        if (position < this.written) {
          const want = Math.min(READ_BYTES, this.written - position);
          const buffer = Buffer.allocUnsafe(want);
          const { bytesRead } = await this.handle.read(buffer, 0, want, position);
          if (bytesRead === 0) throw new Error(`${this.path} ended at ${position} of ${this.written} bytes`);
          position += bytesRead;
          stream.push(bytesRead === want ? buffer : buffer.subarray(0, bytesRead));
          return;
        }
        if (this.state.kind === "committed") {
          stream.push(null);
          return;
        }
        await new Promise<void>((resolve) => this.waiters.push(resolve));
      }
    };
    let reading = false;
    const stream: Readable = new Readable({
      highWaterMark: READ_BYTES,
      read() {
        if (reading) return;
        reading = true;
        next(stream).then(
          () => (reading = false),
          (err: unknown) => stream.destroy(err instanceof Error ? err : new Error(String(err))),
        );
      },
      destroy(err, callback) {
        finish();
        callback(err);
      },
    });
    stream.once("end", finish);
    return stream;
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    waiters.forEach((w) => w());
  }

  private async closeIfIdle(): Promise<void> {
    if (this.closed || this.readers > 0 || !this.released) return;
    this.closed = true;
    await this.handle.close();
  }
}
