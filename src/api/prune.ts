/** POST /v1/prune: retention on a node's directory, planned and (unless a dry run) applied (src/snapshot/prune.ts). */
import { z } from "zod";
import { retentionPolicySchema } from "../retention/index.js";
import { CopyStatus } from "./snapshots.js";

const node = z.string();

export const PruneRequest = z.object({
  policy: retentionPolicySchema,
  /** Plan only: nothing is removed. */
  dryRun: z.boolean().default(false),
});
export type PruneRequest = z.infer<typeof PruneRequest>;

/** One copy and what the plan does with it (fields in the order planPrune writes them, which `-o json` shows). */
export const PruneItem = z.object({
  name: z.string(),
  location: z.string(),
  /** The archive (or raw file) key. */
  key: z.string(),
  status: CopyStatus,
  kind: z.enum(["one-time", "recurring"]),
  size: z.number(),
  /** Why it is kept or removed, most important first. */
  reasons: z.array(z.string()).readonly(),
  /** Creation time from the manifest, if there is one. */
  created: z.string().optional(),
  clusterId: z.string().optional(),
});

export const PrunePlan = z.object({
  location: z.string(),
  now: z.string(),
  keep: z.array(PruneItem),
  remove: z.array(PruneItem),
});

export const PruneResult = z.object({
  /** Names whose copy is gone (manifest and archive). */
  removed: z.array(z.string()),
  failed: z.array(z.object({ name: z.string(), error: z.string() })),
});

export const PruneResponse = z.object({
  node,
  dryRun: z.boolean(),
  plan: PrunePlan,
  /** Absent on a dry run. */
  result: PruneResult.optional(),
});
export type PruneResponse = z.infer<typeof PruneResponse>;
