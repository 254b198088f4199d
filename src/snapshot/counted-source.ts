/**
 * A snapshot source that reports how far the member's stream has got, for progress: the bytes read from the
 * member so far, and the total to expect (the member's database size when the save began, plus etcd's 32-byte
 * trailer). The save pipeline (save.ts) is unchanged: it reads through this as through the member itself.
 */
import { pipeline, Transform } from "node:stream";
import type { SnapshotSource } from "./save.js";

export interface SourceProgress {
  /** Bytes of the snapshot read from the member so far. */
  read: number;
  /** The member's dbSize plus the trailer, as its status said before the stream began; undefined before that. */
  expected?: number;
}

const TRAILER_BYTES = 32;

export function countedSource(source: SnapshotSource, onRead: (p: SourceProgress) => void): SnapshotSource {
  const progress: SourceProgress = { read: 0 };
  return {
    health: () => source.health(),
    count: (prefix, revision) => source.count(prefix, revision),
    hashKV: (revision) => source.hashKV(revision),
    status: async () => {
      const status = await source.status();
      progress.expected = status.dbSize + TRAILER_BYTES;
      return status;
    },
    snapshot: (opts) => {
      const counter = new Transform({
        transform(chunk: Buffer, _enc, done) {
          progress.read += chunk.length;
          onRead({ ...progress });
          done(null, chunk);
        },
      });
      // pipeline carries an error of the member's stream to the reader, and a reader that stops to the member.
      return pipeline(source.snapshot(opts), counter, () => undefined);
    },
  };
}
