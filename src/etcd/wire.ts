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

export type AlarmType = "NONE" | "NOSPACE" | "CORRUPT";
export interface AlarmRequest {
  action: "GET" | "ACTIVATE" | "DEACTIVATE";
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
  result: "EQUAL" | "GREATER" | "LESS" | "NOT_EQUAL";
  target: "VERSION" | "CREATE" | "MOD" | "VALUE" | "LEASE";
  key: Buffer;
  create_revision?: Int64;
}
export interface TxnRequest {
  compare: Compare[];
  success: { request_put: PutRequest }[];
  failure: { request_put: PutRequest }[];
}
export interface TxnResponse {
  header: ResponseHeader | null;
  succeeded: boolean;
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
  "Lease/LeaseGrant": [{ TTL: Int64; ID: Int64 }, LeaseGrantResponse];
  "Lease/LeaseRevoke": [{ ID: Int64 }, { header: ResponseHeader | null }];
  "Lease/LeaseKeepAlive": [{ ID: Int64 }, LeaseKeepAliveResponse];
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
