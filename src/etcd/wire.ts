/**
 * etcd's v3 gRPC API as loaded from ./proto (keepCase, 64-bit integers as decimal strings, enums as names,
 * defaults filled in). Only the messages and fields this package uses are typed. Requests must carry bytes
 * fields as Buffers: a string there would be read as base64.
 */
import type { MethodDefinition, PackageDefinition } from "@grpc/proto-loader";
import { fromJSON, loadSync, type Options } from "@grpc/proto-loader";
import { fileURLToPath } from "node:url";

/** A 64-bit integer as a decimal string (what the loader produces for int64/uint64). */
export type Int64 = string;

export interface ResponseHeader {
  cluster_id: Int64;
  member_id: Int64;
  revision: Int64;
  raft_term: Int64;
}

export interface StatusResponse {
  header: ResponseHeader | null;
  version: string;
  dbSize: Int64;
  leader: Int64;
  raftIndex: Int64;
  raftTerm: Int64;
  raftAppliedIndex: Int64;
  errors: string[];
  dbSizeInUse: Int64;
  isLearner: boolean;
}

/**
 * Enum values go by their names in ./proto (etcd's `Nospace`, not etcdctl's `NOSPACE`): the loader reads a name it
 * does not know as 0 without a word.
 */
export type AlarmType = "None" | "Nospace" | "Corrupt";
export interface AlarmRequest {
  action: "Get" | "Activate" | "Deactivate";
  memberID: Int64;
  alarm: AlarmType;
}
export interface AlarmResponse {
  alarms: { memberID: Int64; alarm: AlarmType }[];
}

export interface Member {
  ID: Int64;
  name: string;
  peerURLs: string[];
  clientURLs: string[];
  isLearner: boolean;
}
export interface MemberListResponse {
  header: ResponseHeader | null;
  members: Member[];
}

export interface SnapshotResponse {
  header: ResponseHeader | null;
  remaining_bytes: Int64;
  blob: Uint8Array;
}

export interface KeyValue {
  key: Uint8Array;
  create_revision: Int64;
  mod_revision: Int64;
  version: Int64;
  value: Uint8Array;
  lease: Int64;
}
export interface RangeRequest {
  key: Buffer;
  range_end?: Buffer;
  limit?: number;
  /** Read at this revision (decimal); 0 or absent reads the newest. */
  revision?: Int64;
  count_only?: boolean;
}
export interface RangeResponse {
  header: ResponseHeader | null;
  kvs: KeyValue[];
  /** More keys are in the range than `limit` let through. */
  more: boolean;
  count: Int64;
}
export interface PutRequest {
  key: Buffer;
  value: Buffer;
  lease?: Int64;
}
export interface PutResponse {
  header: ResponseHeader | null;
}

export interface Compare {
  result: "Equal" | "Greater" | "Less" | "NotEqual";
  target: "Version" | "Create" | "Mod" | "Value" | "Lease";
  key: Buffer;
  create_revision?: Int64;
}
/** Without range_end, exactly `key`. */
export interface DeleteRangeRequest {
  key: Buffer;
  range_end?: Buffer;
}
/** One operation of a transaction: exactly one of the fields (a proto oneof). */
export type RequestOp = { request_put: PutRequest } | { request_delete_range: DeleteRangeRequest };
export interface TxnRequest {
  compare: Compare[];
  success: RequestOp[];
  failure: RequestOp[];
}
export interface TxnResponse {
  header: ResponseHeader | null;
  succeeded: boolean;
}

export interface CompactionRequest {
  revision: Int64;
  /** Wait until the compaction is applied to the backend, not just accepted. */
  physical: boolean;
}

/** The names kv.proto gives the event types (not etcd's Go names, PUT and DELETE). */
export type EventType = "Put" | "Delete";
export interface Event {
  type: EventType;
  kv: KeyValue | null;
  prev_kv: KeyValue | null;
}
export interface WatchCreateRequest {
  key: Buffer;
  range_end?: Buffer;
  /** The first revision to deliver (inclusive); 0 or absent means "from now". */
  start_revision?: Int64;
  progress_notify?: boolean;
  prev_kv?: boolean;
  /** Lets etcd split one revision over several responses; this package never sets it. */
  fragment?: boolean;
}
/** One message of the Watch stream: exactly one of the fields (a proto oneof). */
export type WatchRequest =
  | { create_request: WatchCreateRequest }
  | { cancel_request: { watch_id: Int64 } }
  | { progress_request: Record<string, never> };
export interface WatchResponse {
  header: ResponseHeader | null;
  watch_id: Int64;
  created: boolean;
  canceled: boolean;
  /** Non-zero when the watch's start revision (or its position, for a watcher that fell behind) was compacted. */
  compact_revision: Int64;
  cancel_reason: string;
  /** More responses follow with events of the same revision (only when the watch asked for fragments). */
  fragment: boolean;
  events: Event[];
}

export interface HashKVResponse {
  header: ResponseHeader | null;
  hash: number;
  compact_revision: Int64;
}

export interface LeaseGrantResponse {
  header: ResponseHeader | null;
  ID: Int64;
  TTL: Int64;
  error: string;
}
export interface LeaseKeepAliveResponse {
  header: ResponseHeader | null;
  ID: Int64;
  TTL: Int64;
}
export interface LeaseTimeToLiveResponse {
  header: ResponseHeader | null;
  ID: Int64;
  /** Seconds left; -1 when the lease does not exist (expired, revoked or never granted). */
  TTL: Int64;
  grantedTTL: Int64;
}
export interface LeaseLeasesResponse {
  header: ResponseHeader | null;
  leases: { ID: Int64 }[];
}

/** Maps each method this package calls to its request and response types. */
export interface Rpc {
  "Maintenance/Status": [Record<string, never>, StatusResponse];
  "Maintenance/Alarm": [AlarmRequest, AlarmResponse];
  "Maintenance/Snapshot": [Record<string, never>, SnapshotResponse];
  "Maintenance/HashKV": [{ revision: Int64 }, HashKVResponse];
  "Cluster/MemberList": [Record<string, never>, MemberListResponse];
  "KV/Range": [RangeRequest, RangeResponse];
  "KV/Put": [PutRequest, PutResponse];
  "KV/Txn": [TxnRequest, TxnResponse];
  "KV/DeleteRange": [{ key: Buffer; range_end?: Buffer }, { header: ResponseHeader | null; deleted: Int64 }];
  "KV/Compact": [CompactionRequest, { header: ResponseHeader | null }];
  "Watch/Watch": [WatchRequest, WatchResponse];
  "Lease/LeaseGrant": [{ TTL: Int64; ID: Int64 }, LeaseGrantResponse];
  "Lease/LeaseRevoke": [{ ID: Int64 }, { header: ResponseHeader | null }];
  "Lease/LeaseKeepAlive": [{ ID: Int64 }, LeaseKeepAliveResponse];
  "Lease/LeaseTimeToLive": [{ ID: Int64; keys?: boolean }, LeaseTimeToLiveResponse];
  "Lease/LeaseLeases": [Record<string, never>, LeaseLeasesResponse];
}

/**
 * The same ./proto files parsed at build time (protobufjs JSON, keepCase), inlined by the single-executable build
 * (scripts/package.mjs, esbuild `define`) so that it reads no files; undeclared, so `typeof` is "undefined",
 * everywhere else.
 */
declare const LIFEBOAT_ETCD_PROTO: Parameters<typeof fromJSON>[0] | undefined;

const LOADER: Options = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true };

let loaded: PackageDefinition | undefined;

function definitions(): PackageDefinition {
  loaded ??=
    typeof LIFEBOAT_ETCD_PROTO === "object"
      ? fromJSON(LIFEBOAT_ETCD_PROTO, LOADER)
      : loadSync(fileURLToPath(new URL("./proto/rpc.proto", import.meta.url)), LOADER);
  return loaded;
}

/** The serializers and path of one method, e.g. `method("KV/Range")`. */
export function method<K extends keyof Rpc>(name: K): MethodDefinition<Rpc[K][0], Rpc[K][1]> {
  const [service = "", rpc = ""] = name.split("/");
  const def = definitions()[`etcdserverpb.${service}`];
  const m = def && typeof def === "object" && rpc in def ? (def as Record<string, unknown>)[rpc] : undefined;
  if (m === undefined) throw new Error(`etcd proto has no method ${name}`);
  // The loader is untyped; the Rpc table above states what this method carries.
  return m as MethodDefinition<Rpc[K][0], Rpc[K][1]>;
}
