/**
 * What a snapshot holds, recorded when it is taken so that a verify can prove a restore gives the same data: the
 * revision the snapshot was taken at, the number of keys at that revision, and etcd's HashKV at that revision.
 *
 * The revision is pinned by bracketing: the member's revision is read before the Snapshot call and again once its
 * first bytes arrived (etcd opens the snapshot's read transaction before it sends anything). When both reads agree,
 * no write was applied in between, so the snapshot holds exactly that revision. When they differ the stream is
 * dropped and taken again (a few attempts); a member that writes through every attempt gets a snapshot without
 * `contents`, which a verify then checks by revision only. Only the first bytes of a dropped attempt were read.
 *
 * The key count and the hash are read after the stream ended, so the member streams at full speed first; a
 * compaction in between makes the hash unusable (recorded with its compact revision, compared only when equal).
 */
import { once } from "node:events";
import type { Readable } from "node:stream";
import { describeError } from "../util/errors.js";
import type { Logger } from "../util/log.js";
import type { KvHash } from "../etcd/answers.js";
import type { Contents } from "./manifest.js";

/** Attempts at a snapshot whose revision is pinned before one is taken without. */
export const PIN_ATTEMPTS = 3;

/** What pinning needs of the member (save.ts's SnapshotSource has it). */
export interface PinSource<S extends { revision: number }> {
  status(): Promise<S>;
  snapshot(opts?: { signal?: AbortSignal }): Readable;
}

/** What measuring needs of the member. */
export interface MeasureSource {
  count(prefix: string, revision: number): Promise<number>;
  hashKV(revision: number): Promise<KvHash>;
}

export interface PinnedSnapshot<S> {
  /** The snapshot stream, its first bytes already buffered (not yet read). */
  stream: Readable;
  /** The member's status read before this stream was requested. */
  status: S;
  /** The revision the snapshot holds, when it could be pinned. */
  revision: number | null;
}

/** Starts the member's snapshot and pins its revision (see the module comment). */
export async function pinnedSnapshot<S extends { revision: number }>(
  source: PinSource<S>,
  signal: AbortSignal | undefined,
  log: Logger,
): Promise<PinnedSnapshot<S>> {
  for (let attempt = 1; ; attempt++) {
    const status = await source.status();
    signal?.throwIfAborted();
    const stream = source.snapshot(signal ? { signal } : {});
    try {
      await once(stream, "readable", signal ? { signal } : {});
      const after = await source.status();
      if (after.revision === status.revision) return { stream, status, revision: status.revision };
      if (attempt >= PIN_ATTEMPTS) {
        log.info("the member wrote while every snapshot began; its contents are not recorded", {
          attempts: attempt,
        });
        return { stream, status, revision: null };
      }
    } catch (err) {
      stream.destroy();
      throw err;
    }
    stream.destroy();
  }
}

/**
 * The key count and HashKV at `revision`, read from the member after its snapshot stream ended; null (logged) when
 * the member cannot answer them, e.g. the revision was compacted meanwhile. A save never fails for want of these.
 */
export async function measureContents(
  source: MeasureSource,
  revision: number | null,
  log: Logger,
): Promise<Contents | null> {
  if (revision === null) return null;
  try {
    const keys = await source.count("", revision);
    const kv = await source.hashKV(revision);
    return { revision, keys, hash: kv.hash, compactRevision: kv.compactRevision };
  } catch (err) {
    log.warn("could not read the snapshot's key count and hash; its contents are not recorded", {
      revision,
      error: describeError(err),
    });
    return null;
  }
}
