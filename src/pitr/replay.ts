/**
 * Builds the snapshot of a point in time (docs/design.md, "Restore to a point", step 3): the base restored into a
 * throwaway etcd on the loopback, every logged revision after the throwaway's own revision up to the target applied
 * as one transaction whose revision must be exactly the logged one, the member's revision then checked to be exactly
 * the target, and its snapshot written through etcd's trailer check. Leases are kept alive meanwhile (design.md,
 * "Leased keys"). Nothing here touches the cluster being restored.
 */
import { pipeline } from "node:stream/promises";
import type { EtcdTools } from "../etcd/binaries.js";
import type { EtcdMemberClient } from "../etcd/client.js";
import type { WatchEvent } from "../etcd/watch.js";
import { SnapshotVerifier, type SnapshotDigest } from "../archive/trailer.js";
import { withLoopbackMember } from "../restore/loopback.js";
import { ChecksumMismatchError, UserError } from "../util/errors.js";
import { chunksOf } from "../util/chunks.js";
import { writeStreamAtomic } from "../util/fs.js";
import type { Logger } from "../util/log.js";
import type { LoggedRevision } from "./format.js";

/** TTL for a lease the log could not read (it was already gone when the writer met it). */
export const UNKNOWN_LEASE_TTL = 3600;
/** A replayed revision may hold any number of keys (a range delete): limits far above etcd's defaults. */
const REPLAY_LIMITS = { maxTxnOps: 10_000_000, maxRequestBytes: 256 << 20 };
/** etcd's largest backend quota: the throwaway must hold whatever the live cluster held. */
const REPLAY_QUOTA = 8 * 1024 ** 3;
const KEEPALIVE_EVERY_MS = 1000;

export interface ReplayResult extends SnapshotDigest {
  /** The revision the base held (the throwaway's, before any replay). */
  baseRevision: number;
  revision: number;
  /** Revisions applied. */
  applied: number;
}

export async function buildPointInTime(o: {
  basePath: string;
  baseName: string;
  tools: EtcdTools;
  workDir: string;
  log: Logger;
  target: number;
  /** The logged revisions in order, from at most the base's revision + 1 on (earlier ones are skipped). */
  revisions: AsyncIterable<LoggedRevision>;
  outPath: string;
  onRevision?: (revision: number) => void;
}): Promise<ReplayResult> {
  const options = { snapshotPath: o.basePath, tools: o.tools, workDir: o.workDir, log: o.log, purpose: "replay" };
  return withLoopbackMember({ ...options, limits: REPLAY_LIMITS, quotaBackendBytes: REPLAY_QUOTA }, async (m) => {
    const { client } = m;
    const baseRevision = (await client.status()).revision;
    if (baseRevision > o.target)
      throw new UserError(
        `the base snapshot ${o.baseName} already holds revision ${baseRevision}, past the target ${o.target}: choose a revision of at least ${baseRevision}`,
      );
    const leases = await LeaseKeeper.start(client);
    let applied = 0;
    try {
      let next = baseRevision + 1;
      for await (const r of o.revisions) {
        const rev = r.group.revision;
        if (rev < next) continue;
        if (rev > o.target) break;
        if (rev !== next) throw new ChecksumMismatchError(`the log has no revision ${next} (the next one is ${rev})`);
        await leases.ensure(r);
        const got = await client.txnApply(opsOf(r.group.events));
        if (got !== rev)
          throw new ChecksumMismatchError(
            `replaying revision ${rev} gave revision ${got}: the throwaway member diverged from the log`,
          );
        applied++;
        next++;
        o.onRevision?.(rev);
      }
      await leases.keepAll();
      const reached = (await client.status()).revision;
      if (reached !== o.target)
        throw new ChecksumMismatchError(`the replay reached revision ${reached}, not the target ${o.target}`);
    } finally {
      leases.stop();
    }
    const verifier = new SnapshotVerifier(`the snapshot at revision ${o.target}`);
    await writeStreamAtomic(o.outPath, pipelineOf(client, verifier));
    o.log.info("point-in-time snapshot built", { base: o.baseName, baseRevision, revision: o.target, applied });
    return { ...verifier.result, baseRevision, revision: o.target, applied };
  });
}

/** The member's snapshot through the trailer check, as one stream for writeStreamAtomic. */
async function* pipelineOf(client: EtcdMemberClient, verifier: SnapshotVerifier): AsyncIterable<Uint8Array> {
  const source = client.snapshot();
  const done = pipeline(source, verifier);
  yield* chunksOf(verifier);
  await done;
}

function opsOf(events: readonly WatchEvent[]) {
  return events.map((e) =>
    e.type === "put"
      ? { type: "put" as const, key: e.key, value: e.value, lease: e.lease }
      : { type: "delete" as const, key: e.key },
  );
}

/**
 * The throwaway member's leases: those its base holds and those the log's puts are attached to (granted with their
 * recorded TTL before the put that needs them), each renewed while the replay runs so that none expires there.
 */
class LeaseKeeper {
  private readonly ttl = new Map<string, number>();
  /** TTLs the log recorded, for leases granted later in the replay. */
  private readonly recorded = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private renewing: Promise<void> = Promise.resolve();
  private failure: Error | undefined;
  private busy = false;
  private readonly started = Date.now();

  private constructor(private readonly client: EtcdMemberClient) {}

  static async start(client: EtcdMemberClient): Promise<LeaseKeeper> {
    const keeper = new LeaseKeeper(client);
    for (const id of await client.leaseList()) {
      const t = await client.leaseTimeToLive(id);
      if (t) keeper.ttl.set(id, t.grantedTtl);
    }
    keeper.timer = setInterval(() => keeper.renewAll(), KEEPALIVE_EVERY_MS);
    return keeper;
  }

  async ensure(r: LoggedRevision): Promise<void> {
    if (this.failure) throw this.failure;
    for (const [id, ttl] of Object.entries(r.leases ?? {})) this.recorded.set(id, ttl);
    for (const e of r.group.events) {
      if (e.type !== "put" || e.lease === "0" || this.ttl.has(e.lease)) continue;
      const ttl = this.recorded.get(e.lease) ?? UNKNOWN_LEASE_TTL;
      await this.client.leaseGrantId(e.lease, ttl);
      this.ttl.set(e.lease, ttl);
    }
  }

  /** Waits for the renewals going, and fails when one found a lease gone. */
  async keepAll(): Promise<void> {
    await this.renewing;
    if (this.failure) throw this.failure;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /**
   * Renews every lease that could run out before the replay ends: those whose TTL is within 30 s of the time the
   * replay has run (a restored lease's TTL counts from the throwaway's start). One round at a time.
   */
  private renewAll(): void {
    if (this.busy) return;
    this.busy = true;
    const elapsed = Date.now() - this.started;
    this.renewing = this.renewing.then(async () => {
      for (const [id, ttl] of this.ttl) {
        if (ttl * 1000 > elapsed + 30_000) continue;
        const left = await this.client.leaseKeepAliveOnce(id).catch(() => 0);
        if (left <= 0) this.failure ??= new ChecksumMismatchError(`lease ${id} expired inside the replay`);
      }
      this.busy = false;
    });
  }
}
