/**
 * The cluster's lineage: every etcd cluster ID it has had across restores (`lifeboat.lineage` in the state file,
 * oldest first, the one after the newest restore last). A restore gives etcd a new cluster ID, but the operator's cluster, and the
 * retention of the snapshots taken before, stay the same; docs/design.md "Lineage".
 */
import type { ClusterState } from "./state-schema.js";

/**
 * The recorded lineage. A state file written before `lineage` existed still names the cluster ID after each
 * restore in `lifeboat.restores`, and those are this cluster's too.
 */
export function lineageOf(state: ClusterState | undefined): string[] {
  const lifeboat = state?.lifeboat;
  if (lifeboat?.lineage) return [...lifeboat.lineage];
  return unique((lifeboat?.restores ?? []).flatMap((r) => (r.clusterId ? [r.clusterId] : [])));
}

/** What a restore knows about the cluster IDs involved. */
export interface RestoreIds {
  /** The new cluster ID, shared by every restored member. */
  clusterId: string;
  /** What the members reported before the restore; absent when none answered (the disaster case). */
  previousClusterId?: string | undefined;
  /** The restored snapshot's manifest's cluster ID, if it has a manifest. */
  snapshotClusterId?: string | undefined;
}

/**
 * The cluster ID the cluster had just before a restore: what its members said, else the newest one recorded (the
 * cluster after the last restore), else, for a first restore of a cluster that no longer answers, the restored
 * snapshot's (it came from this cluster's own nodes or S3 folder). Undefined when nothing tells.
 */
export function previousClusterId(lineage: readonly string[], ids: RestoreIds): string | undefined {
  return ids.previousClusterId ?? lineage.at(-1) ?? ids.snapshotClusterId;
}

/** The lineage after a restore: the recorded one, the cluster ID before the restore (if new), then the new one. */
export function extendLineage(lineage: readonly string[], previous: string | undefined, current: string): string[] {
  const known = unique([...lineage, ...(previous === undefined ? [] : [previous])]);
  return [...known.filter((id) => id !== current), current];
}

function unique(ids: readonly string[]): string[] {
  return [...new Set(ids)];
}
