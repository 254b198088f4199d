/**
 * chunksOf (src/util/chunks.ts): a byte stream read chunk by chunk, as pushed, where `for await` joins whatever is
 * buffered into one new buffer. It must keep every byte in order, keep backpressure, and end, fail and clean up
 * exactly as `for await` over the stream does.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { PassThrough, Readable } from "node:stream";
import { test } from "node:test";
import { setImmediate as tick } from "node:timers/promises";
import { createDeflateRaw, createInflateRaw, deflateRawSync } from "node:zlib";
import { chunksOf } from "../src/util/chunks.js";

/** A producer far ahead of its consumer: every chunk is buffered before the first read. */
function aheadOf(chunks: Buffer[]): PassThrough {
  const s = new PassThrough({ highWaterMark: 1 << 30 });
  for (const c of chunks) s.write(c);
  s.end();
  return s;
}

test("chunks come out as they were pushed, never joined, where for await joins them", async () => {
  const input = Array.from({ length: 64 }, (_, i) => randomBytes(1000 + i));
  const joined: Buffer[] = [];
  for await (const c of aheadOf(input) as AsyncIterable<Buffer>) joined.push(c);
  assert.ok(joined.length < input.length, "for await joined buffered chunks (what chunksOf avoids)");
  const out: Buffer[] = [];
  for await (const c of chunksOf(aheadOf(input))) out.push(c);
  assert.equal(out.length, input.length);
  out.forEach((c, i) => assert.ok(c.equals(input[i]!), `chunk ${i}`));
  // The very buffers written, not copies.
  const first = input[0]!;
  const again: Buffer[] = [];
  for await (const c of chunksOf(aheadOf([first]))) again.push(c);
  assert.equal(again[0]!.buffer, first.buffer);
});

test("an inflate's output read through chunksOf is the original, byte for byte", async () => {
  const data = Buffer.concat(Array.from({ length: 40 }, () => randomBytes(50_000)));
  const inflate = createInflateRaw({ chunkSize: 16 * 1024 });
  inflate.end(deflateRawSync(data));
  const hash = createHash("sha256");
  let bytes = 0;
  for await (const c of chunksOf(inflate)) {
    hash.update(c);
    bytes += c.length;
  }
  assert.equal(bytes, data.length);
  assert.equal(hash.digest("hex"), createHash("sha256").update(data).digest("hex"));
});

test("backpressure holds: a slow consumer keeps the producer at its highWaterMark", async () => {
  let produced = 0;
  const source = new Readable({
    highWaterMark: 64 * 1024,
    read() {
      produced += 16 * 1024;
      this.push(produced > 4 << 20 ? null : Buffer.alloc(16 * 1024));
    },
  });
  let consumed = 0;
  for await (const c of chunksOf(source)) {
    consumed += c.length;
    await tick();
    // The stream's buffer (64 KiB), the chunk in hand and one read in progress, never the whole 4 MiB.
    assert.ok(produced - consumed <= 128 * 1024, `producer ran ${produced - consumed} bytes ahead`);
  }
  assert.equal(consumed, 4 << 20);
});

test("a stream error is thrown after the chunks that came before it", async () => {
  const source = new PassThrough();
  source.write(Buffer.from("one"));
  setTimeout(() => source.destroy(new Error("member went away")), 10);
  const seen: string[] = [];
  await assert.rejects(
    (async () => {
      for await (const c of chunksOf(source)) seen.push(c.toString());
    })(),
    /member went away/,
  );
  assert.deepEqual(seen, ["one"]);
});

test("an error from before the first read is thrown by the first read (an early abort)", async () => {
  const source = new PassThrough();
  source.on("error", () => undefined);
  source.destroy(new Error("cancelled: a restore is in progress"));
  await tick();
  await assert.rejects(
    (async () => {
      for await (const _ of chunksOf(source)) void _;
    })(),
    /cancelled: a restore/,
  );
});

test("a close before the end is an error, not a clean end (a truncated body)", async () => {
  const source = new PassThrough();
  source.write(Buffer.from("partial"));
  setTimeout(() => source.destroy(), 10);
  await assert.rejects(
    (async () => {
      for await (const _ of chunksOf(source)) void _;
    })(),
    { code: "ERR_STREAM_PREMATURE_CLOSE" },
  );
});

test("leaving early destroys the stream, as for await does; an empty stream yields nothing", async () => {
  const deflate = createDeflateRaw();
  deflate.end(randomBytes(1 << 20));
  for await (const _ of chunksOf(deflate)) break;
  assert.equal(deflate.destroyed, true);
  const empty: Buffer[] = [];
  for await (const c of chunksOf(aheadOf([]))) empty.push(c);
  assert.deepEqual(empty, []);
});

test("an object-mode stream and a plain iterable pass through, strings and typed arrays as buffers", async () => {
  const out: Buffer[] = [];
  for await (const c of chunksOf(Readable.from([Buffer.from("a"), new Uint8Array([98])]))) out.push(c);
  async function* gen() {
    yield new Uint8Array([99, 100]);
  }
  for await (const c of chunksOf(gen())) out.push(c);
  assert.ok(out.every((c) => Buffer.isBuffer(c)));
  assert.equal(Buffer.concat(out).toString(), "abcd");
});
