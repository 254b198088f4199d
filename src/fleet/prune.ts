/**
 * Removing snapshots across the cluster: retention on every node (through its agent) and in S3 (by the CLI, with
 * src/snapshot/prune.ts), each location on its own; and deleting named copies, planned first (prune-delete.ts).
 */
import type { S3Settings } from "../config/s3-settings.js";
import type { RetentionPolicy } from "../retention/index.js";
import { listCatalog, refreshListingIndex } from "../snapshot/catalog.js";
import type { DeletePlan } from "../snapshot/prune-delete.js";
import { executePrune, planPrune, type PruneItem, type PrunePlan, type PruneResult } from "../snapshot/prune.js";
import { describeError } from "../util/errors.js";
import type { Fleet, FleetNode, OpenStore } from "./fleet.js";
import { pruneLogIn } from "../pitr/prune.js";
import type { Store } from "../store/store.js";
import { clusterHealth } from "./health.js";

export interface LocationPrune {
  location: string;
  plan?: PrunePlan;
  result?: PruneResult;
  /** S3 only: the revision log's segments and chains no kept snapshot needs (src/pitr/prune.ts). */
  log?: { chains: number; segments: number; failed: number; error?: string };
  error?: string;
}

/** Applies (or with `dryRun`, plans) `policy` on every node and, with `s3`, in S3. */
export async function pruneFleet(
  fleet: Pick<Fleet, "nodes">,
  s3: S3Settings | undefined,
  policy: RetentionPolicy,
  dryRun: boolean,
  now: Date,
  openStore: OpenStore,
): Promise<LocationPrune[]> {
  const nodes = fleet.nodes.map(async (n): Promise<LocationPrune> => {
    const location = `node:${n.node.memberName}`;
    try {
      const res = await n.prune(policy, dryRun);
      return { location, plan: res.plan, ...(res.result ? { result: res.result } : {}) };
    } catch (err) {
      return { location, error: describeError(err) };
    }
  });
  const remote = s3 ? pruneS3(fleet, s3, policy, dryRun, now, openStore) : undefined;
  return Promise.all([...nodes, ...(remote ? [remote] : [])]);
}

/** S3 is pruned by the CLI, scoped to lifeboat.cluster_id or else the cluster ID the members report. */
async function pruneS3(
  fleet: Pick<Fleet, "nodes">,
  target: S3Settings,
  policy: RetentionPolicy,
  dryRun: boolean,
  now: Date,
  openStore: OpenStore,
): Promise<LocationPrune> {
  const location = "s3";
  const clusterId = policy.clusterId ?? (await clusterHealth(fleet)).find((h) => h.clusterId)?.clusterId;
  if (!clusterId) {
    return {
      location,
      error: "not pruned: no member reports a cluster ID (set lifeboat.cluster_id to prune while etcd is down)",
    };
  }
  const store = openStore(target);
  try {
    const plan = planPrune(location, await listCatalog(store, location), { ...policy, clusterId }, now);
    if (dryRun)
      return {
        location,
        plan,
        log: await logPrune(
          store,
          plan.remove.map((i) => i.name),
          true,
        ),
      };
    const result = await executePrune(store, plan);
    if (result.removed.length) await refreshListingIndex(store);
    return { location, plan, result, log: await logPrune(store, [], false) };
  } catch (err) {
    return { location, error: describeError(err) };
  } finally {
    await store.close();
  }
}

/** The log's share of an S3 prune; its failure is reported with it, never failing the snapshots' prune. */
async function logPrune(store: Store, removed: string[], dryRun: boolean): Promise<NonNullable<LocationPrune["log"]>> {
  try {
    const { plan, result } = await pruneLogIn(store, { dryRun, removed });
    return { chains: plan.chains.length, segments: plan.segments.length, failed: result?.failed.length ?? 0 };
  } catch (err) {
    return { chains: 0, segments: 0, failed: 0, error: describeError(err) };
  }
}

export interface DeleteOutcome {
  deleted: { name: string; location: string; reason: string }[];
  failed: { name: string; location: string; error: string }[];
}

/** Carries out a delete plan: node copies through their agents, S3 copies by the CLI (manifest first). */
export async function deleteOnFleet(
  fleet: Pick<Fleet, "nodes">,
  plan: DeletePlan,
  s3: S3Settings | undefined,
  now: Date,
  openStore: OpenStore,
): Promise<DeleteOutcome> {
  const deleted: DeleteOutcome["deleted"] = [];
  const failed: DeleteOutcome["failed"] = [];
  const byNode = new Map(fleet.nodes.map((n) => [`node:${n.node.memberName}`, n]));
  const s3Items = plan.remove.filter((i) => i.location === "s3");
  const nodeWork = plan.remove
    .filter((i) => i.location !== "s3")
    .map(async (item) => {
      const error = await deleteOnNode(item, byNode.get(item.location));
      if (error) failed.push({ name: item.name, location: item.location, error });
      else deleted.push({ name: item.name, location: item.location, reason: item.reasons[0] ?? "" });
    });
  const s3Work = (async () => {
    if (s3Items.length === 0) return;
    if (!s3) return void s3Items.forEach((i) => failed.push({ name: i.name, location: "s3", error: "no S3 target" }));
    const store = openStore(s3);
    try {
      const done = await executePrune(store, { location: "s3", now: now.toISOString(), keep: [], remove: s3Items });
      if (done.removed.length) await refreshListingIndex(store);
      for (const f of done.failed) failed.push({ name: f.name, location: "s3", error: f.error });
      for (const i of s3Items.filter((x) => done.removed.includes(x.name))) {
        deleted.push({ name: i.name, location: "s3", reason: i.reasons[0] ?? "" });
      }
    } finally {
      await store.close();
    }
  })();
  await Promise.all([...nodeWork, s3Work]);
  return { deleted, failed };
}

/** Deletes through the node's agent (manifest, then archive); returns the error, if any. */
async function deleteOnNode(item: PruneItem, fleetNode: FleetNode | undefined): Promise<string | undefined> {
  if (!fleetNode) return "no agent for this location in cluster.yml";
  if (item.status === "no-manifest" && item.key !== `${item.name}.zip`) {
    return `a raw snapshot file is not deleted through the agent; remove ${item.key} from the node's snapshot directory by hand`;
  }
  try {
    await fleetNode.deleteSnapshot(item.name);
    return undefined;
  } catch (err) {
    return describeError(err);
  }
}
