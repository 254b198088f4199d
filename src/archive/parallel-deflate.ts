/**
 * Raw deflate on worker threads, pigz style: the input is cut into blocks (1 MiB by default), each block is
 * deflated on its own in a worker, and every block but the last ends with a full flush (byte-aligned, no final bit),
 * so the blocks' outputs concatenated in order are one valid raw deflate stream that any inflater (Go's
 * archive/zip, unzip, zlib) reads. Blocks are independent (no dictionary), which costs a little ratio at level 1.
 * The workers' source is inline (`eval: true`), so they also start inside the single executable, which has no
 * file beside it to load.
 */
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { ArchiveError } from "../util/errors.js";

export const DEFAULT_BLOCK_BYTES = 1 << 20;

export interface ParallelDeflateOptions {
  level: number;
  /** Bytes per block; default 1 MiB. */
  blockBytes?: number;
  /** Worker threads; default the machine's parallelism (at least 1). */
  workers?: number;
}

/*
 * A worker leaves no buffer behind: the block is moved (transferred, not copied) in and back out, and the output is
 * deflated into one buffer big enough for any block (deflate's worst case is a few bytes per 16 KiB stored block;
 * an eighth more is ample), which is moved out too, instead of zlib's default 16 KiB pieces that would be copied
 * together and left as garbage. A worker allocates almost nothing on its JS heap, so its garbage collector rarely
 * runs: whatever it leaves piles up as external memory until V8's external-memory limit (tens of MiB per worker)
 * forces a collection. Peak RSS of a whole process deflating a 300 MiB snapshot file at level 1 (bench's compress
 * tool): 94 MiB on one thread; on two workers 182 MiB when blocks were copied and outputs pieced, 105 MiB now.
 */
const WORKER_SOURCE = `
const { parentPort } = require("node:worker_threads");
const zlib = require("node:zlib");
parentPort.on("message", (m) => {
  try {
    const flush = m.last ? zlib.constants.Z_FINISH : zlib.constants.Z_FULL_FLUSH;
    const chunkSize = Math.max(1024, m.data.byteLength + (m.data.byteLength >> 3) + 1024);
    const out = zlib.deflateRawSync(m.data, { level: m.level, finishFlush: flush, chunkSize });
    const moved = out.buffer === m.data.buffer ? [out.buffer] : [out.buffer, m.data.buffer];
    parentPort.postMessage({ id: m.id, out, data: m.data }, moved);
  } catch (err) {
    parentPort.postMessage({ id: m.id, error: String(err && err.message || err) });
  }
});
`;

interface Reply {
  id: number;
  out?: Uint8Array;
  error?: string;
}

/** A fixed pool of deflate workers; `close` ends them. */
class DeflatePool {
  private readonly workers: Worker[] = [];
  private readonly idle: Worker[] = [];
  private readonly waiting = new Map<number, { resolve: (b: Buffer) => void; reject: (e: Error) => void }>();
  private readonly queue: (() => void)[] = [];
  private failure: Error | undefined;

  constructor(count: number) {
    for (let i = 0; i < count; i++) {
      const worker = new Worker(WORKER_SOURCE, { eval: true });
      worker.on("message", (reply: Reply) => this.onReply(worker, reply));
      worker.on("error", (err) => this.failAll(err));
      worker.on("exit", (code) => {
        if (code !== 0) this.failAll(new ArchiveError(`deflate worker exited with code ${code}`));
      });
      this.workers.push(worker);
      this.idle.push(worker);
    }
  }

  async deflate(id: number, data: Buffer, level: number, last: boolean): Promise<Buffer> {
    const worker = await this.take();
    return new Promise<Buffer>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      // A block that owns its whole ArrayBuffer moves to the worker; a slice of a shared one (Node's pool for
      // small buffers) is copied first, since moving the pool would take it from every other buffer on it.
      const own = data.byteOffset === 0 && data.byteLength === data.buffer.byteLength ? data : new Uint8Array(data);
      worker.postMessage({ id, data: own, level, last }, [own.buffer as ArrayBuffer]);
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  private take(): Promise<Worker> {
    if (this.failure) return Promise.reject(this.failure);
    const worker = this.idle.pop();
    if (worker) return Promise.resolve(worker);
    return new Promise((resolve, reject) =>
      this.queue.push(() => {
        const next = this.idle.pop();
        if (next) resolve(next);
        else reject(this.failure ?? new ArchiveError("deflate pool closed"));
      }),
    );
  }

  private onReply(worker: Worker, reply: Reply): void {
    const pending = this.waiting.get(reply.id);
    this.waiting.delete(reply.id);
    this.idle.push(worker);
    this.queue.shift()?.();
    if (!pending) return;
    if (reply.error !== undefined || !reply.out) pending.reject(new ArchiveError(`deflate failed: ${reply.error}`));
    else pending.resolve(Buffer.from(reply.out.buffer, reply.out.byteOffset, reply.out.byteLength));
  }

  private failAll(err: Error): void {
    this.failure ??= err;
    for (const p of this.waiting.values()) p.reject(err);
    this.waiting.clear();
    for (const wake of this.queue.splice(0)) wake();
  }
}

/**
 * Deflates `source` (raw deflate, no zlib or gzip header) and yields the compressed bytes in order. At most
 * `workers * 2` blocks are in flight, so memory stays at a few blocks whatever the input size. An empty input
 * yields the two-byte empty final block.
 */
export async function* parallelDeflateRaw(
  source: AsyncIterable<Uint8Array>,
  options: ParallelDeflateOptions,
): AsyncGenerator<Buffer> {
  const blockBytes = options.blockBytes ?? DEFAULT_BLOCK_BYTES;
  const count = Math.max(1, options.workers ?? availableParallelism());
  const pool = new DeflatePool(count);
  const inFlight: Promise<Buffer>[] = [];
  const guard = (p: Promise<Buffer>) => (p.catch(() => undefined), p);
  let id = 0;
  try {
    let pending: Buffer | undefined;
    for await (const block of blocks(source, blockBytes)) {
      if (pending) inFlight.push(guard(pool.deflate(id++, pending, options.level, false)));
      pending = block;
      while (inFlight.length >= count * 2) yield await (inFlight.shift() as Promise<Buffer>);
    }
    inFlight.push(guard(pool.deflate(id++, pending ?? Buffer.alloc(0), options.level, true)));
    while (inFlight.length > 0) yield await (inFlight.shift() as Promise<Buffer>);
  } finally {
    await pool.close();
  }
}

/** Regroups a byte stream into blocks of exactly `size` bytes (the last may be shorter; none is empty). */
async function* blocks(source: AsyncIterable<Uint8Array>, size: number): AsyncGenerator<Buffer> {
  let parts: Buffer[] = [];
  let held = 0;
  for await (const raw of source) {
    let chunk = Buffer.isBuffer(raw) ? raw : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
    while (chunk.length > 0) {
      const take = Math.min(size - held, chunk.length);
      parts.push(chunk.subarray(0, take));
      held += take;
      chunk = chunk.subarray(take);
      if (held === size) {
        yield Buffer.concat(parts, held);
        parts = [];
        held = 0;
      }
    }
  }
  if (held > 0) yield Buffer.concat(parts, held);
}
