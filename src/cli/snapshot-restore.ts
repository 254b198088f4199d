/**
 * `lifeboat etcd snapshot-restore`: flags -> the restore coordinator (src/restore/coordinator.ts, or rollback.ts
 * with --rollback) over the fleet (src/fleet/restore-agents.ts) -> exit code. The flow is drawn in
 * src/restore/README.md.
 */
import { validateSnapshotName } from "../archive/names.js";
import { applyS3Flags, missingEtcdControl, type ClusterConfig, type S3Flags } from "../config/cluster.js";
import { locatePoint, type PointRequest } from "../pitr/point.js";
import type { PointInTime } from "../restore/plan.js";
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
  toRevision?: number;
  toTime?: string;
  latest?: boolean;
  chain?: string;
}

export async function runSnapshotRestore(options: RestoreOptions, deps: CliDeps): Promise<void> {
  const point = pointRequest(options);
  const name = options.rollback || point ? undefined : checkedName(options.name);
  const fleet = await deps.openFleet(options.config, deps.out, 600_000);
  try {
    const restoring = name !== undefined || point !== undefined;
    const config = restoring ? await applyS3Flags(fleet.config, options) : fleet.config;
    const uncontrolled = restoring ? missingEtcdControl(config.etcdNodes) : [];
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
    const target = point ? await locateTarget(point, config, deps) : undefined;
    const code = target
      ? await runRestore(
          { ...options, name: target.name, pointInTime: target.point, members, healthTimeoutMs },
          restoreDeps,
        )
      : name
        ? await runRestore({ ...options, name, members, healthTimeoutMs }, restoreDeps)
        : await runRollback({ healthTimeoutMs }, restoreDeps);
    if (code) deps.setExitCode(code);
  } finally {
    fleet.close();
  }
}

/** --to-revision, --to-time or --latest (at most one, and not with --name, --local, --from-node or --rollback). */
function pointRequest(options: RestoreOptions): PointRequest | undefined {
  const given = [
    options.toRevision !== undefined && "--to-revision",
    options.toTime !== undefined && "--to-time",
    options.latest && "--latest",
  ].filter((f): f is string => typeof f === "string");
  if (!given.length) {
    if (options.chain !== undefined) throw new UserError("--chain goes with --to-revision, --to-time or --latest");
    return undefined;
  }
  if (given.length > 1) throw new UserError(`${given.join(" and ")}: give one point in time`);
  const clash = [
    options.name !== undefined && "--name",
    options.local && "--local",
    options.fromNode !== undefined && "--from-node",
    options.rollback && "--rollback",
  ].filter((f): f is string => typeof f === "string");
  if (clash.length)
    throw new UserError(`${given[0]} cannot be combined with ${clash.join(", ")}: a point in time is built from S3`);
  if (options.toRevision !== undefined) {
    if (options.toRevision < 1) throw new UserError("--to-revision: a revision is 1 or more");
    return { revision: options.toRevision, chain: options.chain };
  }
  if (options.toTime !== undefined) {
    const time = parseInstant(options.toTime);
    if (!time)
      throw new UserError(
        `--to-time ${JSON.stringify(options.toTime)}: expected an RFC 3339 time such as 2026-12-01T14:01:00Z`,
      );
    return { time, chain: options.chain };
  }
  return { latest: true, chain: options.chain };
}

function parseInstant(text: string): Date | undefined {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(text)) return undefined;
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? undefined : new Date(ms);
}

/** The base snapshot and the point (src/pitr/point.ts), read from S3 before anything is held. */
async function locateTarget(want: PointRequest, config: ClusterConfig, deps: CliDeps) {
  const s3 = config.backup.s3;
  if (!s3)
    throw new UserError(
      "a restore to a point needs S3 (backup_config.s3backupconfig or --s3): the revision log is there",
    );
  const store = deps.openStore(s3);
  try {
    const found = await locatePoint(store, want, config.lifeboat.encryption?.identity);
    deps.out.note(
      `point in time: revision ${found.revision} (observed ${found.at}) of chain ${found.chain}, from snapshot [${found.base.name}] at revision ${found.base.revision} and ${found.segments.length} log segments`,
    );
    const point: PointInTime = {
      chain: found.chain,
      revision: found.revision,
      at: found.at,
      baseRevision: found.base.revision,
      segments: found.segments,
    };
    return { name: found.base.name, point };
  } finally {
    await store.close();
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
