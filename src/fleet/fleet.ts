/**
 * The CLI's view of a cluster: a `Fleet` is cluster.yml and the state file, opened, with one `FleetNode` per etcd
 * node. A FleetNode is a node's typed operations; the real one talks to the node's agent (agent-node.ts), tests use
 * in-memory ones. The fleet operations (health, save, catalog, prune, schedule, status, cleanup, restore) are
 * written against these interfaces only.
 */
import type { Health, Info } from "../api/node.js";
import type { PruneResponse } from "../api/prune.js";
import type { z } from "zod";
import type { CleanupResponse, IdentityChecked, ReplayRequest, RestoreProgress } from "../api/restore.js";
import type { IdentitySource } from "../crypto/age.js";
import type { NodeStatus } from "../api/schedule.js";
import type { SaveEvent, SaveRequest } from "../api/snapshots.js";
import type { ClusterConfig, EtcdNode } from "../config/cluster.js";
import type { ClusterState } from "../config/state.js";
import type { S3Settings } from "../config/s3-settings.js";
import type { Digest, FetchExpectation, NodeHealthView } from "../restore/apply.js";
import type { AgentPreflight, Prepared } from "../restore/fleet.js";
import type { Purpose } from "../restore/sessions.js";
import type { ApplyStep } from "../restore/steps.js";
import type { VerifyReport } from "../restore/verify.js";
import type { Contents } from "../snapshot/manifest.js";
import type { RetentionPolicy } from "../retention/index.js";
import type { SchedulePush } from "../schedule/spec.js";
import type { CatalogEntry } from "../snapshot/catalog.js";
import type { SaveEncryption } from "../snapshot/seal.js";
import type { Store } from "../store/store.js";

export interface Fleet {
  configPath: string;
  statePath: string;
  config: ClusterConfig;
  state: ClusterState;
  /** One per etcd node, in cluster.yml order. */
  nodes: FleetNode[];
  close(): void;
}

/** Where fleet operations report to the operator (the CLI's Output: lines on stdout, notes on stderr). */
export interface FleetOutput {
  line(text: string): void;
  note(text: string): void;
}

/** Opens the S3 store settings describe (src/store/open.ts's openStore; tests pass a local directory). */
export type OpenStore = (settings: S3Settings) => Store;

/** What an agent says about itself (GET /v1/info, src/api/node.ts). */
export type AgentInfo = Info;

/** A member's health as its agent reports it (GET /v1/health, src/api/node.ts). */
export type AgentHealth = Health;

/** The body of a one-time save (POST /v1/snapshots), as the CLI sends it. */
export type SaveBody = Pick<
  SaveRequest,
  | "name"
  | "kind"
  | "stateFile"
  | "compression"
  | "level"
  | "threads"
  | "retries"
  | "retryPauseSeconds"
  | "s3"
  | "encryption"
>;

/** A node's answer to a prune (POST /v1/prune): the plan, and the result unless it was a dry run. */
export type NodePruneAnswer = PruneResponse;

/** A node's answer to a restore cleanup (POST /v1/restore/cleanup). */
export type NodeCleanupAnswer = CleanupResponse;

/** A node's answer to an identity check (POST /v1/restore/identity). */
export type IdentityCheck = z.infer<typeof IdentityChecked>;

/** One etcd node as the CLI sees it. Every operation rejects when the node cannot be reached or refuses. */
export interface FleetNode {
  readonly node: EtcdNode;
  health(): Promise<AgentHealth>;
  /** The agent itself: its version, mode, what holds its save flight (GET /v1/info). */
  info(): Promise<AgentInfo>;
  status(): Promise<NodeStatus>;
  listSnapshots(): Promise<CatalogEntry[]>;
  /** Saves a snapshot, calling `onEvent` for each event the node streams back (progress, waiting, result, error). */
  save(request: SaveBody, onEvent: (event: SaveEvent) => void): Promise<void>;
  /** Uploads this node's copy of snapshot `name` to S3. */
  upload(name: string, s3: S3Settings, encryption?: SaveEncryption): Promise<{ verified: string }>;
  deleteSnapshot(name: string): Promise<void>;
  prune(policy: RetentionPolicy, dryRun: boolean): Promise<NodePruneAnswer>;
  pushSchedule(body: SchedulePush): Promise<{ since?: string }>;
  pushLineage(lineage: readonly string[]): Promise<{ updated: boolean }>;
  cleanup(request: { keep: number; dryRun: boolean }): Promise<NodeCleanupAnswer>;
  stopMember(timeoutMs: number): Promise<void>;
  startMember(timeoutMs: number): Promise<void>;
  /** The restore operations (src/restore/fleet.ts's RestoreAgent and RestoreNode, adapted in restore-agents.ts). */
  restore: NodeRestoreOps;
}

export interface NodeRestoreOps {
  openSession(session: string, name: string, purpose: Purpose): Promise<unknown>;
  releaseSession(session: string): Promise<unknown>;
  preflight(): Promise<AgentPreflight>;
  /** GET /v1/restore/progress: the open session's phases on this node. */
  progress(): Promise<RestoreProgress>;
  /**
   * Extracts and verifies snapshot `name`: from S3 with `s3`, else the node's own copy; an encrypted copy is
   * decrypted with the identity the node finds at `identity`; with `replay`, the point in time is built from it.
   */
  prepare(
    session: string,
    name: string,
    s3: S3Settings | undefined,
    identity: IdentitySource | undefined,
    replay?: ReplayRequest,
  ): Promise<Prepared>;
  /** Whether the node opens the copy's age header with the identity at `identity` (IdentityError when not). */
  checkIdentity(name: string, s3: S3Settings | undefined, identity: IdentitySource | undefined): Promise<IdentityCheck>;
  fetch(session: string, name: string, peer: string, expect: FetchExpectation): Promise<Digest>;
  apply(session: string, req: ApplyStep): Promise<{ oldDataDir?: string }>;
  rollback(session: string, stamp: string | undefined): Promise<{ restored: boolean }>;
  finish(session: string, name: string): Promise<{ command: string; code: number | null; output: string }[]>;
  health(): Promise<NodeHealthView>;
  /** Restores prepared snapshot `name` into a throwaway etcd on the node's loopback and reports what it holds. */
  /** `expected`: what the manifest says the snapshot holds, compared with the restored member when given. */
  verify(session: string, name: string, expected?: Contents | null): Promise<VerifyReport & { node: string }>;
}
