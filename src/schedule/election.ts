/**
 * Exactly one S3 upload per slot for the whole cluster, decided by etcd itself: every healthy node tries to create
 * `/lifeboat/uploads/<slot>` in one transaction (create-if-absent), bound to a lease; etcd's linearizable writes
 * make exactly one of them succeed. The key names the slot, so a later slot is a new election; the lease (twice
 * the period, at least a minute) only keeps etcd from accumulating keys, and outlives the slot so that a node
 * catching up late in the same slot still loses. A winner whose save fails revokes its lease, freeing the slot
 * for a node that has not campaigned yet.
 */
import { formatInstant } from "../retention/index.js";
import { describeError } from "../util/errors.js";

export const UPLOAD_KEY_PREFIX = "/lifeboat/uploads/";
/** The scheduled verify of a slot (src/schedule/verify.ts) is elected the same way, under its own keys. */
export const VERIFY_KEY_PREFIX = "/lifeboat/verifies/";

/** The etcd operations an election needs (EtcdMemberClient has them). */
export interface ElectionClient {
  leaseGrant(ttlSeconds: number): Promise<string>;
  leaseRevoke(id: string): Promise<void>;
  txnPutIfAbsent(key: string, value: string, leaseId?: string): Promise<boolean>;
}

export type Ballot = { won: true; key: string; release(): Promise<void> } | { won: false; key: string; reason: string };

export function uploadKey(slot: Date): string {
  return `${UPLOAD_KEY_PREFIX}${formatInstant(slot)}`;
}

export function verifyKey(slot: Date): string {
  return `${VERIFY_KEY_PREFIX}${formatInstant(slot)}`;
}

/** The lease TTL for a slot of `periodMs`: twice the period, between one minute and thirty days. */
export function leaseSeconds(periodMs: number): number {
  return Math.min(30 * 86_400, Math.max(60, Math.ceil((2 * periodMs) / 1000)));
}

/** Campaigns for the upload of `slot`. Never throws: an etcd error is a lost ballot with its reason. */
export function campaignForUpload(
  client: ElectionClient,
  opts: { slot: Date; periodMs: number; node: string; name: string },
): Promise<Ballot> {
  return campaign(client, uploadKey(opts.slot), "another node uploads this slot", opts);
}

/** Campaigns for the scheduled verify of `slot`; as campaignForUpload. */
export function campaignForVerify(
  client: ElectionClient,
  opts: { slot: Date; periodMs: number; node: string; name: string },
): Promise<Ballot> {
  return campaign(client, verifyKey(opts.slot), "another node verifies this slot", opts);
}

async function campaign(
  client: ElectionClient,
  key: string,
  lost: string,
  opts: { periodMs: number; node: string; name: string },
): Promise<Ballot> {
  let lease: string | undefined;
  try {
    lease = await client.leaseGrant(leaseSeconds(opts.periodMs));
    const value = JSON.stringify({ node: opts.node, name: opts.name, at: new Date().toISOString() });
    if (await client.txnPutIfAbsent(key, value, lease)) {
      const id = lease;
      return { won: true, key, release: () => client.leaseRevoke(id).catch(() => undefined) };
    }
    await client.leaseRevoke(lease).catch(() => undefined);
    return { won: false, key, reason: lost };
  } catch (err) {
    if (lease) await client.leaseRevoke(lease).catch(() => undefined);
    return { won: false, key, reason: `election failed: ${describeError(err)}` };
  }
}
