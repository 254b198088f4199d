/**
 * `lifeboat etcd snapshot-prune [--dry-run] [--include-one-time]`: cluster.yml's retention applied to every node
 * (through its agent) and to S3 (by the CLI), each location on its own, scoped to this cluster's ID and its lineage
 * (the cluster IDs it had before restores, from the state file). Every copy is printed with its fate and the
 * reasons; with --dry-run nothing is removed.
 */
import { routes } from "../api/routes.js";
import { applyS3Flags, type ClusterConfig, type S3Flags } from "../config/cluster.js";
import { lineageOf } from "../config/state.js";
import type { RetentionPolicy } from "../retention/index.js";
import { listCatalog } from "../snapshot/catalog.js";
import { executePrune, planPrune, type PrunePlan, type PruneResult } from "../snapshot/prune.js";
import { describeError, ExitCode } from "../util/errors.js";
import type { CliDeps } from "./deps.js";
import { openCluster, type OpenCluster } from "./cluster.js";
import { clusterHealth } from "./health.js";
import { formatBytes, table } from "./output.js";
import { openStore } from "../store/open.js";
import { clusterRetention } from "./schedule.js";

export interface PruneCommandOptions extends S3Flags {
  config: string;
  dryRun?: boolean;
  includeOneTime?: boolean;
}

export interface LocationPrune {
  location: string;
  plan?: PrunePlan;
  result?: PruneResult;
  error?: string;
}

export interface PruneReport {
  dryRun: boolean;
  policy: RetentionPolicy;
  locations: LocationPrune[];
  exitCode: number;
}

export async function runSnapshotPrune(options: PruneCommandOptions, deps: CliDeps): Promise<PruneReport> {
  const cluster = await openCluster(options.config, deps.out);
  try {
    const config = await applyS3Flags(cluster.config, options);
    const dryRun = options.dryRun === true;
    const policy = clusterRetention(config, {
      includeOneTime: options.includeOneTime === true,
      lineage: lineageOf(cluster.state),
    });
    const nodes = cluster.agents.map(async ({ node, client }): Promise<LocationPrune> => {
      const location = `node:${node.memberName}`;
      try {
        const res = await client.call(routes.prune, { body: { policy, dryRun }, timeoutMs: 120_000 });
        return { location, plan: res.plan, ...(res.result ? { result: res.result } : {}) };
      } catch (err) {
        return { location, error: describeError(err) };
      }
    });
    const s3 = config.backup.s3 ? pruneS3(config, cluster, policy, dryRun, deps.clock()) : undefined;
    const locations = await Promise.all([...nodes, ...(s3 ? [s3] : [])]);
    const report: PruneReport = { dryRun, policy, locations, exitCode: exitCodeOf(locations) };
    print(report, deps);
    return report;
  } finally {
    cluster.close();
  }
}

/** S3 is pruned by the CLI, scoped to lifeboat.cluster_id or else the cluster ID the members report. */
async function pruneS3(
  config: ClusterConfig,
  cluster: OpenCluster,
  policy: RetentionPolicy,
  dryRun: boolean,
  now: Date,
): Promise<LocationPrune> {
  const location = "s3";
  const target = config.backup.s3;
  if (!target) return { location, error: "no S3 target" };
  const clusterId = policy.clusterId ?? (await clusterHealth(cluster)).find((h) => h.clusterId)?.clusterId;
  if (!clusterId) {
    return {
      location,
      error: "not pruned: no member reports a cluster ID (set lifeboat.cluster_id to prune while etcd is down)",
    };
  }
  const store = openStore(target);
  try {
    const plan = planPrune(location, await listCatalog(store, location), { ...policy, clusterId }, now);
    if (dryRun) return { location, plan };
    return { location, plan, result: await executePrune(store, plan) };
  } catch (err) {
    return { location, error: describeError(err) };
  } finally {
    await store.close();
  }
}

function exitCodeOf(locations: readonly LocationPrune[]): number {
  const bad = locations.filter((l) => l.error !== undefined || (l.result?.failed.length ?? 0) > 0).length;
  if (bad === 0) return ExitCode.ok;
  return bad === locations.length ? ExitCode.failure : ExitCode.partial;
}

function print(report: PruneReport, deps: CliDeps): void {
  const removing = report.dryRun ? "would remove" : "removed";
  const rows: string[][] = [];
  for (const l of report.locations) {
    if (!l.plan) continue;
    const failed = new Map(l.result?.failed.map((f) => [f.name, f.error]) ?? []);
    for (const item of l.plan.remove) {
      const action = failed.has(item.name) ? "FAILED" : removing;
      const why = failed.get(item.name) ?? item.reasons.join("; ");
      rows.push([item.name, l.location, action, formatBytes(item.size), why]);
    }
    for (const item of l.plan.keep)
      rows.push([item.name, l.location, "keep", formatBytes(item.size), item.reasons.join("; ")]);
  }
  deps.out.line(table(["NAME", "LOCATION", "ACTION", "SIZE", "REASON"], rows));
  for (const l of report.locations) if (l.error) deps.out.note(`warning: ${l.location}: ${l.error}`);
  const count = report.locations.reduce(
    (n, l) => n + (report.dryRun ? (l.plan?.remove.length ?? 0) : (l.result?.removed.length ?? 0)),
    0,
  );
  deps.out.line(
    `${report.dryRun ? "Dry run: would remove" : "Removed"} ${count} snapshot cop${count === 1 ? "y" : "ies"}`,
  );
  deps.out.result(report);
  deps.setExitCode(report.exitCode);
}
