/**
 * What a snapshot holds, recorded when it is taken so that a verify can prove a restore gives the same data: the
 * member's revision R when the stream began (the snapshot holds R at least, with its history since the last
 * compaction), the number of keys at R, and etcd's HashKV at R. A restore of the snapshot answers for R too, so a
 * verify reads the throwaway member at exactly R, however many writes the snapshot caught after it.
 *
 * The key count and the hash are read after the stream ended, so the member streams at full speed first. They are
 * never worth a failed save: a member that cannot answer (R compacted meanwhile, a deadline) gives `null`, logged. A
 * compaction between the stream and the hash makes the hash cover less history than the snapshot: it carries its
 * compact revision and is compared only with a restore that starts from the same one.
 */
import type { KvHash } from "../etcd/answers.js";
import { describeError } from "../util/errors.js";
import type { Logger } from "../util/log.js";
import type { Contents } from "./manifest.js";

/** What measuring needs of the member (save.ts's SnapshotSource has it). */
export interface MeasureSource {
  count(prefix: string, revision: number): Promise<number>;
  hashKV(revision: number): Promise<KvHash>;
}

/** The key count and HashKV at `revision`; null (logged) when the member cannot answer them. */
export async function measureContents(source: MeasureSource, revision: number, log: Logger): Promise<Contents | null> {
  try {
    const keys = await source.count("", revision);
    const kv = await source.hashKV(revision);
    return { revision, keys, hashKV: kv.hash, compactRevision: kv.compactRevision };
  } catch (err) {
    log.warn("could not read the snapshot's key count and hash; its contents are not recorded", {
      revision,
      error: describeError(err),
    });
    return null;
  }
}
