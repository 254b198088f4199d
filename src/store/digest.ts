/**
 * Digests of a body as it streams out to a store, cut at the same part boundaries as the S3 multipart upload, so
 * that the stored object can be checked against its ETag afterwards without reading it back.
 */
import { createHash, type Hash } from "node:crypto";
import { Readable, addAbortSignal } from "node:stream";
import { chunksOf } from "../util/chunks.js";
import { ChecksumMismatchError } from "../util/errors.js";
import { abortError } from "./store.js";

export interface BodyDigest {
  size: number;
  md5Hex: string;
  sha256Hex: string;
  /** MD5 of each part of `partSize` bytes (the last one may be shorter); empty for a body of size 0. */
  partMd5s: Buffer[];
}

/**
 * Hashes a byte stream: whole-body MD5 and sha256, plus the MD5 of every `partSize` block. A body whose length is an
 * exact multiple of `partSize` has no empty trailing part, matching lib-storage's chunker.
 */
export class StreamDigest {
  private size = 0;
  private readonly md5 = createHash("md5");
  private readonly sha256 = createHash("sha256");
  private part: Hash | undefined;
  private partBytes = 0;
  private readonly parts: Buffer[] = [];

  /** `hash: false` only counts bytes (a local write needs the size, not digests: each costs a pass over the data). */
  constructor(
    private readonly partSize: number,
    private readonly opts: { hash: boolean } = { hash: true },
  ) {}

  get bytes(): number {
    return this.size;
  }

  update(chunk: Uint8Array): void {
    this.size += chunk.byteLength;
    if (!this.opts.hash) return;
    this.md5.update(chunk);
    this.sha256.update(chunk);
    let offset = 0;
    while (offset < chunk.byteLength) {
      if (this.part === undefined) {
        this.part = createHash("md5");
        this.partBytes = 0;
      }
      const take = Math.min(this.partSize - this.partBytes, chunk.byteLength - offset);
      this.part.update(chunk.subarray(offset, offset + take));
      this.partBytes += take;
      offset += take;
      if (this.partBytes === this.partSize) this.closePart();
    }
  }

  digest(): BodyDigest {
    this.closePart();
    return {
      size: this.size,
      md5Hex: this.md5.digest("hex"),
      sha256Hex: this.sha256.digest("hex"),
      partMd5s: this.parts,
    };
  }

  private closePart(): void {
    if (this.part === undefined) return;
    this.parts.push(this.part.digest());
    this.part = undefined;
  }
}

/**
 * The ETags an honest server may report for `d` uploaded with parts of `partSize` bytes. A single PUT (body no
 * larger than one part) gives the body's MD5. A multipart upload gives MD5(concat(part MD5s))-N on AWS, MinIO and
 * Ceph; some S3-compatible servers (s3rver among them) give the whole body's MD5 instead, which proves the same.
 */
export function expectedEtags(d: BodyDigest, partSize: number): string[] {
  if (d.size <= partSize) return [d.md5Hex];
  const ofParts = createHash("md5").update(Buffer.concat(d.partMd5s)).digest("hex");
  return [`${ofParts}-${d.partMd5s.length}`, d.md5Hex];
}

/**
 * Yields `source` unchanged while feeding `digest` and `onProgress`. Throws `ChecksumMismatchError` at the end when
 * `expectedSize` is given and the body had another length, so a short or long body never completes a put.
 */
export async function* metered(
  source: Readable | AsyncIterable<Uint8Array>,
  digest: StreamDigest,
  opts: { expectedSize?: number | undefined; onProgress?: ((bytes: number) => void) | undefined },
): AsyncGenerator<Buffer> {
  for await (const bytes of chunksOf(source)) {
    digest.update(bytes);
    opts.onProgress?.(digest.bytes);
    yield bytes;
  }
  if (opts.expectedSize !== undefined && digest.bytes !== opts.expectedSize) {
    throw new ChecksumMismatchError(`body has ${digest.bytes} bytes instead of the expected ${opts.expectedSize}`);
  }
}

/**
 * Wraps a put body for a consumer: a byte stream through `metered`, destroyed with an AbortError when `signal`
 * aborts (throws at once when it already has). Call it right before the consumer starts reading, so that the abort
 * error always has a listener, and call `release()` when the put is over, so that a caller's stream the consumer
 * stopped reading is destroyed too.
 */
export function meteredBody(
  body: Readable | Uint8Array,
  digest: StreamDigest,
  opts: { size?: number; signal?: AbortSignal; onProgress?: (bytes: number) => void },
): { stream: Readable; release: () => void } {
  if (opts.signal?.aborted) {
    if (!(body instanceof Uint8Array)) body.destroy();
    throw abortError(opts.signal);
  }
  const source = body instanceof Uint8Array ? Readable.from([body]) : body;
  const stream = Readable.from(metered(source, digest, { expectedSize: opts.size, onProgress: opts.onProgress }), {
    objectMode: false,
  });
  if (opts.signal) addAbortSignal(opts.signal, stream);
  return { stream, release: () => source.destroy() };
}
