/**
 * `lifeboat etcd snapshot-restore`: flags -> the restore coordinator (src/restore/coordinator.ts, or rollback.ts
 * with --rollback) over the real agents -> exit code. The flow is drawn in src/restore/README.md.
 */
import { createInterface } from "node:readline/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { validateSnapshotName } from "../archive/names.js";
import { applyS3Flags, missingEtcdControl, type S3Flags } from "../config/cluster.js";
import { runRestore, type CoordinatorDeps } from "../restore/coordinator.js";
import { runRollback } from "../restore/rollback.js";
import { ConfigError, UserError } from "../util/errors.js";
import type { CliDeps } from "./deps.js";
import { openCluster, type OpenCluster } from "./cluster.js";
import { pushLineage } from "./lineage.js";
import { formatElapsed } from "./output.js";
import { memberHealth, restoreAgents, s3Source } from "./restore-agents.js";

export interface RestoreOptions extends S3Flags {
  config: string;
  name?: string;
  local?: boolean;
  fromNode?: string;
  useLocalState?: boolean;
  dryRun?: boolean;
  yes?: boolean;
  rollback?: boolean;
  bumpRevision?: number;
  timeout?: number;
}

export async function runSnapshotRestore(options: RestoreOptions, deps: CliDeps): Promise<void> {
  const name = options.rollback ? undefined : checkedName(options.name);
  const cluster = await openCluster(options.config, deps.out, 600_000);
  try {
    const config = name ? await applyS3Flags(cluster.config, options) : cluster.config;
    const uncontrolled = name ? missingEtcdControl(config.etcdNodes) : [];
    if (uncontrolled.length) throw new ConfigError(uncontrolled, cluster.configPath);
    const restoreDeps = coordinatorDeps(cluster, config.backup.s3, options, deps);
    const healthTimeoutMs = (options.timeout ?? config.backup.timeoutSeconds) * 1000;
    const members = config.etcdNodes.map((n) => ({
      name: n.memberName,
      agent: n.agent.endpoint,
      peerUrl: n.peerUrl,
      clientUrl: n.clientUrl,
      dataDir: n.dataDir,
      postRestore: n.postRestore,
    }));
    const code = name
      ? await runRestore({ ...options, name, members, healthTimeoutMs }, restoreDeps)
      : await runRollback({ healthTimeoutMs }, restoreDeps);
    if (code) deps.setExitCode(code);
  } finally {
    cluster.close();
  }
}

function coordinatorDeps(
  cluster: OpenCluster,
  s3: OpenCluster["config"]["backup"]["s3"],
  options: RestoreOptions,
  deps: CliDeps,
): CoordinatorDeps {
  return {
    out: {
      line: (l) => deps.out.line(l),
      note: (l) => deps.out.note(l),
      result: (v) => deps.out.result(v),
      duration: formatElapsed,
    },
    clock: deps.clock,
    sleep: (ms) => sleep(ms),
    confirm: (question) => confirm(question, options, deps),
    agents: restoreAgents(cluster, s3),
    s3: s3Source(s3),
    health: () => memberHealth(cluster),
    state: { path: cluster.statePath, current: cluster.state },
    pushLineage: async () => void (await pushLineage(cluster, deps)),
  };
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

/** Asks before anything is fetched or held; without a terminal only --yes confirms. */
export async function confirm(question: string, options: { yes?: boolean | undefined }, deps: CliDeps): Promise<void> {
  if (options.yes) return;
  if (!process.stdin.isTTY)
    throw new UserError(
      "this stops every etcd member: pass --yes to confirm (stdin is not a terminal); nothing was changed",
    );
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await rl.question(`${question} Type yes: `);
    if (answer.trim() !== "yes") throw new UserError("not confirmed: nothing was changed");
  } finally {
    rl.close();
  }
  deps.out.line("confirmed");
}
