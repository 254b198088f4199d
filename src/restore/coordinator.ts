/**
 * The restore coordinator (`snapshot-restore`, README.md beside this file): locate, preflight, plan, confirm, hold
 * every node (sessions), prepare and distribute at once (every other node fetches the archive while it still
 * arrives on the serving node), choose the state file, compare the copies, then (and only then) stop every
 * member, rebuild every data directory beside the old one, start, wait healthy, run the hooks, record the restore.
 * Everything before the stop leaves the running cluster untouched; a failure after it rolls every node back.
 * `--dry-run` ends after the plan; `--rollback` is rollback.ts.
 */
import type { ClusterState } from "../config/state.js";
import { ChecksumMismatchError, ExitCode } from "../util/errors.js";
import {
  compareCopies,
  distribute,
  rebuildCluster,
  untouched,
  type ApplyDeps,
  type ApplyResult,
  type Digest,
} from "./apply.js";
import type { MemberHealth, Prepared, RestoreAgent, S3Source } from "./fleet.js";
import { locate, type Located } from "./locate.js";
import { buildRestorePlan, formatPlan, type PlanMemberInput, type PointInTime, type RestorePlan } from "./plan.js";
import { watchProgress, type ProgressSink } from "./progress.js";
import { knownRevision } from "./revision.js";
import { holding, type Signals } from "./sessions.js";
import { checkStateCertificates, parseArchivedState, recordRestore } from "./state.js";

export interface RestoreInput {
  name: string;
  /** Every etcd member, in cluster.yml order. */
  members: readonly PlanMemberInput[];
  local?: boolean | undefined;
  fromNode?: string | undefined;
  useLocalState?: boolean | undefined;
  dryRun?: boolean | undefined;
  bumpRevision?: number | undefined;
  /** How long the start phase may take, from the first start to a healthy cluster. */
  healthTimeoutMs: number;
  /** A restore to a point: `name` is its base (in S3), replayed up to the target (src/pitr/point.ts). */
  pointInTime?: PointInTime | undefined;
}

/** Where the coordinator reports: progress lines, notes (stderr), and the one machine-readable result. */
export interface Report {
  line(text: string): void;
  note(text: string): void;
  result(value: unknown): void;
  /** A duration as the CLI prints them everywhere. */
  duration(ms: number): string;
}

/** Everything the coordinator touches, injected: the CLI passes the real ones, tests fakes. */
export interface CoordinatorDeps {
  out: Report;
  clock(): Date;
  sleep(ms: number): Promise<void>;
  /** Asks before anything is fetched or held; throws when the operator does not confirm. */
  confirm(question: string): Promise<void>;
  /** One per etcd node, in cluster.yml order. */
  agents: readonly RestoreAgent[];
  /** Undefined when no S3 is configured. */
  s3?: S3Source | undefined;
  /** Every member's health before the restore (unreachable ones without a cluster ID). */
  health(): Promise<MemberHealth[]>;
  state: { path: string; current: ClusterState };
  /** Tells every agent the cluster's lineage once the state file changed. */
  pushLineage(): Promise<void>;
  signals?: Signals | undefined;
  /** Where the nodes' progress (download, extract, fetch, rebuild) is shown while the work runs. */
  progress?: ProgressSink | undefined;
}

/** Runs a restore; resolves with the exit code (0, or 3 when a hook failed) and throws on any failure. */
export async function runRestore(input: RestoreInput, deps: CoordinatorDeps): Promise<ExitCode> {
  const phase = phases("locate the snapshot", deps);
  const located = await locate(input.name, deps, input, (l) => deps.out.note(l));
  const plan = await makePlan(input, located, await deps.health(), deps);
  await identityOpens(plan, deps);
  for (const line of formatPlan(plan)) deps.out.line(line);
  if (input.dryRun) {
    deps.out.line("dry run: nothing was changed");
    deps.out.result({ dryRun: true, plan });
    return ExitCode.ok;
  }
  await deps.confirm(`Stop all ${plan.members.length} members and restore [${plan.name}]?`);
  phase.next("hold every node: no snapshot runs until the restore ends");
  let critical = false;
  const guard = { note: (l: string) => deps.out.note(l), critical: () => critical, signals: deps.signals };
  return holding(deps.agents, plan.name, "restore", guard, async (sessions) => {
    await untouched(() => sessions.open());
    const applyDeps: ApplyDeps = {
      nodes: deps.agents.map((a) => a.node(sessions.id)),
      phase: (t) => phase.next(t),
      sleep: (ms) => deps.sleep(ms),
      now: () => deps.clock().getTime(),
      healthTimeoutMs: input.healthTimeoutMs,
      critical: (on) => (critical = on),
    };
    phase.next(
      plan.pointInTime
        ? `prepare: ${plan.server} extracts the snapshot and replays the log onto it`
        : `prepare and distribute: ${plan.server} extracts and verifies the snapshot as it arrives, every other node fetches it from ${plan.server} meanwhile`,
    );
    const watch = deps.progress ? watchProgress(deps.agents, deps.progress) : undefined;
    const result = await (async () => {
      const { prepared, copies } = await prepareAndDistribute(plan, sessions.id, deps.agents, applyDeps);
      if (prepared.pointInTime)
        deps.out.note(
          `${plan.server} replayed ${prepared.pointInTime.applied} revisions onto the snapshot (revision ${prepared.pointInTime.baseRevision}): revision ${prepared.pointInTime.revision}`,
        );
      const archived = await untouched(async () => chooseState(plan, prepared.stateFile, deps));
      compareCopies(prepared.sha256, copies);
      return { prepared, archived, applied: await rebuildCluster(plan, prepared.sha256, applyDeps) };
    })().finally(() => watch?.stop());
    const { prepared, archived } = result;
    phase.next("record the restore in the state file");
    await record(plan, located, prepared, result.applied, archived, deps);
    phase.end();
    return report(plan, result.applied, phase.timings, deps);
  });
}

/**
 * An encrypted copy must open on the node that will decrypt it, before the confirmation and before anything is held
 * or stopped: a missing or wrong identity is an IdentityError (exit 4) naming where the node looked.
 */
async function identityOpens(plan: RestorePlan, deps: Pick<CoordinatorDeps, "agents" | "out">): Promise<void> {
  const server = deps.agents.find((a) => a.name === plan.server);
  if (!server) return;
  const checked = await server.checkIdentity(plan.name, plan.source);
  if (checked.encrypted) deps.out.note(`encrypted copy: ${plan.server} opens it with the identity in ${checked.where}`);
}

/** The serving node prepares the file; its digest must be the one the plan expects (when a manifest gave one). */
async function prepare(plan: RestorePlan, session: string, agents: readonly RestoreAgent[]): Promise<Prepared> {
  const server = agents.find((a) => a.name === plan.server);
  if (!server) throw new Error(`the serving node ${plan.server} is not part of the restore`);
  const point = plan.pointInTime;
  const replay = point ? { chain: point.chain, toRevision: point.revision, segments: point.segments } : undefined;
  const prepared = await server.prepare(session, plan.name, plan.source, replay);
  const expected = plan.snapshot.sha256;
  const got = point ? prepared.pointInTime?.baseSha256 : prepared.sha256;
  if (expected && got !== expected)
    throw new ChecksumMismatchError(
      `snapshot ${plan.name} prepared on ${plan.server} has sha256:${got ?? "?"}, the plan expects sha256:${expected}`,
    );
  if (point && prepared.pointInTime?.revision !== point.revision)
    throw new ChecksumMismatchError(
      `${plan.server} built revision ${prepared.pointInTime?.revision ?? "none"}, the plan asks for ${point.revision}`,
    );
  return prepared;
}

/**
 * The serving node prepares while every other node fetches from it: what it serves is the archive as it arrives, so
 * the copies grow behind the download (docs/design.md, "The restore pipeline"). A restore to a point serves only the
 * snapshot it builds, so its peers fetch after the prepare. When the prepare fails, its error is the one reported:
 * the peers' failures follow from it.
 */
async function prepareAndDistribute(
  plan: RestorePlan,
  session: string,
  agents: readonly RestoreAgent[],
  applyDeps: ApplyDeps,
): Promise<{ prepared: Prepared; copies: { node: string; digest: Digest }[] }> {
  const preparing = untouched(() => prepare(plan, session, agents));
  if (plan.pointInTime) {
    const prepared = await preparing;
    applyDeps.phase(`distribute: every node fetches the snapshot from ${plan.server}, checking it as it writes`);
    const copies = await distribute(plan, { sha256: prepared.sha256, size: prepared.size }, applyDeps);
    return { prepared, copies };
  }
  const distributing = distribute(plan, { sha256: plan.snapshot.sha256, size: plan.snapshot.size }, applyDeps);
  const [prepared, copies] = await Promise.allSettled([preparing, distributing]);
  if (prepared.status === "rejected") throw prepared.reason;
  if (copies.status === "rejected") throw copies.reason;
  return { prepared: prepared.value, copies: copies.value };
}

/** Prints the phases as they start and keeps their durations for the report. */
function phases(first: string, deps: Pick<CoordinatorDeps, "out" | "clock">) {
  const now = () => deps.clock().getTime();
  const timings: [string, number][] = [];
  let current = first;
  const began = now();
  let start = began;
  // When each phase began: a command cut off by its caller's deadline still shows how far it got.
  const say = (title: string) => deps.out.line(`[restore] ${title} (at ${deps.out.duration(now() - began)})`);
  say(first);
  return {
    timings,
    next(title: string) {
      timings.push([current, now() - start]);
      current = title;
      start = now();
      say(title);
    },
    end: () => timings.push([current, now() - start]),
  };
}

async function makePlan(
  input: RestoreInput,
  located: Located,
  health: MemberHealth[],
  deps: CoordinatorDeps,
): Promise<RestorePlan> {
  const preflight = await Promise.all(deps.agents.map((a) => a.preflight()));
  const manifest = located.manifest;
  const currentRevision = liveRevision(health, input.pointInTime?.revision ?? manifest?.etcd.revision, (l) =>
    deps.out.note(l),
  );
  const known =
    currentRevision === undefined
      ? await knownRevision(located, { nodes: deps.agents.map((a) => a.name), s3: deps.s3, state: deps.state.current })
      : undefined;
  return buildRestorePlan({
    name: input.name,
    source: located.source,
    members: input.members,
    preflight,
    snapshot: manifest
      ? {
          sha256: manifest.snapshot.sha256,
          size: manifest.snapshot.size,
          revision: manifest.etcd.revision,
          createdAt: manifest.createdAt,
          clusterId: manifest.clusterId,
        }
      : {},
    currentRevision,
    knownRevision: known,
    pointInTime: input.pointInTime,
    bumpOverride: input.bumpRevision,
    stateSource: input.useLocalState ? "local" : "archive",
    statePath: deps.state.path,
    leader: health.find((h) => h.isLeader)?.node,
    previousClusterId: health.find((h) => h.clusterId)?.clusterId,
    now: deps.clock(),
  });
}

/**
 * The running cluster's revision, or undefined when it is unknown: no member answered (never 0), or the members that
 * answered are below the snapshot's revision, so they are not the cluster the snapshot came from (a supervisor
 * restarted them on empty data directories) and say nothing about how far the lost cluster had got.
 */
function liveRevision(health: MemberHealth[], snapshotRevision: number | undefined, note: (l: string) => void) {
  const live = health.flatMap((h) => (h.clusterId && h.revision !== undefined ? [h.revision] : []));
  if (!live.length) return undefined;
  const highest = Math.max(...live);
  if (snapshotRevision === undefined || highest >= snapshotRevision) return highest;
  note(
    `the running members are at revision ${highest}, below the snapshot's ${snapshotRevision}: they are not the cluster the snapshot came from, so its revision counts as unknown`,
  );
  return undefined;
}

/** The archive's state file (RKE >= 1.1.4) unless --use-local-state; its certificates are checked here. */
function chooseState(plan: RestorePlan, stateFile: string | null, deps: CoordinatorDeps): ClusterState | undefined {
  const useArchive = plan.stateSource === "archive";
  const archived = useArchive && stateFile ? parseArchivedState(stateFile, plan.name) : undefined;
  if (archived) checkStateCertificates(archived, "archived", deps.clock());
  else {
    if (useArchive) deps.out.note(`no state file in snapshot [${plan.name}]: falling back to the local state file`);
    checkStateCertificates(deps.state.current, "local", deps.clock());
  }
  return archived;
}

async function record(
  plan: RestorePlan,
  located: Located,
  prepared: Prepared,
  result: ApplyResult,
  archived: ClusterState | undefined,
  deps: CoordinatorDeps,
): Promise<void> {
  const notes = await recordRestore({
    statePath: deps.state.path,
    local: deps.state.current,
    archived,
    record: {
      snapshot: plan.name,
      at: deps.clock().toISOString(),
      sha256: prepared.sha256,
      clusterId: result.clusterId,
      previousClusterId: plan.previousClusterId,
      snapshotClusterId: located.manifest?.clusterId,
      revision: result.revision,
      stamp: plan.stamp,
    },
  });
  notes.forEach((n) => deps.out.note(n));
  await deps.pushLineage();
}

function report(plan: RestorePlan, result: ApplyResult, timings: [string, number][], deps: CoordinatorDeps) {
  for (const h of result.hooks) deps.out.line(`hook on ${h.node}: \`${h.command}\` exited ${h.code}`);
  for (const [node, dir] of Object.entries(result.oldDataDirs))
    if (dir) deps.out.line(`old data of ${node} kept in ${dir}`);
  for (const [title, ms] of timings) deps.out.line(`  ${deps.out.duration(ms).padStart(9)}  ${title}`);
  deps.out.line(
    `Finished restoring snapshot [${plan.name}] on all etcd hosts: cluster ${result.clusterId}, revision ${result.revision}`,
  );
  deps.out.result({ plan, result, timings: Object.fromEntries(timings) });
  return result.hooks.some((h) => h.code !== 0) ? ExitCode.partial : ExitCode.ok;
}
