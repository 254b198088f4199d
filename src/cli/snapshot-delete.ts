/**
 * `lifeboat etcd snapshot-delete NAME... [--force]`: removes the named snapshots from every node (through its
 * agent) and from S3 (by the CLI), manifest first. The whole deletion is planned first; if it would leave any
 * location without a good snapshot it is refused, and nothing is touched, unless --force.
 */
import { applyS3Flags, type S3Flags } from "../config/cluster.js";
import { collectCatalog } from "../fleet/catalog.js";
import { deleteOnFleet, type DeleteOutcome } from "../fleet/prune.js";
import { planDelete, type DeletePlan } from "../snapshot/prune-delete.js";
import { ExitCode, UserError } from "../util/errors.js";
import type { CliDeps } from "./deps.js";
import { formatBytes, table } from "./output.js";

export interface DeleteCommandOptions extends S3Flags {
  config: string;
  force?: boolean;
}

export interface DeleteReport extends DeleteOutcome {
  names: string[];
  missing: string[];
  /** Locations that could not be listed: nothing there was deleted. */
  unreachable: { location: string; error: string }[];
  exitCode: number;
}

export async function runSnapshotDelete(
  names: string[],
  options: DeleteCommandOptions,
  deps: CliDeps,
): Promise<DeleteReport> {
  if (names.length === 0) throw new UserError("name at least one snapshot to delete");
  const fleet = await deps.openFleet(options.config, deps.out);
  try {
    const s3 = (await applyS3Flags(fleet.config, options)).backup.s3;
    const catalog = await collectCatalog(fleet, s3, deps.openStore);
    const plan = planDelete(catalog.snapshots, names, options.force === true);
    if (plan.refused.length > 0) {
      throw new UserError(
        `nothing was deleted: ${plan.refused.map((r) => `${r.names.join(", ")}: ${r.reason}`).join("; ")}`,
      );
    }
    if (plan.remove.length === 0) throw new UserError(`no snapshot named ${names.join(", ")} on any node or in S3`);
    const outcome = await deleteOnFleet(fleet, plan, s3, deps.clock(), deps.openStore);
    const partial = outcome.failed.length || plan.missing.length || catalog.errors.length;
    const report: DeleteReport = {
      names,
      ...outcome,
      missing: plan.missing,
      unreachable: catalog.errors,
      exitCode: partial ? ExitCode.partial : ExitCode.ok,
    };
    print(report, plan, deps);
    return report;
  } finally {
    fleet.close();
  }
}

function print(report: DeleteReport, plan: DeletePlan, deps: CliDeps): void {
  const failed = new Map(report.failed.map((f) => [`${f.location}\0${f.name}`, f.error]));
  const rows = plan.remove.map((i) => {
    const error = failed.get(`${i.location}\0${i.name}`);
    return [i.name, i.location, error ? "FAILED" : "deleted", formatBytes(i.size), error ?? i.reasons.join("; ")];
  });
  deps.out.line(table(["NAME", "LOCATION", "RESULT", "SIZE", "REASON"], rows));
  for (const name of report.missing) deps.out.note(`warning: ${name}: not found on any node or in S3`);
  for (const u of report.unreachable)
    deps.out.note(`warning: cannot list ${u.location}: ${u.error}; nothing was deleted there`);
  deps.out.result(report);
  deps.setExitCode(report.exitCode);
}
