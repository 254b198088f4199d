/**
 * `lifeboat etcd snapshot-delete NAME... [--force]`: removes the named snapshots from every node (through its
 * agent) and from S3 (by the CLI), manifest first. The whole deletion is planned first; if it would leave any
 * location without a good snapshot it is refused, and nothing is touched, unless --force.
 */
import type { AgentClient } from "../agent/client.js";
import { routes } from "../api/routes.js";
import type { S3Flags } from "../config/cluster.js";
import { planDelete, type DeletePlan } from "../snapshot/prune-delete.js";
import { executePrune, type PruneItem } from "../snapshot/prune.js";
import { applyS3Flags } from "../config/cluster.js";
import { describeError, ExitCode, UserError } from "../util/errors.js";
import type { CliDeps } from "./deps.js";
import { openCluster } from "./cluster.js";
import { formatBytes, table } from "./output.js";
import { openStore } from "../store/open.js";
import { collectCatalog } from "./snapshot-list.js";

export interface DeleteCommandOptions extends S3Flags {
  config: string;
  force?: boolean;
}

export interface DeleteReport {
  names: string[];
  deleted: { name: string; location: string; reason: string }[];
  failed: { name: string; location: string; error: string }[];
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
  const catalog = await collectCatalog(options, deps);
  const plan = planDelete(catalog.snapshots, names, options.force === true);
  if (plan.refused.length > 0) {
    throw new UserError(
      `nothing was deleted: ${plan.refused.map((r) => `${r.names.join(", ")}: ${r.reason}`).join("; ")}`,
    );
  }
  if (plan.remove.length === 0) throw new UserError(`no snapshot named ${names.join(", ")} on any node or in S3`);
  const outcome = await apply(plan, options, deps);
  const report: DeleteReport = {
    names,
    ...outcome,
    missing: plan.missing,
    unreachable: catalog.errors,
    exitCode: outcome.failed.length || plan.missing.length || catalog.errors.length ? ExitCode.partial : ExitCode.ok,
  };
  print(report, plan, deps);
  return report;
}

async function apply(
  plan: DeletePlan,
  options: DeleteCommandOptions,
  deps: CliDeps,
): Promise<Pick<DeleteReport, "deleted" | "failed">> {
  const cluster = await openCluster(options.config, deps.out);
  try {
    const config = await applyS3Flags(cluster.config, options);
    const deleted: DeleteReport["deleted"] = [];
    const failed: DeleteReport["failed"] = [];
    const byNode = new Map(cluster.agents.map((a) => [`node:${a.node.memberName}`, a.client]));
    const s3Items = plan.remove.filter((i) => i.location === "s3");
    const nodeWork = plan.remove
      .filter((i) => i.location !== "s3")
      .map(async (item) => {
        const error = await deleteOnNode(item, byNode.get(item.location));
        if (error) failed.push({ name: item.name, location: item.location, error });
        else deleted.push({ name: item.name, location: item.location, reason: item.reasons[0] ?? "" });
      });
    const s3Work = (async () => {
      if (s3Items.length === 0) return;
      if (!config.backup.s3)
        return void s3Items.forEach((i) => failed.push({ name: i.name, location: "s3", error: "no S3 target" }));
      const store = openStore(config.backup.s3);
      try {
        const done = await executePrune(store, {
          location: "s3",
          now: deps.clock().toISOString(),
          keep: [],
          remove: s3Items,
        });
        for (const f of done.failed) failed.push({ name: f.name, location: "s3", error: f.error });
        for (const i of s3Items.filter((x) => done.removed.includes(x.name))) {
          deleted.push({ name: i.name, location: "s3", reason: i.reasons[0] ?? "" });
        }
      } finally {
        await store.close();
      }
    })();
    await Promise.all([...nodeWork, s3Work]);
    return { deleted, failed };
  } finally {
    cluster.close();
  }
}

/** Deletes through the node's agent (manifest, then archive); returns the error, if any. */
async function deleteOnNode(item: PruneItem, client: AgentClient | undefined): Promise<string | undefined> {
  if (!client) return "no agent for this location in cluster.yml";
  if (item.status === "no-manifest" && item.key !== `${item.name}.zip`) {
    return `a raw snapshot file is not deleted through the agent; remove ${item.key} from the node's snapshot directory by hand`;
  }
  try {
    await client.call(routes.deleteSnapshot, { params: { name: item.name } });
    return undefined;
  } catch (err) {
    return describeError(err);
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
