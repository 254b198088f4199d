/**
 * `lifeboat etcd snapshot-restore`: flags -> the restore coordinator (src/restore/coordinator.ts, or rollback.ts
 * with --rollback) over the fleet (src/fleet/restore-agents.ts) -> exit code. The flow is drawn in
 * src/restore/README.md.
 */
import { validateSnapshotName } from "../archive/names.js";
import { applyS3Flags, missingEtcdControl, type S3Flags } from "../config/cluster.js";
import { restoreView } from "../fleet/restore-agents.js";
import { runRestore, type CoordinatorDeps } from "../restore/coordinator.js";
import { runRollback } from "../restore/rollback.js";
import { ConfigError, UserError } from "../util/errors.js";
import type { CliDeps } from "./deps.js";
import { formatElapsed } from "./output.js";
import { ProgressBoard } from "./progress.js";

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
  const fleet = await deps.openFleet(options.config, deps.out, 600_000);
  try {
    const config = name ? await applyS3Flags(fleet.config, options) : fleet.config;
    const uncontrolled = name ? missingEtcdControl(config.etcdNodes) : [];
    if (uncontrolled.length) throw new ConfigError(uncontrolled, fleet.configPath);
    const restoreDeps: CoordinatorDeps = {
      out: {
        line: (l) => deps.out.line(l),
        note: (l) => deps.out.note(l),
        result: (v) => deps.out.result(v),
        duration: formatElapsed,
      },
      clock: deps.clock,
      sleep: (ms) => deps.sleep(ms),
      confirm: (question) => deps.confirm(question, options.yes),
      progress: new ProgressBoard(deps.out, () => deps.clock().getTime()),
      ...restoreView(fleet, config.backup.s3, deps.openStore, deps.out, config.lifeboat.encryption?.identity),
    };
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
    fleet.close();
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
