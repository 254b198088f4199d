/**
 * Deleting snapshots by name (`lifeboat etcd snapshot-delete`), planned over every location before anything is
 * touched. A location must keep at least one good copy of each cluster it holds good copies of: deleting the last
 * one is refused unless forced, because an operator who deletes by name rarely means "leave this node with nothing
 * to restore from".
 */
import type { CatalogEntry } from "./catalog.js";
import { retentionInputOf, type PruneItem } from "./prune.js";

export interface DeletePlan {
  /** Copies to delete, each with its reason. */
  remove: PruneItem[];
  /** Locations where nothing is deleted because the last good copy would go; non-empty => refuse the whole plan. */
  refused: { location: string; names: string[]; reason: string }[];
  /** Requested names found in no location. */
  missing: string[];
}

export const DELETE_REASON = "deleted on request";

/** Plans the deletion of `names` from every location in `entries`. Pure. */
export function planDelete(entries: readonly CatalogEntry[], names: readonly string[], force: boolean): DeletePlan {
  const wanted = new Set(names);
  const plan: DeletePlan = {
    remove: [],
    refused: [],
    missing: names.filter((n) => !entries.some((e) => e.name === n)),
  };
  for (const [location, own] of groupBy(entries, (e) => e.location)) {
    const targets = own.filter((e) => wanted.has(e.name));
    if (targets.length === 0) continue;
    const lastGood = targets.some(
      (t) => t.status === "ok" && !own.some((e) => isGoodOfSameCluster(e, t) && !wanted.has(e.name)),
    );
    if (lastGood && !force) {
      const reason = `would delete the last good snapshot of ${location}; add --force to delete it anyway`;
      plan.refused.push({ location, names: targets.map((e) => e.name), reason });
      continue;
    }
    const reason = lastGood ? `${DELETE_REASON} (--force: the last good snapshot of ${location})` : DELETE_REASON;
    plan.remove.push(...targets.map((e) => itemOf(e, reason)));
  }
  return plan;
}

/** Another cluster's copy is no substitute: it cannot restore this one. */
function isGoodOfSameCluster(entry: CatalogEntry, target: CatalogEntry): boolean {
  return entry.status === "ok" && entry.manifest?.clusterId === target.manifest?.clusterId;
}

function itemOf(entry: CatalogEntry, reason: string): PruneItem {
  const item: PruneItem = {
    name: entry.name,
    location: entry.location,
    key: entry.key,
    status: entry.status,
    kind: retentionInputOf(entry).kind,
    size: entry.size,
    reasons: [reason],
  };
  if (entry.manifest) {
    item.created = entry.manifest.createdAt;
    item.clusterId = entry.manifest.clusterId;
  }
  return item;
}

function groupBy<T>(items: readonly T[], key: (item: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    out.set(k, [...(out.get(k) ?? []), item]);
  }
  return out;
}
