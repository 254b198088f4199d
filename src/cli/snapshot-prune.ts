/**
 * `lifeboat etcd snapshot-prune [--dry-run] [--include-one-time]`: cluster.yml's retention applied to every node
 * (through its agent) and to S3 (by the CLI), each location on its own, scoped to this cluster's ID and its lineage
 * (the cluster IDs it had before restores, from the state file). Every copy is printed with its fate and the
 * reasons; with --dry-run nothing is removed. The pruning is src/fleet/prune.ts.
 */
import { applyS3Flags, type S3Flags } from "../config/cluster.js";
import { lineageOf } from "../config/state.js";
import { pruneFleet, type LocationPrune } from "../fleet/prune.js";
import { clusterRetention } from "../fleet/schedule.js";
import type { RetentionPolicy } from "../retention/index.js";
import { exitCodeOfFailures } from "../util/errors.js";
import type { CliDeps } from "./deps.js";
import { formatBytes, table } from "./output.js";

export interface PruneCommandOptions extends S3Flags {
  config: string;
  dryRun?: boolean;
  includeOneTime?: boolean;
}

export interface PruneReport {
  dryRun: boolean;
  policy: RetentionPolicy;
  locations: LocationPrune[];
  exitCode: number;
}

export async function runSnapshotPrune(options: PruneCommandOptions, deps: CliDeps): Promise<PruneReport> {
  const fleet = await deps.openFleet(options.config, deps.out);
  try {
    const config = await applyS3Flags(fleet.config, options);
    const dryRun = options.dryRun === true;
    const policy = clusterRetention(config, {
      includeOneTime: options.includeOneTime === true,
      lineage: lineageOf(fleet.state),
    });
    const locations = await pruneFleet(fleet, config.backup.s3, policy, dryRun, deps.clock(), deps.openStore);
    const report: PruneReport = { dryRun, policy, locations, exitCode: exitCodeOf(locations) };
    print(report, deps);
    return report;
  } finally {
    fleet.close();
  }
}

function exitCodeOf(locations: readonly LocationPrune[]): number {
  const bad = locations.filter(
    (l) => l.error !== undefined || (l.result?.failed.length ?? 0) > 0 || l.log?.error || (l.log?.failed ?? 0) > 0,
  ).length;
  return exitCodeOfFailures(bad, locations.length);
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
  for (const l of report.locations) {
    const log = l.log;
    if (!log) continue;
    if (log.error) deps.out.note(`warning: the revision log in ${l.location} was not pruned: ${log.error}`);
    else if (log.chains || log.segments)
      deps.out.line(
        `Revision log: ${removing} ${log.segments} segments no kept snapshot needs and ${log.chains} chains without a kept base${log.failed ? ` (${log.failed} removals FAILED)` : ""}`,
      );
  }
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
