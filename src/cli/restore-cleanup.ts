/**
 * `lifeboat etcd restore-cleanup [--dry-run] [--keep N] [--node NAME]...`: on every etcd node (or the named ones),
 * list what restores left behind (old and failed data directories, stale staging, extracted snapshots, downloads,
 * restore records) and remove it, keeping the newest N old data directories. A node with a restore in progress is
 * refused and left untouched. Every item is printed with its fate and why; with --dry-run nothing is removed.
 */
import { cleanupFleet, type NodeCleanup } from "../fleet/cleanup.js";
import { exitCodeOfFailures } from "../util/errors.js";
import type { CliDeps } from "./deps.js";
import { formatBytes, table } from "./output.js";

const DEFAULT_KEEP = 1;

export interface CleanupCommandOptions {
  config: string;
  dryRun?: boolean;
  keep?: number;
  node?: string[];
}

export interface CleanupReport {
  dryRun: boolean;
  keep: number;
  nodes: NodeCleanup[];
  exitCode: number;
}

export async function runRestoreCleanup(options: CleanupCommandOptions, deps: CliDeps): Promise<CleanupReport> {
  const fleet = await deps.openFleet(options.config, deps.out);
  try {
    const body = { keep: options.keep ?? DEFAULT_KEEP, dryRun: options.dryRun === true };
    const nodes = await cleanupFleet(fleet, options.node ?? [], body);
    const failed = nodes.filter((n) => problemOf(n) !== undefined).length;
    const exitCode = exitCodeOfFailures(failed, nodes.length);
    const report: CleanupReport = { ...body, nodes, exitCode };
    print(report, deps);
    return report;
  } finally {
    fleet.close();
  }
}

function problemOf(n: NodeCleanup): string | undefined {
  if (n.error) return n.error;
  if (n.plan?.refused) return `refused, nothing removed: ${n.plan.refused}`;
  const failed = n.result?.failed ?? [];
  return failed.length ? failed.map((f) => `${f.path}: ${f.error}`).join("; ") : undefined;
}

function print(report: CleanupReport, deps: CliDeps): void {
  const removing = report.dryRun ? "would remove" : "removed";
  const rows: string[][] = [];
  let count = 0;
  let bytes = 0;
  for (const n of report.nodes) {
    const failed = new Map(n.result?.failed.map((f) => [f.path, f.error]) ?? []);
    for (const item of n.plan?.items ?? []) {
      const action = item.action === "keep" ? "keep" : failed.has(item.path) ? "FAILED" : removing;
      if (action === removing) [count, bytes] = [count + 1, bytes + item.size];
      const why = failed.get(item.path) ?? item.reason;
      rows.push([n.node, item.path, item.kind, formatBytes(item.size), formatAge(item.ageSeconds), action, why]);
    }
  }
  deps.out.line(table(["NODE", "PATH", "KIND", "SIZE", "AGE", "ACTION", "REASON"], rows));
  for (const n of report.nodes) {
    const problem = problemOf(n);
    if (problem) deps.out.note(`warning: ${n.node}: ${problem}`);
  }
  deps.out.line(`${report.dryRun ? "Dry run: would remove" : "Removed"} ${count} item(s), ${formatBytes(bytes)}`);
  deps.out.result(report);
  deps.setExitCode(report.exitCode);
}

/** 45s, 12m, 5h, 3d: enough to tell yesterday's directory from last month's. */
function formatAge(seconds: number): string {
  const steps: [number, string][] = [
    [86_400, "d"],
    [3_600, "h"],
    [60, "m"],
  ];
  for (const [size, unit] of steps) if (seconds >= size) return `${Math.floor(seconds / size)}${unit}`;
  return `${seconds}s`;
}
