/**
 * `POST /v1/prune`: retention on this node's directory, asked for by `lifeboat etcd snapshot-prune`. The policy
 * comes from the CLI (cluster.yml, and the state file's lineage); it is scoped to a cluster ID, the request's or
 * else the one this node's member reports, and refused when neither is known: a prune that cannot tell this
 * cluster's snapshots from others' does nothing.
 */
import type { PruneRequest, PruneResponse } from "../api/prune.js";
import type { RetentionPolicy } from "../retention/index.js";
import { listCatalog } from "../snapshot/catalog.js";
import { executePrune, planPrune } from "../snapshot/prune.js";
import type { SnapshotSource } from "../snapshot/save.js";
import type { Store } from "../store/store.js";
import { describeError } from "../util/errors.js";
import type { Logger } from "../util/log.js";
import { HttpError } from "./http.js";
import type { AgentMetrics } from "../telemetry/agent-metrics.js";

export interface PruneDeps {
  node: string;
  local: Store;
  etcd: Pick<SnapshotSource, "status">;
  clock: () => Date;
  log: Logger;
  metrics: AgentMetrics;
}

/** Plans (and unless `dryRun`, applies) retention on this node's directory. */
export async function pruneNode(request: PruneRequest, deps: PruneDeps): Promise<PruneResponse> {
  const policy = await scoped(request.policy, deps);
  const location = `node:${deps.node}`;
  const plan = planPrune(location, await listCatalog(deps.local, location), policy, deps.clock());
  if (request.dryRun) return { node: deps.node, dryRun: true, plan };
  const result = await executePrune(deps.local, plan, deps.log);
  deps.metrics.pruneFinished("local", result.removed.length, result.failed.length);
  return { node: deps.node, dryRun: false, plan, result };
}

async function scoped(policy: RetentionPolicy, deps: PruneDeps): Promise<RetentionPolicy> {
  if (policy.clusterId !== undefined) return policy;
  try {
    return { ...policy, clusterId: (await deps.etcd.status()).clusterId };
  } catch (err) {
    throw new HttpError(
      409,
      `cannot tell this cluster's snapshots from others: the member's cluster ID is unknown (${describeError(err)}); ` +
        "start the member or set lifeboat.cluster_id",
    );
  }
}
