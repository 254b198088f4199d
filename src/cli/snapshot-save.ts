/**
 * `lifeboat etcd snapshot-save`: a snapshot on every etcd node at once, kept locally on each node and uploaded
 * once to S3 by one healthy node (the leader when it is healthy). The fan-out is src/fleet/save.ts.
 */
import { withBreakGlass } from "../config/encryption.js";
import { validateSnapshotName } from "../archive/rke.js";
import { applyS3Flags, type S3Flags } from "../config/cluster.js";
import { readStateFile } from "../fleet/open.js";
import { saveBody, saveOnFleet, type SaveProgress, type SaveReport } from "../fleet/save.js";
import { UserError } from "../util/errors.js";
import type { CliDeps } from "./deps.js";
import { formatBytes, formatElapsed, table } from "./output.js";
import { ProgressBoard } from "./progress.js";

export interface SaveCommandOptions extends S3Flags {
  config: string;
  name?: string;
}

/** RKE's default name: `rke_etcd_snapshot_<RFC3339 in local time>` (Go prints a zero offset as `Z`). */
export function defaultSnapshotName(now: Date): string {
  return `rke_etcd_snapshot_${rfc3339Local(now)}`;
}

export function rfc3339Local(d: Date): string {
  const pad = (n: number) => String(n).padStart(2, "0");
  const offset = -d.getTimezoneOffset();
  const zone =
    offset === 0
      ? "Z"
      : `${offset > 0 ? "+" : "-"}${pad(Math.floor(Math.abs(offset) / 60))}:${pad(Math.abs(offset) % 60)}`;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}${zone}`;
}

export async function runSnapshotSave(options: SaveCommandOptions, deps: CliDeps): Promise<SaveReport> {
  const name = options.name ?? defaultSnapshotName(deps.clock());
  const invalid = validateSnapshotName(name);
  if (invalid) throw new UserError(`--name: ${invalid}`);
  if (!options.name) deps.out.note(`Name of the snapshot is not specified, using [${name}]`);
  const fleet = await deps.openFleet(options.config, deps.out);
  try {
    const config = await withBreakGlass(await applyS3Flags(fleet.config, options));
    const stateFile = await readStateFile(fleet);
    if (!stateFile) deps.out.note(`warning: no state file at ${fleet.statePath}; the snapshot is taken without it`);
    const body = saveBody(config, name, stateFile);
    const board = new ProgressBoard(deps.out, () => deps.clock().getTime());
    const report = await saveOnFleet(fleet, body, config.backup.s3, progressOf(board));
    print(report, deps);
    return report;
  } finally {
    fleet.close();
  }
}

/** One progress line per node (src/cli/progress.ts): the snapshot's bytes read from its member, of about its size. */
function progressOf(board: ProgressBoard): SaveProgress {
  const step = "save";
  return (node, event) => {
    if (event.type === "started") board.update(node, { step, done: 0 });
    else if (event.type === "waiting") board.update(node, { step, note: `waiting for ${event.for} to finish` });
    else if (event.type === "bytes")
      board.update(node, { step, done: event.read ?? event.archive, total: event.total, note: undefined });
    else board.end(node, event.ok, event.size);
  };
}

function print(report: SaveReport, deps: CliDeps): void {
  const rows = report.nodes.map((n) => [
    n.node,
    n.ok ? "saved" : "FAILED",
    n.size === undefined ? "-" : formatBytes(n.size),
    n.revision === undefined ? "-" : String(n.revision),
    formatElapsed(n.durationMs),
    n.reason ?? (n.uploader ? "uploader" : ""),
  ]);
  deps.out.line(table(["NODE", "RESULT", "SIZE", "REVISION", "DURATION", "NOTE"], rows));
  if (report.s3) {
    deps.out.line(
      report.s3.ok
        ? `S3: uploaded to ${report.s3.location} by ${report.s3.node} (verified: ${report.s3.verified})`
        : `S3: upload FAILED to ${report.s3.location}: ${report.s3.reason}; local archives are kept`,
    );
  }
  const saved = report.nodes.filter((n) => n.ok).length;
  deps.out.line(
    (saved === report.nodes.length
      ? `Finished saving snapshot [${report.name}] on all etcd hosts`
      : `Saved snapshot [${report.name}] on ${saved} of ${report.nodes.length} etcd hosts`) +
      (report.s3 && !report.s3.ok ? ", but not in S3" : ""),
  );
  deps.out.result(report);
  deps.setExitCode(report.exitCode);
}
