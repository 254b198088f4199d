/**
 * The nodes as the restore coordinator sees them: one `RestoreAgent` per etcd node, and where S3 is. The CLI
 * implements them over its fleet (src/fleet/restore-agents.ts); unit tests implement them in memory. Nothing in
 * `restore/` knows about HTTP, argv or terminals.
 */
import type { CatalogEntry } from "../snapshot/catalog.js";
import type { Store } from "../store/store.js";
import type { RestoreNode } from "./apply.js";
import type {
  Preflight as PreflightReply,
  Prepared as PreparedReply,
  ReplayRequest,
  RestoreProgress as ProgressReply,
} from "../api/restore.js";
import type { Preflight, RestoreSource } from "./plan.js";
import type { SessionNode } from "./sessions.js";

/** What the coordinator needs of a node's preflight (GET /v1/restore/preflight, src/api/restore.ts). */
export type AgentPreflight = Preflight & Pick<PreflightReply, "pendingRollback" | "lastRestored">;

/**
 * What the coordinator needs of the serving node's prepared file (POST /v1/restore/prepare): its digest, where it
 * came from, and the archive's state file (base64, or null: an older RKE archive, a raw etcdctl file).
 */
export type Prepared = Pick<PreparedReply, "sha256" | "size" | "stateFile"> &
  Partial<Pick<PreparedReply, "from" | "pointInTime">>;

/** One member's health before the restore, as far as the coordinator needs it. */
export interface MemberHealth {
  node: string;
  isLeader: boolean;
  clusterId?: string | undefined;
  revision?: number | undefined;
}

export interface RestoreAgent extends SessionNode {
  /** The etcd member name. */
  name: string;
  /** The agent's host:port, which peers fetch the prepared file from. */
  endpoint: string;
  /** The node's snapshots; rejects when the agent does not answer. */
  listSnapshots(): Promise<CatalogEntry[]>;
  preflight(): Promise<AgentPreflight>;
  /** The node's restore work, per phase (GET /v1/restore/progress); absent where nothing reports it (unit tests). */
  progress?(): Promise<Pick<ProgressReply, "phases">>;
  /**
   * Extracts and verifies snapshot `name` from `source` on this node (its own copy, or S3); with `replay`, then
   * builds the snapshot of that point in time from it (src/pitr/replay.ts).
   */
  prepare(session: string, name: string, source: RestoreSource, replay?: ReplayRequest): Promise<Prepared>;
  /**
   * Before anything is held: whether this node opens `source`'s copy of `name` (its age header) with the identity it
   * is told of; rejects with an IdentityError naming where it looked. Resolves `{encrypted: false}` for a plain copy.
   */
  checkIdentity(name: string, source: RestoreSource): Promise<{ encrypted: boolean; where?: string | undefined }>;
  /** The executor's view of this node, every step carrying `session`. */
  node(session: string): RestoreNode;
}

/** Where S3 is, for the coordinator's own look-ups (the copy, known revisions). */
export interface S3Source {
  /** `s3://bucket/folder (endpoint)`, without credentials. */
  location: string;
  open(): Store;
}
