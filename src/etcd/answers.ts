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
