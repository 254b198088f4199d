/** A pass-through that counts and sha256-hashes the bytes flowing through it, for checks made while data streams. */
import { createHash } from "node:crypto";
import { Transform } from "node:stream";

export interface StreamedDigest {
  size: number;
  sha256: string;
}

/**
 * `stream` passes every chunk on unchanged; `digest()` is the size and sha256 of what passed (call it once the stream
 * has ended). With `expect`, the stream fails at its end, before whoever reads it can commit what it wrote, unless
 * the sha256 is `expect.sha256`; the error is `expect.mismatch(actual)`.
 */
export function sha256PassThrough(expect?: { sha256: string; mismatch: (actual: string) => Error }): {
  stream: Transform;
  digest: () => StreamedDigest;
} {
  const hash = createHash("sha256");
  let size = 0;
  let final: StreamedDigest | undefined;
  const digest = () => (final ??= { size, sha256: hash.digest("hex") });
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      size += chunk.length;
      done(null, chunk);
    },
    flush(done) {
      if (!expect) return done();
      const actual = digest().sha256;
      done(actual === expect.sha256 ? null : expect.mismatch(actual));
    },
  });
  return { stream, digest };
}
