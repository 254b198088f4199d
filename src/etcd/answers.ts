/** What one member answers about itself and its cluster, as the client returns it. */
export interface MemberStatus {
  /** Hex, as etcdctl prints it. */
  memberId: string;
  clusterId: string;
  /** Hex member ID of the leader this member believes in; "0" when it knows none. */
  leader: string;
  revision: number;
  raftIndex: number;
  raftTerm: number;
  raftAppliedIndex: number;
  dbSize: number;
  dbSizeInUse: number;
  /** Server version, e.g. "3.5.30". */
  version: string;
  errors: string[];
  isLearner: boolean;
}

export interface MemberAlarm {
  memberId: string;
  alarm: "NOSPACE" | "CORRUPT" | "NONE";
}

export interface MemberInfo {
  id: string;
  name: string;
  peerURLs: string[];
  clientURLs: string[];
  isLearner: boolean;
}

/** etcd's HashKV of a member's keys at one revision (Maintenance.HashKV). */
export interface KvHash {
  revision: number;
  /** CRC-32 (Castagnoli) over the MVCC keys and values kept up to `revision`. */
  hash: number;
  /** The compaction the hash starts from; members compare only with the same one. */
  compactRevision: number;
}

/** One key as a range read returns it. */
export interface StoredKeyValue {
  key: Buffer;
  value: Buffer;
  createRevision: number;
  modRevision: number;
  version: number;
  /** Decimal lease ID, "0" for none. */
  lease: string;
}

/** Every key of the keyspace as of one revision, in key order. */
export interface KeyspaceAt {
  revision: number;
  kvs: StoredKeyValue[];
}

/** A lease's remaining and granted time to live, in seconds. */
export interface LeaseTtl {
  ttl: number;
  grantedTtl: number;
}

/** One operation of `txnApply`: a put (value and lease optional: empty, none) or the delete of one key. */
export interface TxnOp {
  type: "put" | "delete";
  key: Buffer;
  value?: Buffer;
  /** Decimal lease ID to attach the key to; "0" or absent for none. */
  lease?: string;
}
