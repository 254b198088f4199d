/**
 * Sending the cluster's lineage (docs/design.md "Lineage") to every agent. The restore calls `pushLineage` last:
 * agents prune after each recurring snapshot and do not read the state file, so without it every copy taken
 * before the restore would look like another cluster's to them until the next `schedule push`.
 */
import { lineageOf, readState } from "../config/state.js";
import { routes } from "../api/routes.js";
import { describeError } from "../util/errors.js";
import type { CliDeps } from "./deps.js";
import type { OpenCluster } from "./cluster.js";

export interface LineagePushResult {
  node: string;
  /** False when the agent holds no schedule (nothing prunes there on its own) or could not be reached. */
  updated: boolean;
  error?: string;
}

/**
 * Reads the lineage from the state file as it is now (the restore has just rewritten it) and puts it into every
 * agent's stored schedule, leaving the rest of each schedule as it was pushed. Never throws: the restore has
 * already succeeded, so a node that cannot be reached is a warning that names the fix.
 */
export async function pushLineage(cluster: OpenCluster, deps: CliDeps): Promise<LineagePushResult[]> {
  let lineage: string[];
  try {
    lineage = lineageOf(await readState(cluster.statePath));
  } catch (err) {
    deps.out.note(`warning: cannot read the lineage from ${cluster.statePath} (${describeError(err)}); ${FIX}`);
    return [];
  }
  const results = await Promise.all(
    cluster.agents.map(async ({ node, client }): Promise<LineagePushResult> => {
      try {
        const res = await client.call(routes.pushLineage, { body: { lineage } });
        return { node: node.memberName, updated: res.updated };
      } catch (err) {
        return { node: node.memberName, updated: false, error: describeError(err) };
      }
    }),
  );
  for (const r of results) if (r.error) deps.out.note(`warning: ${r.node}: lineage not sent (${r.error}); ${FIX}`);
  const updated = results.filter((r) => r.updated).map((r) => r.node);
  if (updated.length) deps.out.line(`lineage ${lineage.join(", ")} sent to the schedule of ${updated.join(", ")}`);
  return results;
}

const FIX =
  "recurring pruning there keeps the snapshots taken before the restore until `lifeboat etcd schedule push` is run";
