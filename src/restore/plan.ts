/**
 * The restore plan: everything a restore will do, computed without I/O from what was found (source, digest,
 * preflight of every node). `--dry-run` prints it; the executor (apply.ts) carries it out; tests check it directly.
 */
import { createHash } from "node:crypto";
import type { Preflight as PreflightReply } from "../api/restore.js";
import { UserError } from "../util/errors.js";
import { restoreStamp, stagingDirFor, oldDirFor } from "./node.js";

export type RestoreSource = { kind: "s3"; location: string; key: string } | { kind: "node"; node: string; key: string };

export interface PlanMemberInput {
  name: string;
  agent: string;
  peerUrl: string;
  clientUrl: string;
  dataDir: string;
  postRestore: readonly string[];
}

/** What the plan needs of a node's preflight (GET /v1/restore/preflight, src/api/restore.ts). */
export type Preflight = Pick<
  PreflightReply,
  "node" | "mode" | "tool" | "toolVersion" | "memberVersion" | "supportsBumpRevision" | "dataDirExists"
>;

export interface PlanInput {
  name: string;
  source: RestoreSource;
  /** Every etcd member of the cluster being restored, in cluster.yml order. */
  members: readonly PlanMemberInput[];
  preflight: readonly Preflight[];
  /** What the manifest says, when there is one. */
  snapshot: { sha256?: string; size?: number; revision?: number; createdAt?: string; clusterId?: string };
  /** A restore to a point: the snapshot above is its base, replayed up to `revision` (src/pitr/point.ts). */
  pointInTime?: PointInTime | undefined;
  /** The highest revision a running member reported before the restore; undefined when no member answered. */
  currentRevision?: number | undefined;
  /**
   * The highest revision known from anywhere else (manifests of every copy, the state file's restore records): a
   * lower bound of the lost cluster's revision when no member answers.
   */
  knownRevision?: { revision: number; from: string } | undefined;
  /** `--bump-revision N` (0 turns the bump off). */
  bumpOverride?: number | undefined;
  stateSource: "archive" | "local";
  /** The local state file, which the restore records itself in (and which the archive's may replace). */
  statePath: string;
  /** The current leader, when one answered: it is stopped first. */
  leader?: string | undefined;
  /** The cluster ID before the restore, when a member reported one: the restored cluster must have another. */
  previousClusterId?: string | undefined;
  now: Date;
}

/** What a restore to a point adds to the plan: the chain, the target and when it was observed, the segments. */
export interface PointInTime {
  chain: string;
  revision: number;
  at: string;
  baseRevision: number;
  segments: { first: number; last: number }[];
}

export interface PlannedMember extends PlanMemberInput {
  /** Where the restored data is built before the swap. */
  stagingDir: string;
  /** Where the current data directory is kept after the swap (never deleted by Lifeboat). */
  oldDataDir: string;
  tool: string;
  toolVersion: string;
  /** The running member's version before the restore; null when it did not answer. */
  memberVersion: string | null;
  /** Whether this node's restore tool can raise the revision (etcd 3.4's etcdctl cannot). */
  supportsBumpRevision: boolean;
  mode: "managed" | "external";
}

export interface RestorePlan {
  name: string;
  source: RestoreSource;
  /** With a point in time, `revision` is the target's: what the restored cluster must reach. */
  snapshot: PlanInput["snapshot"];
  pointInTime?: PointInTime;
  stamp: string;
  /** A new cluster token: the restored cluster is a new logical cluster (new cluster and member IDs). */
  initialClusterToken: string;
  initialCluster: string;
  /** The node that serves the snapshot file to the others. */
  server: string;
  bump: { amount: number; markCompacted: boolean; reason: string };
  stateSource: "archive" | "local";
  /** What happens to the state file, in words (printed with the plan). */
  stateFile: string;
  /** The order the members are stopped in: the leader first (a leader stopped last waits out etcd's timeout). */
  stopOrder: string[];
  /** The cluster ID before the restore, when known: the restored cluster must have a different one. */
  previousClusterId?: string;
  members: PlannedMember[];
}

/** etcd's recovery guide: a bump of 1,000,000,000 covers a week-old snapshot at under 1,500 writes per second. */
export const DEFAULT_BUMP = 1_000_000_000;

/**
 * Throws UserError (exit 2, nothing touched) when a node's etcd tools are of another minor series than its running
 * member: an etcdctl 3.4 restore in front of an etcd 3.5 member builds a data directory for the wrong release.
 */
export function checkToolSeries(preflight: readonly Preflight[]): void {
  const wrong = preflight.filter((p) => p.memberVersion && seriesOf(p.memberVersion) !== seriesOf(p.toolVersion));
  if (!wrong.length) return;
  const lines = wrong.map(
    (p) =>
      `${p.node}: its etcd tools are ${p.tool} ${p.toolVersion} but its member runs etcd ${p.memberVersion ?? ""}; ` +
      `point that node's lifeboat.etcd.tools_dir at etcd ${seriesOf(p.memberVersion ?? "")} tools (then run \`lifeboat cert node\` ` +
      `for its agent.json) or install them on its PATH`,
  );
  throw new UserError(
    `refusing to plan the restore: ${wrong.length === 1 ? "a node's" : `${wrong.length} nodes'`} etcd tools do not match the member (another minor series):\n  ${lines.join("\n  ")}`,
  );
}

/** "3.5.30" -> "3.5". */
function seriesOf(version: string): string {
  return version.split(".").slice(0, 2).join(".");
}

export function buildRestorePlan(input: PlanInput): RestorePlan {
  checkToolSeries(input.preflight);
  const stamp = restoreStamp(input.now);
  const byNode = new Map(input.preflight.map((p) => [p.node, p]));
  const members = input.members.map((m): PlannedMember => {
    const pf = byNode.get(m.name);
    if (!pf) throw new Error(`no preflight for ${m.name}`);
    return {
      ...m,
      stagingDir: stagingDirFor(m.dataDir, stamp),
      oldDataDir: oldDirFor(m.dataDir, stamp),
      tool: pf.tool,
      toolVersion: pf.toolVersion,
      memberVersion: pf.memberVersion,
      supportsBumpRevision: pf.supportsBumpRevision,
      mode: pf.mode,
    };
  });
  const first = input.members[0];
  if (!first) throw new Error("a restore needs at least one etcd member");
  const point = input.pointInTime;
  return {
    name: input.name,
    source: input.source,
    snapshot: point ? { ...input.snapshot, revision: point.revision } : input.snapshot,
    ...(point ? { pointInTime: point } : {}),
    stamp,
    initialClusterToken: `lifeboat-${stamp.toLowerCase()}-${shortHash(input.name)}`,
    initialCluster: input.members.map((m) => `${m.name}=${m.peerUrl}`).join(","),
    server: input.source.kind === "node" ? input.source.node : first.name,
    bump: planBump(point ? { ...input, snapshot: { ...input.snapshot, revision: point.revision } } : input),
    stateSource: input.stateSource,
    stateFile: stateFileDecision(input),
    stopOrder: leaderFirst(
      input.members.map((m) => m.name),
      input.leader,
    ),
    ...(input.previousClusterId ? { previousClusterId: input.previousClusterId } : {}),
    members,
  };
}

function leaderFirst(names: string[], leader: string | undefined): string[] {
  return [...names].sort((a, b) => Number(b === leader) - Number(a === leader));
}

/** The state-file choice made after prepare (the archive may have none), spelled out before anything happens. */
function stateFileDecision(input: PlanInput): string {
  const record = `the restore is recorded in ${input.statePath} (lifeboat.restores, lineage)`;
  if (input.stateSource === "local")
    return `the local one, ${input.statePath} (--use-local-state), its certificates checked before any member stops; ${record}`;
  return (
    `the archive's when it has one, else the local one; its certificates are checked before any member stops; ` +
    `with the local CA it replaces ${input.statePath} (Lifeboat's own certificates kept), with another CA it is ` +
    `saved as ${input.statePath}.from-snapshot; ${record}`
  );
}

/** How far the revision is raised, and why (printed with the plan). */
export function planBump(input: PlanInput): RestorePlan["bump"] {
  const unsupported = input.preflight
    .filter((p) => !p.supportsBumpRevision)
    .map((p) => `${p.node} (${p.tool} ${p.toolVersion} has no --bump-revision)`);
  if (input.bumpOverride === 0) return { amount: 0, markCompacted: false, reason: "turned off with --bump-revision 0" };
  if (unsupported.length) {
    return {
      amount: 0,
      markCompacted: false,
      reason:
        `every member must be restored alike, and the restore tool cannot raise the revision on ` +
        `${unsupported.join(", ")} (etcd 3.4's etcdctl has none; a recent 3.5 etcdutl has it)`,
    };
  }
  if (input.bumpOverride !== undefined) {
    return {
      amount: input.bumpOverride,
      markCompacted: true,
      reason: `set with --bump-revision ${input.bumpOverride}`,
    };
  }
  const snapRevision = input.snapshot.revision;
  const { currentRevision, knownRevision } = input;
  if (currentRevision !== undefined && snapRevision !== undefined) {
    const highest = Math.max(currentRevision, knownRevision?.revision ?? 0);
    const gap = Math.max(highest - snapRevision, 0);
    const margin = Math.max(10_000, Math.ceil(gap / 10));
    return {
      amount: gap + margin,
      markCompacted: true,
      reason: `the running cluster is at revision ${highest} and the snapshot at ${snapRevision}: the gap (${gap}) plus a margin of ${margin}, so Kubernetes watchers never see the revision go backwards`,
    };
  }
  // No member answered: the cluster's revision is unknown (never 0). What is known elsewhere is only a lower bound,
  // so etcd's documented default applies unless that known gap is even larger.
  const unknown =
    snapRevision === undefined
      ? "the snapshot's revision is unknown (no manifest)"
      : "no running member reported its revision";
  const knownGap = knownRevision && snapRevision !== undefined ? knownRevision.revision - snapRevision : 0;
  if (knownRevision && knownGap > DEFAULT_BUMP) {
    const margin = Math.ceil(knownGap / 10);
    return {
      amount: knownGap + margin,
      markCompacted: true,
      reason: `${unknown}; the highest revision known (${knownRevision.revision}, from ${knownRevision.from}) is ${knownGap} past the snapshot's: that gap plus a margin of ${margin}`,
    };
  }
  const known = knownRevision
    ? ` (the highest known elsewhere is ${knownRevision.revision}, from ${knownRevision.from})`
    : "";
  return {
    amount: DEFAULT_BUMP,
    markCompacted: true,
    reason: `${unknown}${known}: etcd's recovery guide's ${DEFAULT_BUMP} (a week-old snapshot at up to 1,500 writes/s)`,
  };
}

/** The plan as lines of text, for --dry-run and for the confirmation prompt. */
export function formatPlan(plan: RestorePlan): string[] {
  const src =
    plan.source.kind === "s3"
      ? `${plan.source.location}/${plan.source.key}`
      : `node ${plan.source.node} (${plan.source.key})`;
  const lines = [
    `Restore plan for snapshot [${plan.name}]`,
    `  source:          ${src}`,
    `  digest:          ${plan.snapshot.sha256 ? `sha256:${plan.snapshot.sha256}, every node's copy checked against it before any member stops` : "computed when the file is prepared (no manifest); every node's copy checked against it"}`,
    `  revision:        ${plan.snapshot.revision ?? "unknown (no manifest)"}`,
    ...pointLines(plan),
    `  served by:       ${plan.server}, fetched and checked by every other node`,
    `  state file:      ${plan.stateFile}`,
    `  stop order:      ${plan.stopOrder.join(", ")} (one after another, the leader first), then every data dir rebuilt`,
    `  cluster token:   ${plan.initialClusterToken} (new)`,
    `  cluster ID:      ${plan.previousClusterId ? `a new one, not ${plan.previousClusterId}` : "a new one (no member reported the current one)"}`,
    `  initial cluster: ${plan.initialCluster}`,
    `  revision bump:   ${plan.bump.amount ? `+${plan.bump.amount}, marked compacted` : "none"} — ${plan.bump.reason}`,
    "  members:",
  ];
  for (const m of plan.members) {
    const member = m.memberVersion ? `member etcd ${m.memberVersion}` : "member version unknown (not answering)";
    const bump = m.supportsBumpRevision ? "" : ", no --bump-revision";
    lines.push(
      `    ${m.name}  agent ${m.agent}  peer ${m.peerUrl}  ${m.tool} ${m.toolVersion}${bump}, ${member}  (${m.mode})`,
    );
    lines.push(`      data dir ${m.dataDir}: rebuilt in ${m.stagingDir}, the current one kept as ${m.oldDataDir}`);
    for (const hook of m.postRestore) lines.push(`      after restore: ${hook}`);
  }
  lines.push(
    "  on failure after the stop: every node gets its old data directory back and the old cluster is restarted",
  );
  return lines;
}

/** The lines of a restore to a point: what is replayed onto the snapshot, and where. */
function pointLines(plan: RestorePlan): string[] {
  const p = plan.pointInTime;
  if (!p) return [];
  const first = p.segments[0];
  const last = p.segments[p.segments.length - 1];
  const segments = first && last ? `${p.segments.length} (revisions ${first.first}-${last.last})` : "none";
  return [
    `  point in time:   revision ${p.revision}, observed at ${p.at} (chain ${p.chain})`,
    `  replayed:        the snapshot (revision ${p.baseRevision}) restored on ${plan.server}'s loopback, then the log's segments: ${segments}, each revision checked; the result is what every node restores`,
  ];
}

function shortHash(text: string): string {
  return createHash("sha256").update(text).digest("hex").slice(0, 8);
}
