/** The bodies of the recurring-snapshot and visibility routes (docs/design.md "Agent routes"), and of prune. */
import { z } from "zod";
import { retentionPolicySchema } from "../retention/index.js";
import { Freshness } from "../schedule/freshness.js";
import { ClusterVerify, RunRecord, VerifyRecord } from "../schedule/history.js";
import { Every, VerifySchedule } from "../schedule/spec.js";
import { SessionInfo } from "./restore.js";

const node = z.string();

/** The stored schedule as an operator may see it: no credentials, no header values, no state file. */
export const PublicSchedule = z.object({
  every: Every,
  description: z.string(),
  jitterMs: z.number(),
  retention: retentionPolicySchema,
  s3: z.object({ endpoint: z.string(), bucket: z.string(), folder: z.string().nullable() }).nullable(),
  compression: z.enum(["deflate", "store"]),
  timeoutSeconds: z.number(),
  stateFile: z.boolean(),
  verify: VerifySchedule.nullable().optional(),
  /** The revision log's settings (src/pitr/writer.ts); null or absent without one. */
  continuous: z.object({ intervalMs: z.number(), maxSegmentBytes: z.number() }).nullable().optional(),
});

export const PublicView = z.object({
  since: z.string(),
  updatedAt: z.string(),
  schedule: PublicSchedule.nullable(),
  notifications: z.object({ webhook: z.string(), headers: z.array(z.string()), onSuccess: z.boolean() }).nullable(),
});
export type PublicView = z.infer<typeof PublicView>;

/** GET and PUT /v1/schedule: without a stored schedule only `node` and `error` are there. */
export const ScheduleView = z.object({
  node,
  ...PublicView.partial().shape,
  /** Why the stored schedule could not be read, if it could not. */
  error: z.string().nullable(),
});
export type ScheduleView = z.infer<typeof ScheduleView>;

export const LineageUpdated = z.object({ node, updated: z.boolean() });

/** What GET /v1/status reports for a node. */
export const NodeStatus = z.object({
  node,
  time: z.string(),
  schedule: PublicSchedule.nullable(),
  scheduleError: z.string().nullable(),
  nextRun: z.object({ at: z.string(), slot: z.string(), name: z.string(), catchUp: z.boolean() }).nullable(),
  saving: z.string().nullable(),
  lastSuccess: z
    .object({ name: z.string(), kind: z.enum(["one-time", "recurring"]), createdAt: z.string(), size: z.number() })
    .nullable(),
  lastFailure: RunRecord.nullable(),
  lastRun: RunRecord.nullable(),
  /** The newest runs that did not succeed, newest last. */
  problems: z.array(RunRecord),
  /** Why recurring runs are paused now (a restore holds the node), if they are. */
  paused: z.string().nullable(),
  kept: z.object({ count: z.number(), bytes: z.number(), broken: z.number(), withoutManifest: z.number() }),
  /** This node's freshness as the agent's watch sees it (the stale metric and webhook say the same). */
  freshness: Freshness,
  /** The newest snapshot-verify on this node, whatever its result, and the newest successful one. */
  lastVerify: VerifyRecord.nullable(),
  lastVerifiedRestore: VerifyRecord.nullable(),
  /** This node's last scheduled verify failed and none came after it (src/schedule/freshness.ts lastVerifyFailed). */
  verifyFailed: z.boolean(),
  /** The cluster's last scheduled verify, by whichever node ran it (etcd's /lifeboat/verify/last); absent before one. */
  clusterVerify: ClusterVerify.nullable().optional(),
  /** When this node's verify timer fires next (`verify.every`), if it is armed. */
  nextVerify: z.string().nullable().optional(),
  /** The revision log's writer on this node: whether it writes now, the chain, the last revision committed. */
  log: z
    .object({
      configured: z.boolean(),
      leading: z.boolean(),
      chain: z.string().optional(),
      committed: z.number().optional(),
      lastSegmentAt: z.string().optional(),
      problem: z.string().optional(),
    })
    .optional(),
  /** The restore or verify session open on this node, if any. */
  session: SessionInfo.nullable(),
});
export type NodeStatus = z.infer<typeof NodeStatus>;
