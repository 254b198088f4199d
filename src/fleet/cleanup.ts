/** What restores left on every node (or the named ones), listed and removed by each node's agent under a keep policy. */
import type { CleanupPlan, CleanupResult } from "../restore/leftovers.js";
import { describeError, UserError } from "../util/errors.js";
import type { Fleet, FleetNode } from "./fleet.js";

export interface NodeCleanup {
  node: string;
  plan?: CleanupPlan;
  result?: CleanupResult;
  error?: string;
}

/** Cleans up on the nodes named (all of them when `names` is empty); an unknown name is an error (exit 2). */
export async function cleanupFleet(
  fleet: Pick<Fleet, "nodes">,
  names: readonly string[],
  body: { keep: number; dryRun: boolean },
): Promise<NodeCleanup[]> {
  return Promise.all(
    selectNodes(fleet, names).map(async (n): Promise<NodeCleanup> => {
      try {
        const res = await n.cleanup(body);
        return { node: n.node.memberName, plan: res.plan, ...(res.result ? { result: res.result } : {}) };
      } catch (err) {
        return { node: n.node.memberName, error: describeError(err) };
      }
    }),
  );
}

/** The named nodes (all when `names` is empty); an unknown name is an error (exit 2). */
export function selectNodes(fleet: Pick<Fleet, "nodes">, names: readonly string[]): FleetNode[] {
  if (names.length === 0) return fleet.nodes;
  const known = fleet.nodes.map((n) => n.node.memberName);
  const unknown = names.filter((n) => !known.includes(n));
  if (unknown.length) {
    throw new UserError(
      `--node ${unknown.join(", ")}: no such etcd node in cluster.yml (etcd nodes: ${known.join(", ")})`,
    );
  }
  return fleet.nodes.filter((n) => names.includes(n.node.memberName));
}
