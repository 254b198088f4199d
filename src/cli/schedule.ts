/**
 * `lifeboat etcd schedule push`: sends every agent its recurring-snapshot schedule, retention policy, S3 settings
 * and webhook from cluster.yml. What is sent is assembled in src/fleet/schedule.ts; `services.etcd.snapshot: false`
 * removes it.
 */
import { withBreakGlass } from "../config/encryption.js";
import { applyS3Flags, type S3Flags } from "../config/cluster.js";
import { lineageOf } from "../config/state.js";
import { readStateFile } from "../fleet/open.js";
import { buildSchedulePush, pushReport, pushSchedule, type PushReport, type ScheduleFlags } from "../fleet/schedule.js";
import type { CliDeps } from "./deps.js";
import { table } from "./output.js";

export interface SchedulePushOptions extends S3Flags, ScheduleFlags {
  config: string;
}

export async function runSchedulePush(options: SchedulePushOptions, deps: CliDeps): Promise<PushReport> {
  const fleet = await deps.openFleet(options.config, deps.out);
  try {
    const config = await withBreakGlass(await applyS3Flags(fleet.config, options));
    const stateFile = await readStateFile(fleet);
    if (!stateFile)
      deps.out.note(`warning: no state file at ${fleet.statePath}; recurring snapshots are taken without it`);
    const body = buildSchedulePush(config, stateFile, options, lineageOf(fleet.state));
    const report = pushReport(body, config, await pushSchedule(fleet, body));
    print(report, deps);
    return report;
  } finally {
    fleet.close();
  }
}

function print(report: PushReport, deps: CliDeps): void {
  deps.out.line(
    report.schedule
      ? `Recurring snapshots ${report.schedule}, ${report.retention ?? ""}${report.s3 ? `, uploaded once per run to ${report.s3}` : ", local only"}`
      : "Recurring snapshots are off (services.etcd.snapshot: false): schedule removed",
  );
  if (report.verify) deps.out.line(`Scheduled verify: ${report.verify}, by one elected node`);
  if (report.continuous) deps.out.line(`Revision log: ${report.continuous}`);
  const rows = report.nodes.map((n) => [
    n.node,
    n.ok ? "pushed" : "FAILED",
    n.since ?? "-",
    n.nextRun ?? "-",
    n.reason ?? "",
  ]);
  deps.out.line(table(["NODE", "RESULT", "SINCE", "NEXT RUN", "NOTE"], rows));
  deps.out.result(report);
  deps.setExitCode(report.exitCode);
}
