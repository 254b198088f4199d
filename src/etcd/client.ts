/**
 * A client for exactly one etcd member. Nothing is balanced or retried across members: a snapshot must come from
 * the member that was chosen, and a status must describe that member. Every unary call has a deadline; failures
 * are RemoteErrors that name the endpoint (transient for unavailable members and deadlines).
 */
import { Client, connectivityState, credentials, type ChannelCredentials, type ClientOptions } from "@grpc/grpc-js";
import { isIP } from "node:net";
import type { Readable } from "node:stream";
import { checkServerIdentity, type PeerCertificate } from "node:tls";
import { asBuffer } from "../util/chunks.js";
import { UserError } from "../util/errors.js";
import { toRemoteError } from "./grpc-errors.js";
import { memberHealth, type MemberHealth } from "./health.js";
import { snapshotByteStream } from "./snapshot-stream.js";
import { watchMessages, type WatchCall, type WatchMessage, type WatchOptions } from "./watch.js";
import { method, type Int64, type KeyValue, type RequestOp, type Rpc, type StatusResponse } from "./wire.js";

import type {
  KeyspaceAt,
  KvHash,
  LeaseTtl,
  MemberAlarm,
  MemberInfo,
  MemberStatus,
  StoredKeyValue,
  TxnOp,
} from "./answers.js";

export type { MemberHealth } from "./health.js";
export type {
  KeyspaceAt,
  KvHash,
  LeaseTtl,
  MemberAlarm,
  MemberInfo,
  MemberStatus,
  StoredKeyValue,
  TxnOp,
} from "./answers.js";
export type { RevisionGroup, WatchEvent, WatchMessage, WatchOptions } from "./watch.js";
export { WatchCompactedError } from "./watch.js";

export interface EtcdClientOptions {
  /** One member's client URL, e.g. "https://127.0.0.2:2379". */
  endpoint: string;
  /** Required for https endpoints of a cluster with client-cert-auth; without it the system CAs are used. */
  tls?: { caPEM: string; certPEM?: string; keyPEM?: string };
  /** Deadline for each unary call (default 5000 ms). */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 5000;
const DEFAULT_RANGE_PAGE = 1000;
const IP_SNI_PLACEHOLDER = "etcd-member.invalid";
/** How long a call waits for a channel in backoff to reconnect before trying anyway. */
const RECONNECT_WAIT_MS = 1500;

const CHANNEL_OPTIONS: ClientOptions = {
  "grpc.max_receive_message_length": -1,
  // A member that restarts should be reachable again within a second, not after grpc's default 1-120 s backoff.
  "grpc.initial_reconnect_backoff_ms": 100,
  "grpc.max_reconnect_backoff_ms": 1000,
  // grpc-js's default window makes a snapshot stream about twice as slow as etcdctl's (npm run bench); 8 MiB per
  // stream keeps memory bounded while letting etcd send ahead of the consumer.
  "grpc-node.flow_control_window": 8 << 20,
};

export class EtcdMemberClient {
  private constructor(
    readonly endpoint: string,
    private readonly grpc: Client,
    readonly timeoutMs: number,
  ) {}

  /**
   * Prepares a client for one member. Does not touch the network: an unreachable member shows up on the first call
   * (or as `reachable: false` from `health()`). Throws UserError for a malformed endpoint or TLS material.
   */
  static connect(opts: EtcdClientOptions): Promise<EtcdMemberClient> {
    try {
      const url = parseEndpoint(opts.endpoint);
      const creds = channelCredentials(url, opts.tls);
      const client = new Client(`${url.hostname}:${url.port || "2379"}`, creds, channelOptions(url));
      return Promise.resolve(new EtcdMemberClient(url.origin, client, opts.timeoutMs ?? DEFAULT_TIMEOUT_MS));
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  async status(): Promise<MemberStatus> {
    return toStatus(await this.unary("Maintenance/Status", {}, "status"));
  }

  /** Active alarms of the whole cluster (an empty list when there are none). Needs a quorum. */
  async alarms(): Promise<MemberAlarm[]> {
    const res = await this.unary("Maintenance/Alarm", { action: "Get", memberID: "0", alarm: "None" }, "alarm list");
    // As etcdctl prints them: NOSPACE, CORRUPT.
    return res.alarms.map((a) => ({ memberId: hex(a.memberID), alarm: ALARM_NAMES[a.alarm] }));
  }

  /** The membership as this member knows it (served locally, without a quorum). */
  async memberList(): Promise<MemberInfo[]> {
    const res = await this.unary("Cluster/MemberList", {}, "member list");
    return res.members.map((m) => ({
      id: hex(m.ID),
      name: m.name,
      peerURLs: m.peerURLs,
      clientURLs: m.clientURLs,
      isLearner: m.isLearner,
    }));
  }

  /** Status, alarms and membership in one report. Never throws: an unreachable member gives `reachable: false`. */
  health(): Promise<MemberHealth> {
    return memberHealth(this);
  }

  /**
   * Streams this member's snapshot: every blob of Maintenance.Snapshot concatenated, etcd's sha256 trailer included
   * (so the total size % 512 == 32). No deadline applies; abort with `signal` or by destroying the stream.
   */
  snapshot(opts: { signal?: AbortSignal } = {}): Readable {
    const m = method("Maintenance/Snapshot");
    const call = this.grpc.makeServerStreamRequest(m.path, m.requestSerialize, m.responseDeserialize, {}, {});
    return snapshotByteStream(call, { endpoint: this.endpoint, ...(opts.signal ? { signal: opts.signal } : {}) });
  }

  async put(key: string, value: string | Uint8Array, leaseId?: string): Promise<void> {
    await this.unary("KV/Put", { key: bytes(key), value: bytes(value), lease: leaseId ?? "0" }, "put");
  }

  /** The value of `key` as UTF-8, or undefined when it does not exist. */
  async get(key: string): Promise<string | undefined> {
    const res = await this.unary("KV/Range", { key: bytes(key) }, "get");
    const kv = res.kvs[0];
    return kv === undefined ? undefined : Buffer.from(kv.value).toString("utf8");
  }

  /** How many keys start with `prefix` ("" counts every key), at `revision` when given (else the newest). */
  async count(prefix: string, revision?: number): Promise<number> {
    const range = prefixRange(prefix);
    const at = revision === undefined ? {} : { revision: String(revision) };
    const res = await this.unary("KV/Range", { ...range, ...at, count_only: true }, "count");
    return Number(res.count);
  }

  /**
   * etcd's HashKV of this member's MVCC keys up to `revision`: the hash, and the compact revision it started from
   * (the hash covers the history kept since then, so two hashes compare only with the same compact revision).
   */
  async hashKV(revision: number): Promise<KvHash> {
    const res = await this.unary("Maintenance/HashKV", { revision: String(revision) }, "hash");
    return { revision, hash: res.hash >>> 0, compactRevision: Number(res.compact_revision) };
  }

  /**
   * Every key in key order, as of `revision` (default: the revision of the first page, so that every page reads the
   * same revision). Paged by `pageSize` keys (default 1000), each page starting right after the last key of the one
   * before. A compacted `revision` fails with a RemoteError.
   */
  async rangeAll(opts: { revision?: number; pageSize?: number } = {}): Promise<KeyspaceAt> {
    const limit = opts.pageSize ?? DEFAULT_RANGE_PAGE;
    if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError(`page size must be at least 1, got ${limit}`);
    let revision = opts.revision;
    let key = Buffer.from([0]);
    const kvs: StoredKeyValue[] = [];
    for (;;) {
      const at = revision === undefined ? {} : { revision: String(revision) };
      const res = await this.unary("KV/Range", { key, range_end: Buffer.from([0]), limit, ...at }, "range");
      revision ??= Number(res.header?.revision ?? 0);
      kvs.push(...res.kvs.map(storedKeyValue));
      const last = res.kvs.at(-1);
      if (!res.more || last === undefined) return { revision, kvs };
      key = Buffer.concat([asBuffer(last.key), Buffer.from([0])]);
    }
  }

  /**
   * Applies `ops` in order as one transaction without conditions, so they share one revision, and returns the
   * revision after it. etcd refuses a transaction that touches a key twice, more operations than its
   * --max-txn-ops (default 128), or a lease that does not exist. Deleting a missing key is no change: a transaction
   * of nothing else leaves the revision as it was.
   */
  async txnApply(ops: TxnOp[]): Promise<number> {
    const res = await this.unary("KV/Txn", { compare: [], success: ops.map(requestOp), failure: [] }, "transaction");
    return Number(res.header?.revision ?? 0);
  }

  /**
   * Watches every key from `opts.startRevision` on one Watch stream: one message per revision, in order, and with
   * `progressEveryMs` progress notifications. Throws WatchCompactedError when that revision was compacted, a
   * RemoteError for other failures; `signal` and `break` end it without an error. See ./watch.ts.
   */
  watchAll(opts: WatchOptions): AsyncIterable<WatchMessage> {
    const m = method("Watch/Watch");
    const open = async (): Promise<WatchCall> => {
      await this.connected();
      return this.grpc.makeBidiStreamRequest(m.path, m.requestSerialize, m.responseDeserialize, {});
    };
    return watchMessages(open, this, opts);
  }

  /** Compacts the history below `revision` (without waiting for the backend to reclaim the space). */
  async compact(revision: number): Promise<void> {
    await this.unary("KV/Compact", { revision: String(revision), physical: false }, `compact to revision ${revision}`);
  }

  /** Deletes every key that starts with `prefix` in one request; resolves with how many were deleted. */
  async deletePrefix(prefix: string): Promise<number> {
    const res = await this.unary("KV/DeleteRange", prefixRange(prefix), "delete");
    return Number(res.deleted);
  }

  /** Grants a lease and returns its ID (decimal string). */
  async leaseGrant(ttlSeconds: number): Promise<string> {
    const res = await this.unary("Lease/LeaseGrant", { TTL: String(ttlSeconds), ID: "0" }, "lease grant");
    if (res.error) throw toRemoteError(new Error(res.error), { endpoint: this.endpoint, what: "lease grant" });
    return res.ID;
  }

  /**
   * Grants a lease with the given ID (decimal), e.g. to bring back a lease that keys of a restored state refer to.
   * An ID that is already granted is refused by etcd: a RemoteError naming the ID.
   */
  async leaseGrantId(id: string, ttlSeconds: number): Promise<void> {
    const what = `lease grant with ID ${id}`;
    const res = await this.unary("Lease/LeaseGrant", { TTL: String(ttlSeconds), ID: id }, what);
    if (res.error) throw toRemoteError(new Error(res.error), { endpoint: this.endpoint, what });
  }

  /** The lease's remaining and granted TTL in seconds, or undefined when no such lease exists (any more). */
  async leaseTimeToLive(id: string): Promise<LeaseTtl | undefined> {
    const res = await this.unary("Lease/LeaseTimeToLive", { ID: id }, `lease time-to-live of ${id}`);
    const ttl = Number(res.TTL);
    return ttl < 0 ? undefined : { ttl, grantedTtl: Number(res.grantedTTL) };
  }

  /** The IDs (decimal) of every lease granted and not yet expired or revoked. */
  async leaseList(): Promise<string[]> {
    const res = await this.unary("Lease/LeaseLeases", {}, "lease list");
    return res.leases.map((l) => l.ID);
  }

  async leaseRevoke(id: string): Promise<void> {
    await this.unary("Lease/LeaseRevoke", { ID: id }, "lease revoke");
  }

  /** Renews the lease once; returns its new TTL in seconds, 0 when the lease no longer exists. */
  leaseKeepAliveOnce(id: string): Promise<number> {
    const m = method("Lease/LeaseKeepAlive");
    const ctx = { endpoint: this.endpoint, what: "lease keep-alive", timeoutMs: this.timeoutMs };
    const call = this.grpc.makeBidiStreamRequest(m.path, m.requestSerialize, m.responseDeserialize, {
      deadline: Date.now() + this.timeoutMs,
    });
    return new Promise((resolve, reject) => {
      let settled = false;
      call.on("data", (res: Rpc["Lease/LeaseKeepAlive"][1]) => {
        settled = true;
        call.cancel();
        resolve(Number(res.TTL));
      });
      call.on("error", (err) => {
        if (!settled) reject(toRemoteError(err, ctx));
        settled = true;
      });
      call.on("end", () => {
        if (!settled) reject(toRemoteError(new Error("stream ended without an answer"), ctx));
        settled = true;
      });
      call.write({ ID: id });
    });
  }

  /**
   * Creates `key` with `value` (attached to `leaseId`, "0" for none) only if it does not exist, in one transaction.
   * Resolves true for the one caller that created it: the building block of a lease-based lock.
   */
  async txnPutIfAbsent(key: string, value: string, leaseId = "0"): Promise<boolean> {
    const k = bytes(key);
    const res = await this.unary(
      "KV/Txn",
      {
        compare: [{ result: "Equal", target: "Create", key: k, create_revision: "0" }],
        success: [{ request_put: { key: k, value: bytes(value), lease: leaseId } }],
        failure: [],
      },
      "transaction",
    );
    return res.succeeded;
  }

  close(): void {
    this.grpc.close();
  }

  /**
   * After the member was down, the channel sits in reconnect backoff and a call would fail at once with the old
   * ECONNREFUSED although the member is back. Kick the channel and give it a moment (bounded) to connect first.
   */
  private async connected(): Promise<void> {
    const channel = this.grpc.getChannel();
    if (channel.getConnectivityState(true) === connectivityState.READY) return;
    const waitMs = Math.min(this.timeoutMs, RECONNECT_WAIT_MS);
    await new Promise<void>((resolve) => this.grpc.waitForReady(Date.now() + waitMs, () => resolve()));
  }

  private async unary<K extends keyof Rpc>(name: K, req: Rpc[K][0], what: string): Promise<Rpc[K][1]> {
    await this.connected();
    const m = method(name);
    const ctx = { endpoint: this.endpoint, what, timeoutMs: this.timeoutMs };
    return new Promise((resolve, reject) => {
      this.grpc.makeUnaryRequest(
        m.path,
        m.requestSerialize,
        m.responseDeserialize,
        req,
        { deadline: Date.now() + this.timeoutMs },
        (err, res) => (err || res === undefined ? reject(toRemoteError(err, ctx)) : resolve(res)),
      );
    });
  }
}

const ALARM_NAMES = { None: "NONE", Nospace: "NOSPACE", Corrupt: "CORRUPT" } as const;

/** etcd's IDs are uint64; etcdctl prints them as unpadded hex. */
function hex(id: Int64): string {
  return BigInt(id).toString(16);
}

function toStatus(s: StatusResponse): MemberStatus {
  return {
    memberId: hex(s.header?.member_id ?? "0"),
    clusterId: hex(s.header?.cluster_id ?? "0"),
    leader: hex(s.leader),
    revision: Number(s.header?.revision ?? 0),
    raftIndex: Number(s.raftIndex),
    raftTerm: Number(s.raftTerm),
    raftAppliedIndex: Number(s.raftAppliedIndex),
    dbSize: Number(s.dbSize),
    dbSizeInUse: Number(s.dbSizeInUse),
    version: s.version,
    errors: s.errors,
    isLearner: s.isLearner,
  };
}

function storedKeyValue(kv: KeyValue): StoredKeyValue {
  return {
    key: asBuffer(kv.key),
    value: asBuffer(kv.value),
    createRevision: Number(kv.create_revision),
    modRevision: Number(kv.mod_revision),
    version: Number(kv.version),
    lease: kv.lease,
  };
}

function requestOp(op: TxnOp): RequestOp {
  if (op.type === "delete") return { request_delete_range: { key: op.key } };
  return { request_put: { key: op.key, value: op.value ?? Buffer.alloc(0), lease: op.lease ?? "0" } };
}

function bytes(value: string | Uint8Array): Buffer {
  return typeof value === "string" ? Buffer.from(value, "utf8") : Buffer.from(value);
}

/** etcd's prefix range: [prefix, prefix with its last byte below 0xff incremented). "" means every key. */
function prefixRange(prefix: string): { key: Buffer; range_end: Buffer } {
  const key = bytes(prefix);
  for (let i = key.length - 1; i >= 0; i--) {
    const b = key[i] ?? 0xff;
    if (b < 0xff) {
      const end = Buffer.from(key.subarray(0, i + 1));
      end[i] = b + 1;
      return { key, range_end: end };
    }
  }
  return { key: key.length === 0 ? Buffer.from([0]) : key, range_end: Buffer.from([0]) };
}

function parseEndpoint(endpoint: string): URL {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch (err) {
    throw new UserError(`invalid etcd endpoint "${endpoint}": expected http(s)://host:port`, undefined, { cause: err });
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new UserError(`invalid etcd endpoint "${endpoint}": expected http or https, got ${url.protocol}`);
  }
  return url;
}

/** The host without IPv6 brackets. */
function hostOf(url: URL): string {
  return url.hostname.replace(/^\[(.*)\]$/, "$1");
}

/**
 * Node warns (DEP0123) whenever TLS SNI is an IP address, and grpc-js always sends the target host as SNI. etcd
 * ignores SNI, so for an IP endpoint a fixed name goes out as SNI while the certificate is still checked against
 * the IP.
 */
function channelOptions(url: URL): ClientOptions {
  if (url.protocol !== "https:" || isIP(hostOf(url)) === 0) return CHANNEL_OPTIONS;
  return { ...CHANNEL_OPTIONS, "grpc.ssl_target_name_override": IP_SNI_PLACEHOLDER };
}

function channelCredentials(url: URL, tls: EtcdClientOptions["tls"]): ChannelCredentials {
  if (url.protocol === "http:") {
    if (tls) throw new UserError(`etcd endpoint ${url.origin} is plain http but TLS material was given`);
    return credentials.createInsecure();
  }
  const host = hostOf(url);
  const verify = { checkServerIdentity: (_sni: string, cert: PeerCertificate) => checkServerIdentity(host, cert) };
  if (!tls) return credentials.createSsl(null, null, null, verify);
  try {
    const pem = (s: string | undefined) => (s === undefined ? null : Buffer.from(s));
    return credentials.createSsl(Buffer.from(tls.caPEM), pem(tls.keyPEM), pem(tls.certPEM), verify);
  } catch (err) {
    // The message of a key parse error can quote the key: keep only a fixed text.
    throw new UserError(`invalid TLS material for etcd endpoint ${url.origin}`, undefined, {
      cause: new Error(err instanceof Error ? err.name : "error"),
    });
  }
}
