/**
 * `lifeboat etcd snapshot-restore`: locate, prepare, serve, verify everywhere, then (and only then) stop every
 * member, rebuild every data directory beside the old one, start, wait healthy, run post-restore hooks.
 * `--dry-run` prints the plan; `--rollback` undoes the last restore on every node.
 */
import { createInterface } from "node:readline/promises";
import { setTimeout as sleep } from "node:timers/promises";
import type { AgentClient } from "../agent/client.js";
import type { S3Settings } from "../agent/api.js";
import { applyS3Flags, missingEtcdControl, type ClusterConfig, type S3Flags } from "../config/cluster.js";
import { buildRestorePlan, formatPlan, type Preflight, type RestorePlan, type RestoreSource } from "../restore/plan.js";
import { distributeAndCompare, rebuildCluster, rollbackAll, untouched, type RestoreNode } from "../restore/apply.js";
import type { ClusterState } from "../config/state.js";
import type { CatalogEntry } from "../snapshot/catalog.js";
import { archiveKey, manifestKey, parseManifest, type Manifest } from "../snapshot/manifest.js";
import { ConfigError, describeError, ExitCode, NotFoundError, UserError } from "../util/errors.js";
import type { CliDeps } from "./main.js";
import { openCluster, type OpenCluster } from "./cluster.js";
import { clusterHealth } from "./health.js";
import { pushLineage } from "./lineage.js";
import { checkStateCertificates, parseArchivedState, recordRestore } from "./restore-state.js";
import { describeS3, openS3, s3Settings } from "./s3.js";
import { formatDuration } from "./output.js";

export interface RestoreOptions extends S3Flags {
  config: string;
  name?: string;
  local?: boolean;
  useLocalState?: boolean;
  dryRun?: boolean;
  yes?: boolean;
  rollback?: boolean;
  bumpRevision?: number;
  timeout?: number;
}

export interface Located {
  source: RestoreSource;
  manifest?: Manifest;
  s3?: S3Settings;
}

export async function runSnapshotRestore(options: RestoreOptions, deps: CliDeps): Promise<void> {
  const cluster = await openCluster(options.config, deps.out, 600_000);
  try {
    if (options.rollback) return await rollbackCommand(cluster, deps);
    const name = options.name;
    if (!name) throw new UserError("--name: you must specify the snapshot name to restore");
    if (name.endsWith(".zip"))
      throw new UserError(`--name: give the snapshot name without .zip (${name.slice(0, -4)})`);
    const config = await applyS3Flags(cluster.config, options);
    await restore(name, cluster, config, options, deps);
  } finally {
    cluster.close();
  }
}

async function restore(
  name: string,
  cluster: OpenCluster,
  config: ClusterConfig,
  options: RestoreOptions,
  deps: CliDeps,
) {
  const timings: [string, number][] = [];
  let phaseStart = Date.now();
  let current = "locate the snapshot";
  const phase = (title: string) => {
    timings.push([current, Date.now() - phaseStart]);
    current = title;
    phaseStart = Date.now();
    deps.out.line(`[restore] ${title}`);
  };
  const uncontrolled = missingEtcdControl(config.etcdNodes);
  if (uncontrolled.length) throw new ConfigError(uncontrolled, cluster.configPath);
  deps.out.line(`[restore] ${current}`);
  const located = await locate(name, cluster, config, options, deps);
  const health = await clusterHealth(cluster);
  const preflight = await Promise.all(
    cluster.agents.map(({ client }) => client.json<Preflight>("GET", "/v1/restore/preflight")),
  );
  const revisions = health.flatMap((h) => (h.revision === undefined ? [] : [h.revision]));
  const plan = buildRestorePlan({
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
    snapshot: located.manifest
      ? {
          sha256: located.manifest.snapshot.sha256,
          size: located.manifest.snapshot.size,
          revision: located.manifest.etcd.revision,
          createdAt: located.manifest.createdAt,
          clusterId: located.manifest.clusterId,
        }
      : {},
    currentRevision: revisions.length ? Math.max(...revisions) : undefined,
    bumpOverride: options.bumpRevision,
    stateSource: options.useLocalState ? "local" : "archive",
    now: deps.clock(),
  });
  for (const line of formatPlan(plan)) deps.out.line(line);
  if (options.dryRun) {
    deps.out.line("dry run: nothing was changed");
    deps.out.result({ dryRun: true, plan });
    return;
  }
  const server = agentOf(cluster, plan.server);
  phase(`prepare: ${plan.server} extracts and verifies the snapshot`);
  const prepared = await untouched(() =>
    server.json<{ sha256: string; size: number; stateFile: string | null }>(
      "POST",
      "/v1/restore/prepare",
      { name, ...(located.source.kind === "s3" && located.s3 ? { s3: located.s3 } : {}) },
      600_000,
    ),
  );
  const archived = await untouched(async () => chooseState(name, prepared.stateFile, cluster, options, deps));
  const nodes = cluster.agents.map(({ node, client }) => restoreNode(node.memberName, node.agent.endpoint, client));
  const applyDeps = {
    nodes,
    phase,
    sleep: (ms: number) => sleep(ms),
    healthTimeoutMs: (options.timeout ?? config.backup.timeoutSeconds) * 1000,
    oldClusterId: health.find((h) => h.clusterId)?.clusterId,
    leader: health.find((h) => h.isLeader)?.node,
  };
  await distributeAndCompare(plan, prepared.sha256, applyDeps);
  await confirm(plan, options, deps);
  const result = await rebuildCluster(plan, prepared.sha256, applyDeps);
  phase("record the restore in the state file");
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
      stamp: plan.stamp,
    },
  });
  notes.forEach((n) => deps.out.note(n));
  await pushLineage(cluster, deps);
  timings.push([current, Date.now() - phaseStart]);
  report(plan, result, timings, deps);
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

/** S3 first (exact key) unless --local; otherwise, or when S3 lacks it, the first node in cluster.yml order that has it. */
export async function locate(
  name: string,
  cluster: OpenCluster,
  config: ClusterConfig,
  options: RestoreOptions,
  deps: CliDeps,
): Promise<Located> {
  const s3 = config.backup.s3;
  if (s3 && !options.local) {
    const store = openS3(s3);
    try {
      for (const key of [archiveKey(name), name]) {
        const found = await store.stat(key).catch((err: unknown) => {
          if (err instanceof NotFoundError) return undefined;
          throw err;
        });
        if (!found) continue;
        const manifest = await readManifest(store, manifestKey(name));
        return {
          source: { kind: "s3", location: describeS3(s3), key },
          s3: s3Settings(s3),
          ...(manifest ? { manifest } : {}),
        };
      }
      deps.out.note(`snapshot [${name}] is not in ${describeS3(s3)}: falling back to the nodes' local copies`);
    } catch (err) {
      deps.out.note(`S3 ${describeS3(s3)} failed (${describeError(err)}): falling back to the nodes' local copies`);
    } finally {
      store.close();
    }
  }
  for (const { node, client } of cluster.agents) {
    const listing = await client
      .json<{ snapshots: CatalogEntry[] }>("GET", "/v1/snapshots")
      .catch(() => ({ snapshots: [] }));
    const entry = listing.snapshots.find((s) => s.name === name && s.status !== "broken");
    if (entry)
      return {
        source: { kind: "node", node: node.memberName, key: entry.key },
        ...(entry.manifest ? { manifest: entry.manifest } : {}),
      };
  }
  throw new UserError(`snapshot [${name}] was found neither in S3 nor on any etcd node`, ExitCode.failure);
}

async function readManifest(store: ReturnType<typeof openS3>, key: string): Promise<Manifest | undefined> {
  try {
    const chunks: Buffer[] = [];
    for await (const chunk of (await store.get(key)) as AsyncIterable<Buffer>) chunks.push(chunk);
    const parsed = parseManifest(Buffer.concat(chunks).toString("utf8"));
    return parsed.ok ? parsed.manifest : undefined;
  } catch {
    return undefined;
  }
}

async function confirm(plan: RestorePlan, options: RestoreOptions, deps: CliDeps): Promise<void> {
  if (options.yes) return;
  if (!process.stdin.isTTY)
    throw new UserError("a restore stops every etcd member: pass --yes to confirm (stdin is not a terminal)");
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await rl.question(`Stop all ${plan.members.length} members and restore [${plan.name}]? Type yes: `);
    if (answer.trim() !== "yes") throw new UserError("restore not confirmed: nothing was changed");
  } finally {
    rl.close();
  }
  deps.out.line("confirmed");
}

async function rollbackCommand(cluster: OpenCluster, deps: CliDeps): Promise<void> {
  const nodes = cluster.agents.map(({ node, client }) => restoreNode(node.memberName, node.agent.endpoint, client));
  const outcome = await rollbackAll({ nodes, phase: (t) => deps.out.line(`[rollback] ${t}`) });
  deps.out.line(outcome);
  deps.out.result({ rollback: outcome });
  if (outcome.startsWith("rollback incomplete")) deps.setExitCode(ExitCode.restoreFailed);
}

export function agentOf(cluster: OpenCluster, member: string): AgentClient {
  const found = cluster.agents.find((a) => a.node.memberName === member);
  if (!found) throw new Error(`no agent for ${member}`);
  return found.client;
}

function restoreNode(name: string, agent: string, client: AgentClient): RestoreNode {
  const enc = encodeURIComponent;
  const long = 900_000;
  return {
    name,
    agent,
    fetch: (snapshot, peer, sha256) => client.json("POST", "/v1/restore/fetch", { name: snapshot, peer, sha256 }, long),
    digest: (snapshot) => client.json("GET", `/v1/restore/${enc(snapshot)}/digest`, undefined, long),
    stopMember: async () => void (await client.json("POST", "/v1/member/stop", undefined, 120_000)),
    startMember: async () => void (await client.json("POST", "/v1/member/start", undefined, 120_000)),
    apply: (req) => client.json("POST", "/v1/restore/apply", req, long),
    rollback: async () => void (await client.json("POST", "/v1/restore/rollback", undefined, 120_000)),
    finish: async (snapshot) =>
      (await client.json<{ hooks: [] }>("POST", "/v1/restore/finish", { name: snapshot }, long)).hooks,
    health: () => client.json("GET", "/v1/health", undefined, 10_000),
  };
}
