/**
 * Raw deflate on several threads, pigz style: the input is cut into blocks (1 MiB by default), each block is
 * deflated on its own by zlib's asynchronous call, which runs on libuv's thread pool, and every block but the last
 * ends with a full flush (byte-aligned, no final bit), so the blocks' outputs concatenated in order are one valid
 * raw deflate stream that any inflater (Go's archive/zip, unzip, zlib) reads. Blocks are independent (no
 * dictionary), which costs a little ratio at level 1. No worker isolate is started: two idle isolates alone cost
 * about 19 MiB of resident memory, and the thread pool is already there (also inside the single executable).
 */
import { availableParallelism } from "node:os";
import { constants, deflateRaw } from "node:zlib";
import { chunksOf } from "../util/chunks.js";
import { ArchiveError } from "../util/errors.js";

export const DEFAULT_BLOCK_BYTES = 1 << 20;

export interface ParallelDeflateOptions {
  level: number;
  /** Bytes per block; default 1 MiB. */
  blockBytes?: number;
  /** Blocks deflated at once; default the machine's parallelism (at least 1). */
  workers?: number;
}

/*
 * Memory: each output is deflated into one buffer big enough for any block (deflate's worst case is a few bytes
 * per 16 KiB stored block; an eighth more is ample) instead of zlib's default 16 KiB pieces that would be copied
 * together and left as garbage, and it is copied out at its exact size when that buffer has more than 64 KiB to
 * spare. A block that arrives whole (the spool and the growing-file reader both read 1 MiB into a fresh buffer each
 * time) is passed on without a copy; only blocks pieced from several chunks are concatenated. So a source must not
 * reuse a buffer it has yielded: the block is read on another thread after the source has moved on.
 */
function deflateBlock(data: Buffer, level: number, last: boolean): Promise<Buffer> {
  const chunkSize = Math.max(1024, data.byteLength + (data.byteLength >> 3) + 1024);
  const finishFlush = last ? constants.Z_FINISH : constants.Z_FULL_FLUSH;
  return new Promise((resolve, reject) => {
    deflateRaw(data, { level, finishFlush, chunkSize }, (err, out) => {
      if (err) reject(new ArchiveError(`deflate failed: ${err.message}`));
      else resolve(out.buffer.byteLength - out.byteLength > 64 * 1024 ? Buffer.from(out) : out);
    });
  });
}

/** Runs at most `count` calls of `fn` at once, the rest queued in order. */
function limiter(count: number): <T>(fn: () => Promise<T>) => Promise<T> {
  let running = 0;
  const queue: (() => void)[] = [];
  return async <T>(fn: () => Promise<T>): Promise<T> => {
    if (running >= count) await new Promise<void>((resolve) => queue.push(resolve));
    running++;
    try {
      return await fn();
    } finally {
      running--;
      queue.shift()?.();
    }
  };
}

/**
 * Deflates `source` (raw deflate, no zlib or gzip header) and yields the compressed bytes in order. At most
 * `workers` blocks are deflated at once and `workers * 2` are held, so memory stays at a few blocks whatever the
 * input size. An empty input yields the two-byte empty final block.
 */
export async function* parallelDeflateRaw(
  source: AsyncIterable<Uint8Array>,
  options: ParallelDeflateOptions,
): AsyncGenerator<Buffer> {
  const blockBytes = options.blockBytes ?? DEFAULT_BLOCK_BYTES;
  const count = Math.max(1, options.workers ?? availableParallelism());
  const run = limiter(count);
  const inFlight: Promise<Buffer>[] = [];
  // A rejection is awaited in order below; until then it must not count as unhandled.
  const guard = (p: Promise<Buffer>) => (p.catch(() => undefined), p);
  const start = (block: Buffer, last: boolean) =>
    inFlight.push(guard(run(() => deflateBlock(block, options.level, last))));
  try {
    let pending: Buffer | undefined;
    for await (const block of blocks(source, blockBytes)) {
      if (pending) start(pending, false);
      pending = block;
      while (inFlight.length >= count * 2) yield await (inFlight.shift() as Promise<Buffer>);
    }
    start(pending ?? Buffer.alloc(0), true);
    while (inFlight.length > 0) yield await (inFlight.shift() as Promise<Buffer>);
  } finally {
    // On an early end, let the blocks already on the pool finish before their buffers are dropped.
    await Promise.allSettled(inFlight);
  }
}

/** Regroups a byte stream into blocks of exactly `size` bytes (the last may be shorter; none is empty). */
async function* blocks(source: AsyncIterable<Uint8Array>, size: number): AsyncGenerator<Buffer> {
  let parts: Buffer[] = [];
  let held = 0;
  for await (let chunk of chunksOf(source)) {
    while (chunk.length > 0) {
      const take = Math.min(size - held, chunk.length);
      parts.push(chunk.subarray(0, take));
      held += take;
      chunk = chunk.subarray(take);
      if (held === size) {
        yield parts.length === 1 ? parts[0]! : Buffer.concat(parts, held);
        parts = [];
        held = 0;
      }
    }
  }
  if (held > 0) yield parts.length === 1 ? parts[0]! : Buffer.concat(parts, held);
}
