/**
 * `lifeboat etcd snapshot-restore`: locate, plan, confirm, hold every node (sessions), prepare, serve, verify
 * everywhere, then (and only then) stop every member, rebuild every data directory beside the old one, start, wait
 * healthy, run post-restore hooks. `--dry-run` prints the plan; `--rollback` is in restore-rollback.ts.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { AgentClient } from "../agent/client.js";
import { validateSnapshotName } from "../archive/names.js";
import { applyS3Flags, missingEtcdControl, type ClusterConfig } from "../config/cluster.js";
import { buildRestorePlan, formatPlan, type Preflight, type RestorePlan } from "../restore/plan.js";
import { distributeAndCompare, rebuildCluster, untouched } from "../restore/apply.js";
import type { ClusterState } from "../config/state.js";
import { ConfigError, ExitCode, UserError } from "../util/errors.js";
import type { CliDeps } from "./deps.js";
import { openCluster, type OpenCluster } from "./cluster.js";
import { clusterHealth, type NodeHealth } from "./health.js";
import { knownRevision } from "./restore-revision.js";
import { locate, type Located } from "./restore-locate.js";
import { rollbackCommand } from "./restore-rollback.js";
import { confirm, restoreNode, type RestoreOptions } from "./restore-shared.js";
import { createSessions, onInterrupt } from "./restore-session.js";
import { pushLineage } from "./lineage.js";
import { checkStateCertificates, parseArchivedState, recordRestore } from "./restore-state.js";
import { formatDuration } from "./output.js";

export type { RestoreOptions };

export async function runSnapshotRestore(options: RestoreOptions, deps: CliDeps): Promise<void> {
  const name = options.rollback ? undefined : checkedName(options.name);
  const cluster = await openCluster(options.config, deps.out, 600_000);
  try {
    if (!name) return await rollbackCommand(cluster, options, deps);
    const config = await applyS3Flags(cluster.config, options);
    await restore(name, cluster, config, options, deps);
  } finally {
    cluster.close();
  }
}

/** The one name rule for every command that takes a snapshot name (exit 2 before anything is asked). */
export function checkedName(name: string | undefined): string {
  if (!name) throw new UserError("--name: you must specify the snapshot name");
  if (name.toLowerCase().endsWith(".zip"))
    throw new UserError(`--name: give the snapshot name without .zip (${name.slice(0, -4)})`);
  const why = validateSnapshotName(name, { allowRecurring: true });
  if (why) throw new UserError(`--name ${JSON.stringify(name)}: ${why}`);
  return name;
}

/** Prints the phases as they start and keeps their durations for the report. */
function phases(first: string, deps: CliDeps) {
  const timings: [string, number][] = [];
  let current = first;
  const began = Date.now();
  let start = began;
  const say = (title: string) => deps.out.line(`[restore] ${title} (at ${formatDuration(Date.now() - began)})`);
  say(first);
  return {
    timings,
    next(title: string) {
      timings.push([current, Date.now() - start]);
      current = title;
      start = Date.now();
      say(title);
    },
    end: () => timings.push([current, Date.now() - start]),
  };
}

async function restore(
  name: string,
  cluster: OpenCluster,
  config: ClusterConfig,
  options: RestoreOptions,
  deps: CliDeps,
) {
  const uncontrolled = missingEtcdControl(config.etcdNodes);
  if (uncontrolled.length) throw new ConfigError(uncontrolled, cluster.configPath);
  const phase = phases("locate the snapshot", deps);
  const located = await locate(name, cluster, config, options, (l) => deps.out.note(l));
  const health = await clusterHealth(cluster);
  const plan = await makePlan(name, located, health, cluster, config, options, deps);
  for (const line of formatPlan(plan)) deps.out.line(line);
  if (options.dryRun) {
    deps.out.line("dry run: nothing was changed");
    deps.out.result({ dryRun: true, plan });
    return;
  }
  await confirm(`Stop all ${plan.members.length} members and restore [${plan.name}]?`, options, deps);
  phase.next("hold every node: no snapshot runs until the restore ends");
  const nodes = cluster.agents.map((a) => ({ name: a.node.memberName, client: a.client }));
  const sessions = createSessions(nodes, name, "restore", (l) => deps.out.note(l));
  let critical = false;
  const unguard = onInterrupt({ sessions, critical: () => critical, note: (l) => deps.out.note(l) });
  try {
    await untouched(() => sessions.open());
    phase.next(`prepare: ${plan.server} extracts and verifies the snapshot`);
    const prepared = await untouched(() =>
      agentOf(cluster, plan.server).json<{ sha256: string; size: number; stateFile: string | null }>(
        "POST",
        "/v1/restore/prepare",
        { session: sessions.id, name, ...(located.source.kind === "s3" && located.s3 ? { s3: located.s3 } : {}) },
        600_000,
      ),
    );
    const archived = await untouched(async () => chooseState(name, prepared.stateFile, cluster, options, deps));
    const applyDeps = {
      nodes: cluster.agents.map((a) => restoreNode(a.node.memberName, a.node.agent.endpoint, a.client, sessions)),
      phase: (t: string) => phase.next(t),
      sleep: (ms: number) => sleep(ms),
      healthTimeoutMs: (options.timeout ?? config.backup.timeoutSeconds) * 1000,
      oldClusterId: health.find((h) => h.clusterId)?.clusterId,
      leader: health.find((h) => h.isLeader)?.node,
      critical: (on: boolean) => (critical = on),
    };
    await distributeAndCompare(plan, prepared.sha256, applyDeps);
    const result = await rebuildCluster(plan, prepared.sha256, applyDeps);
    phase.next("record the restore in the state file");
    const notes = await recordRestore({
      statePath: cluster.statePath,
      local: cluster.state,
      archived,
      record: {
        snapshot: name,
        at: deps.clock().toISOString(),
        sha256: prepared.sha256,
        clusterId: result.clusterId,
        previousClusterId: applyDeps.oldClusterId,
        snapshotClusterId: located.manifest?.clusterId,
        revision: result.revision,
        stamp: plan.stamp,
      },
    });
    notes.forEach((n) => deps.out.note(n));
    await pushLineage(cluster, deps);
    phase.end();
    report(plan, result, phase.timings, deps);
  } finally {
    unguard();
    await sessions.release();
  }
}

async function makePlan(
  name: string,
  located: Located,
  health: NodeHealth[],
  cluster: OpenCluster,
  config: ClusterConfig,
  options: RestoreOptions,
  deps: CliDeps,
): Promise<RestorePlan> {
  const preflight = await Promise.all(
    cluster.agents.map(({ client }) => client.json<Preflight>("GET", "/v1/restore/preflight")),
  );
  const manifest = located.manifest;
  const currentRevision = liveRevision(health, manifest?.etcd.revision, (l) => deps.out.note(l));
  const known = currentRevision === undefined ? await knownRevision(located, cluster, config) : undefined;
  return buildRestorePlan({
    name,
    source: located.source,
    members: config.etcdNodes.map((n) => ({
      name: n.memberName,
      agent: n.agent.endpoint,
      peerUrl: n.peerUrl,
      clientUrl: n.clientUrl,
      dataDir: n.dataDir,
      postRestore: n.postRestore,
    })),
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
    bumpOverride: options.bumpRevision,
    stateSource: options.useLocalState ? "local" : "archive",
    now: deps.clock(),
  });
}

/**
 * The running cluster's revision, or undefined when it is unknown: no member answered (never 0), or the members that
 * answered are below the snapshot's revision, so they are not the cluster the snapshot came from (a supervisor
 * restarted them on empty data directories) and say nothing about how far the lost cluster had got.
 */
function liveRevision(health: NodeHealth[], snapshotRevision: number | undefined, note: (l: string) => void) {
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
function chooseState(
  name: string,
  stateFile: string | null,
  cluster: OpenCluster,
  options: RestoreOptions,
  deps: CliDeps,
): ClusterState | undefined {
  const archived = !options.useLocalState && stateFile ? parseArchivedState(stateFile, name) : undefined;
  if (archived) checkStateCertificates(archived, "archived", deps.clock());
  else {
    if (!options.useLocalState)
      deps.out.note(`no state file in snapshot [${name}]: falling back to the local state file`);
    checkStateCertificates(cluster.state, "local", deps.clock());
  }
  return archived;
}

function report(
  plan: RestorePlan,
  result: Awaited<ReturnType<typeof rebuildCluster>>,
  timings: [string, number][],
  deps: CliDeps,
): void {
  for (const h of result.hooks) deps.out.line(`hook on ${h.node}: \`${h.command}\` exited ${h.code}`);
  for (const [node, dir] of Object.entries(result.oldDataDirs))
    if (dir) deps.out.line(`old data of ${node} kept in ${dir}`);
  for (const [title, ms] of timings) deps.out.line(`  ${formatDuration(ms).padStart(9)}  ${title}`);
  deps.out.line(
    `Finished restoring snapshot [${plan.name}] on all etcd hosts: cluster ${result.clusterId}, revision ${result.revision}`,
  );
  deps.out.result({ plan, result, timings: Object.fromEntries(timings) });
  if (result.hooks.some((h) => h.code !== 0)) deps.setExitCode(ExitCode.partial);
}

export function agentOf(cluster: OpenCluster, member: string): AgentClient {
  const found = cluster.agents.find((a) => a.node.memberName === member);
  if (!found) throw new Error(`no agent for ${member}`);
  return found.client;
}
