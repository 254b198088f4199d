/** The retention entry point: one pure function for local disks and S3 alike. */
import { decideCount } from "./count.js";
import { checkPolicy } from "./schema.js";
import { decideTiered } from "./tiered.js";
import { snapshotTime } from "./time.js";
import type { RetentionDecision, RetentionEntry, RetentionInput, RetentionPolicy } from "./types.js";
import { keepFor, newestFirst, type Candidate, type Verdict } from "./verdict.js";
import { decideWindow } from "./window.js";

export const NEWEST_VERIFIED = "newest verified snapshot (always kept)";
export const ONE_TIME = "one-time snapshot (kept unless --include-one-time)";
export const NO_TIME = "no creation time";
const LINEAGE_WHY = "its cluster ID before or after a restore";

/**
 * Decides which snapshots to keep and which to remove, with reasons, without any I/O.
 *
 * Inputs are grouped by `location` and by recorded cluster ID, and the policy runs on each group on its own:
 * three nodes with a count of 6 keep 6 on every node, not 6 in total (rancher/rancher#43872). The location
 * string is the grouping key, so a caller that wants S3 uploads counted per node passes `s3:<node>`. Without
 * `policy.clusterId`, snapshots of different recorded clusters (and those with none) never share a group.
 * `policy.lineage` joins clusters: inputs recorded with any of its IDs (or with `policy.clusterId`) form one group,
 * because a restore gives etcd a new cluster ID while the operator's cluster, and its retention, stay the same.
 * Inside a group the policy only sees "candidates": recurring snapshots (and one-time ones with
 * `includeOneTime`) that have a creation time — from the manifest, else from an RKE recurring name, never
 * from mtime or a name prefix.
 *
 * Invariants, under every policy:
 * 1. Partition: every input appears exactly once, in `keep` or in `remove`, as the same object, with at least
 *    one reason; both lists are in input order. Nothing that was not given is ever removed.
 * 2. Newest verified: in every location, for every cluster (a lineage counts as one), the newest verified
 *    snapshot with a creation time is kept ("newest verified snapshot (always kept)"), even when the policy alone
 *    would remove it: a node that failed to save for days still keeps its last good copy (the
 *    rancher/rancher#18548 failure mode).
 *    Unverified snapshots never count as the newest; they are kept or removed by the policy only.
 * 3. Scope: with `policy.clusterId` set, inputs recorded with a cluster ID that is neither it nor in
 *    `policy.lineage`, or with none, are kept ("other cluster …"); they are never matched by name.
 * 4. One-time snapshots are kept unless `policy.includeOneTime` is true.
 * 5. Inputs without a creation time are kept ("no creation time").
 * 6. An empty input gives an empty decision.
 *
 * Throws ConfigError for an invalid policy and RangeError for an invalid `now`.
 */
export function applyRetention(
  snapshots: readonly RetentionInput[],
  policy: RetentionPolicy,
  now: Date,
): RetentionDecision {
  checkPolicy(policy);
  if (Number.isNaN(now.getTime())) throw new RangeError("applyRetention: `now` is not a valid date");
  const verdicts = new Map<number, Verdict>();
  for (const group of groupInputs(snapshots, policy, verdicts)) {
    for (const [index, verdict] of decideGroup(group, policy, now))
      verdicts.set(index, noteLineage(verdict, snapshots[index], policy));
  }
  const keep: RetentionEntry[] = [];
  const remove: RetentionEntry[] = [];
  snapshots.forEach((input, index) => {
    const verdict = verdicts.get(index);
    // Unreachable by construction; throwing (before anything is removed) beats a silent guess.
    if (!verdict) throw new Error(`applyRetention: no verdict for input #${index} (${input.name}); this is a bug`);
    (verdict.keep ? keep : remove).push({ input, reasons: verdict.reasons });
  });
  return { keep, remove };
}

/** The members of one location and cluster that have a creation time; `candidate` marks what the policy may prune. */
interface Member extends Candidate {
  readonly candidate: boolean;
}

/** Records verdicts for out-of-scope and undated inputs and returns the rest grouped by location and cluster. */
function groupInputs(
  snapshots: readonly RetentionInput[],
  policy: RetentionPolicy,
  verdicts: Map<number, Verdict>,
): Member[][] {
  const groups = new Map<string, Member[]>();
  snapshots.forEach((input, index) => {
    const other = otherClusterReason(input, policy);
    const oneTimeExcluded = input.kind === "one-time" && policy.includeOneTime !== true;
    const time = snapshotTime(input);
    if (other) verdicts.set(index, keepFor(other));
    else if (oneTimeExcluded) verdicts.set(index, keepFor(ONE_TIME));
    else if (!time) verdicts.set(index, keepFor(NO_TIME));
    if (other || !time) return;
    // One key for the whole lineage: a one-element array never equals a [location, clusterId] pair.
    const key = JSON.stringify(inLineage(input, policy) ? [input.location] : [input.location, input.clusterId ?? null]);
    const members = groups.get(key) ?? [];
    members.push({ input, index, time, candidate: !oneTimeExcluded });
    groups.set(key, members);
  });
  return [...groups.values()];
}

function otherClusterReason(input: RetentionInput, policy: RetentionPolicy): string | undefined {
  if (policy.clusterId === undefined || inLineage(input, policy)) return undefined;
  const recorded = input.clusterId === undefined ? "snapshot has no cluster ID" : `snapshot: ${input.clusterId}`;
  const lineage = policy.lineage?.length ? `; lineage: ${policy.lineage.join(", ")}` : "";
  return `other cluster (${recorded}; policy: ${policy.clusterId}${lineage})`;
}

/** True for inputs recorded with the policy's cluster ID or one of its lineage. */
function inLineage(input: RetentionInput, policy: RetentionPolicy): boolean {
  const id = input.clusterId;
  return id !== undefined && (id === policy.clusterId || (policy.lineage?.includes(id) ?? false));
}

/** Says why a copy of an earlier cluster ID is decided with this cluster's: it would otherwise look foreign. */
function noteLineage(verdict: Verdict, input: RetentionInput | undefined, policy: RetentionPolicy): Verdict {
  const id = input?.clusterId;
  if (id === undefined || policy.clusterId === undefined || id === policy.clusterId) return verdict;
  if (!policy.lineage?.includes(id)) return verdict;
  return { ...verdict, reasons: [...verdict.reasons, `cluster ${id} is in this cluster's lineage (${LINEAGE_WHY})`] };
}

/** The policy's verdicts for one group's candidates, then the newest-verified rule over the whole group. */
function decideGroup(group: readonly Member[], policy: RetentionPolicy, now: Date): Map<number, Verdict> {
  const sorted = [...group].sort(newestFirst);
  const candidates = sorted.filter((m) => m.candidate);
  const decided = decideCandidates(candidates, policy, now);
  const out = new Map<number, Verdict>();
  candidates.forEach((c, i) => {
    const verdict = decided[i];
    if (verdict) out.set(c.index, verdict);
  });
  const newest = sorted.find((m) => m.input.verified);
  if (newest)
    out.set(newest.index, newest.candidate ? protect(out.get(newest.index)) : keepFor(ONE_TIME, NEWEST_VERIFIED));
  return out;
}

function decideCandidates(candidates: readonly Candidate[], policy: RetentionPolicy, now: Date): Verdict[] {
  switch (policy.type) {
    case "window":
      return decideWindow(candidates, policy, now);
    case "count":
      return decideCount(candidates, policy);
    case "tiered":
      return decideTiered(candidates, policy, now);
  }
}

function protect(verdict: Verdict | undefined): Verdict {
  if (verdict === undefined) return keepFor(NEWEST_VERIFIED);
  if (verdict.keep) return keepFor(...verdict.reasons, NEWEST_VERIFIED);
  return keepFor(NEWEST_VERIFIED, ...verdict.reasons.map((r) => `the policy alone would remove it: ${r}`));
}
