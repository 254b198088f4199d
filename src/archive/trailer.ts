/**
 * etcd's snapshot integrity trailer. Maintenance.Snapshot (and so `etcdctl snapshot save`) writes the bbolt DB
 * followed by the 32-byte sha256 of the DB, and `etcdutl snapshot restore` refuses a file whose trailer does not
 * match. A DB size is a multiple of 512 (a whole number of pages), so a file with its trailer has
 * size % 512 == 32; a raw `member/snap/db` copied out of a data dir has no trailer.
 */
import { createHash, type Hash } from "node:crypto";
import { createReadStream } from "node:fs";
import { Transform, Writable, type TransformCallback } from "node:stream";
import { pipeline } from "node:stream/promises";
import { ChecksumMismatchError } from "../util/errors.js";

export const TRAILER_BYTES = 32;

export interface SnapshotDigest {
  /** Bytes in the file, trailer included. */
  size: number;
  /** Hex sha256 of the whole file, trailer included: the digest to compare copies of the file with. */
  sha256: string;
  /** Hex sha256 of the DB alone, which is the trailer's value. */
  dbSha256: string;
}

/**
 * Passes a snapshot file through unchanged while hashing it. At the end it checks size % 512 == 32 and that the
 * last 32 bytes equal the sha256 of everything before them, and fails with ChecksumMismatchError otherwise, so a
 * pipeline through it never completes for a corrupt, truncated or trailer-less snapshot. `label` names the
 * snapshot in error messages.
 */
export class SnapshotVerifier extends Transform {
  /**
   * One sha256 pass: the DB's hash (the trailer's value) is the state after every byte but the last 32; the whole
   * file's is a copy of that state fed the last 32 bytes (sha256 is computed front to back, so both agree with two
   * separate passes).
   */
  private readonly db: Hash = createHash("sha256");
  /** The last (up to) 32 bytes seen: not yet known to be DB bytes, since they may be the trailer. */
  private tail: Buffer = Buffer.alloc(0);
  private size = 0;
  private digest: SnapshotDigest | undefined;

  constructor(private readonly label = "snapshot") {
    super();
  }

  /** The digests; throws unless the stream ended and verified. */
  get result(): SnapshotDigest {
    if (!this.digest) throw new Error(`${this.label}: read the verifier's result before it verified`);
    return this.digest;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.size += chunk.length;
    if (chunk.length >= TRAILER_BYTES) {
      this.db.update(this.tail);
      this.db.update(chunk.subarray(0, chunk.length - TRAILER_BYTES));
      this.tail = Buffer.from(chunk.subarray(chunk.length - TRAILER_BYTES));
    } else {
      const joined = Buffer.concat([this.tail, chunk]);
      const spill = Math.max(0, joined.length - TRAILER_BYTES);
      this.db.update(joined.subarray(0, spill));
      this.tail = joined.subarray(spill);
    }
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    try {
      this.digest = this.check();
      callback();
    } catch (err) {
      callback(err as Error);
    }
  }

  private check(): SnapshotDigest {
    if (this.size < 512 + TRAILER_BYTES || this.size % 512 !== TRAILER_BYTES) {
      throw new ChecksumMismatchError(
        `${this.label}: ${this.size} bytes is not a whole DB plus a 32-byte sha256 trailer ` +
          `(truncated, or a raw db file copied from a data dir)`,
      );
    }
    const whole = this.db.copy().update(this.tail).digest("hex");
    const computed = this.db.digest("hex");
    const trailer = this.tail.toString("hex");
    if (computed !== trailer) {
      throw new ChecksumMismatchError(
        `${this.label}: sha256 trailer mismatch (trailer ${trailer}, computed ${computed}): the snapshot is corrupt`,
      );
    }
    return { size: this.size, sha256: whole, dbSha256: trailer };
  }
}

/** Verifies the snapshot file at `path` (see SnapshotVerifier); rejects with ChecksumMismatchError when it fails. */
export async function verifySnapshotFile(path: string): Promise<SnapshotDigest> {
  const verifier = new SnapshotVerifier(path);
  await pipeline(createReadStream(path, { highWaterMark: 1 << 20 }), verifier, discard());
  return verifier.result;
}

/** Hex sha256 of the file at `path`. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  await pipeline(
    createReadStream(path, { highWaterMark: 1 << 20 }),
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        hash.update(chunk);
        callback();
      },
    }),
  );
  return hash.digest("hex");
}

function discard(): Writable {
  return new Writable({ write: (_chunk, _encoding, callback) => callback() });
}
