/**
 * `lifeboat etcd snapshot-status`: do backups work? For each node: its schedule, last success, last failure with
 * the reason, next run, how many snapshots it keeps, whether it is stale, and its last verified restore; the same for
 * S3 (listed by the CLI itself). Exit 6 when a location is stale or the last scheduled verify failed, so that cron
 * and monitoring can run it as it is. The reading is src/fleet/status.ts; the printing, snapshot-status-format.ts.
 */
import { applyS3Flags, type S3Flags } from "../config/cluster.js";
import { fleetStatus, type StatusReport } from "../fleet/status.js";
import type { CliDeps } from "./deps.js";
import { describeChains } from "../pitr/summary.js";
import { attention, scheduledVerifyLine, statusTable } from "./snapshot-status-format.js";

export async function runSnapshotStatus(options: { config: string } & S3Flags, deps: CliDeps): Promise<StatusReport> {
  const fleet = await deps.openFleet(options.config, deps.out);
  try {
    const config = await applyS3Flags(fleet.config, options);
    const report = await fleetStatus(fleet, config.backup.s3, deps.openStore, deps.clock());
    deps.out.line(statusTable(report));
    for (const line of scheduledVerifyLine(report)) deps.out.line(line);
    if (report.s3?.log) for (const line of describeChains(report.s3.log)) deps.out.line(line);
    for (const line of attention(report)) deps.out.line(line);
    deps.out.result(report);
    deps.setExitCode(report.exitCode);
    return report;
  } finally {
    fleet.close();
  }
}
