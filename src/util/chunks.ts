/**
 * Reading a byte stream one chunk at a time, as its producer pushed them. `for await` over a byte-mode Readable
 * calls `read()`, which joins every chunk buffered at that moment into one new buffer: when the producer runs ahead
 * (a member streaming its snapshot, an inflate, the zip writer) that is a copy of nearly the whole stream, and a
 * churn of large short-lived buffers. In flowing mode Node hands out the buffered chunks themselves.
 */
import { finished, type Readable } from "node:stream";

/**
 * The chunks of `source`, none copied. Behaves as `for await` does over a Readable: a stream error or a close before
 * the end is thrown (after the chunks that came before it), and leaving early (break, throw) destroys the stream.
 * An object-mode stream or a plain async iterable is iterated as it is.
 */
export function chunksOf(source: Readable | AsyncIterable<Uint8Array>): AsyncIterable<Buffer> {
  if (!isByteReadable(source)) return asBuffers(source);
  return flowing(source);
}

function isByteReadable(source: Readable | AsyncIterable<Uint8Array>): source is Readable {
  const s = source as Partial<Readable>;
  return typeof s.pause === "function" && typeof s.on === "function" && s.readableObjectMode === false;
}

async function* asBuffers(source: AsyncIterable<Uint8Array | string>): AsyncGenerator<Buffer> {
  for await (const c of source) yield toBuffer(c);
}

function toBuffer(c: Uint8Array | string): Buffer {
  return typeof c === "string" ? Buffer.from(c) : asBuffer(c);
}

/** `b` as a Buffer: itself when it is one, otherwise a view of the same memory, not a copy. */
export function asBuffer(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

async function* flowing(stream: Readable): AsyncGenerator<Buffer> {
  const queue: Buffer[] = [];
  let ended = false;
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  // At most one chunk is taken ahead of the consumer: the stream pauses on each one, so its own buffer (and its
  // highWaterMark) still sets the backpressure.
  const onData = (chunk: Buffer | string) => {
    queue.push(toBuffer(chunk));
    stream.pause();
    notify();
  };
  const stop = finished(stream, { writable: false }, (err) => {
    if (err) failure = err;
    else ended = true;
    notify();
  });
  stream.on("data", onData);
  stream.pause();
  try {
    for (;;) {
      const chunk = queue.shift();
      if (chunk !== undefined) {
        yield chunk;
        continue;
      }
      if (failure) throw failure;
      if (ended) return;
      const next = new Promise<void>((resolve) => (wake = resolve));
      stream.resume();
      await next;
    }
  } finally {
    stream.off("data", onData);
    stop();
    // Left early (break, throw, a failure): the stream is released, as for await releases it.
    if (!ended) stream.destroy();
  }
}
