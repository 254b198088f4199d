/**
 * Pruning one location (a node's directory or the S3 folder), planned then applied:
 *   listCatalog -> planPrune (pure: applyRetention on what the manifests say, every decision with its reasons)
 *   -> executePrune (manifest first, then archive: a half-deleted copy never lists as good, design.md I4).
 * The plan is what `snapshot-prune --dry-run` prints.
 */
import type { z } from "zod";
import type {
  PruneItem as PruneItemSchema,
  PrunePlan as PrunePlanSchema,
  PruneResult as PruneResultSchema,
} from "../api/prune.js";
import { isRecurringName } from "../archive/rke.js";
import { applyRetention, type RetentionInput, type RetentionPolicy, type SnapshotKind } from "../retention/index.js";
import type { Store } from "../store/store.js";
import { describeError } from "../util/errors.js";
import type { Logger } from "../util/log.js";
import type { CatalogEntry } from "./catalog.js";
import { manifestKey } from "./manifest.js";

/** The plan and result are what POST /v1/prune sends (src/api/prune.ts). */
export type PruneItem = z.infer<typeof PruneItemSchema>;
export type PrunePlan = z.infer<typeof PrunePlanSchema>;
export type PruneResult = z.infer<typeof PruneResultSchema>;

/**
 * What retention sees of a listed copy. A copy counts as verified when its status is `ok`: its manifest is only
 * ever written after the bytes were checked (etcd's trailer and fsync locally, the ETag/MD5 or a re-read in S3),
 * and the archive is still there with the recorded size. Copies without a manifest have no cluster ID, so a
 * cluster-scoped policy keeps them; their kind comes from the name (RKE's `<time>_etcd` is recurring).
 */
export function retentionInputOf(entry: CatalogEntry): RetentionInput {
  const m = entry.manifest;
  const kind: SnapshotKind = m?.kind ?? (isRecurringName(entry.name) ? "recurring" : "one-time");
  return {
    name: entry.name,
    location: entry.location,
    kind,
    verified: entry.status === "ok",
    ...(m ? { clusterId: m.clusterId, created: new Date(m.createdAt) } : {}),
  };
}

/** Decides, without I/O, which copies of one location to keep and remove under `policy` at `now`. */
export function planPrune(
  location: string,
  entries: readonly CatalogEntry[],
  policy: RetentionPolicy,
  now: Date,
): PrunePlan {
  const own = entries.filter((e) => e.location === location);
  const inputs = own.map(retentionInputOf);
  const byInput = new Map(inputs.map((input, i) => [input, own[i]!]));
  const decision = applyRetention(inputs, policy, now);
  const item = (input: RetentionInput, reasons: readonly string[]): PruneItem => {
    const entry = byInput.get(input)!;
    const out: PruneItem = {
      name: entry.name,
      location,
      key: entry.key,
      status: entry.status,
      kind: input.kind,
      size: entry.size,
      reasons,
    };
    if (entry.manifest) {
      out.created = entry.manifest.createdAt;
      out.clusterId = entry.manifest.clusterId;
    }
    return out;
  };
  return {
    location,
    now: now.toISOString(),
    keep: decision.keep.map((e) => item(e.input, e.reasons)),
    remove: decision.remove.map((e) => item(e.input, e.reasons)),
  };
}

/** A copy to delete: its name, its archive's key, and its status when a listing gave one. */
export type CopyToRemove = Pick<PruneItem, "name" | "key"> & { status?: PruneItem["status"] };

/** The keys that make up a copy, in deletion order: the manifest (when there may be one) before the archive. */
export function deletionKeys(item: CopyToRemove): string[] {
  if (item.status === "no-manifest") return [item.key];
  return [manifestKey(item.name), item.key];
}

/**
 * The one way a copy is deleted, wherever it lives: the manifest first, so that a half-deleted copy never lists as
 * good (design.md I4); a failure stops before the archive. Returns the keys removed, in order.
 */
export async function removeCopy(store: Pick<Store, "remove">, item: CopyToRemove): Promise<string[]> {
  const keys = deletionKeys(item);
  for (const key of keys) await store.remove(key);
  return keys;
}

/** Removes every copy the plan removes, one by one; a failure is recorded and the rest still go. */
export async function executePrune(store: Store, plan: PrunePlan, log?: Logger): Promise<PruneResult> {
  const result: PruneResult = { removed: [], failed: [] };
  for (const item of plan.remove) {
    try {
      await removeCopy(store, item);
      result.removed.push(item.name);
      log?.info("pruned snapshot", { name: item.name, location: plan.location, reason: item.reasons[0] });
    } catch (err) {
      result.failed.push({ name: item.name, error: describeError(err) });
      log?.warn("prune failed", { name: item.name, location: plan.location, error: describeError(err) });
    }
  }
  return result;
}
