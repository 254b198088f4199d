/** `lifeboat etcd snapshot-verify`: restore a snapshot into a throwaway etcd on one node and report what it holds. */
import { applyS3Flags, type S3Flags } from "../config/cluster.js";
import type { FleetNode } from "../fleet/fleet.js";
import { restoreAgents, s3Source } from "../fleet/restore-agents.js";
import type { RestoreAgent } from "../restore/fleet.js";
import { locate } from "../restore/locate.js";
import type { RestoreSource } from "../restore/plan.js";
import { holding } from "../restore/sessions.js";
import type { Manifest } from "../snapshot/manifest.js";
import type { VerifyReport } from "../restore/verify.js";
import { ExitCode, UserError } from "../util/errors.js";
import type { CliDeps } from "./deps.js";
import { checkedName } from "./snapshot-restore.js";

export async function runSnapshotVerify(
  options: { config: string; name: string; local?: boolean; fromNode?: string } & S3Flags,
  deps: CliDeps,
): Promise<VerifyReport> {
  const name = checkedName(options.name);
  const fleet = await deps.openFleet(options.config, deps.out, 600_000);
  try {
    const config = await applyS3Flags(fleet.config, options);
    const agents = restoreAgents(fleet, config.backup.s3, config.lifeboat.encryption?.identity);
    const s3 = s3Source(config.backup.s3, deps.openStore);
    const located = await locate(name, { agents, s3 }, options, (l) => deps.out.note(l));
    const member = located.source.kind === "node" ? located.source.node : agents[0]?.name;
    const index = agents.findIndex((a) => a.name === member);
    if (index < 0) throw new UserError("cluster.yml has no etcd node");
    const agent = agents[index]!;
    const fleetNode = fleet.nodes[index]!;
    await agent.checkIdentity(name, located.source);
    // A verify session holds no flight: backups go on while the snapshot is checked.
    const guard = { note: (l: string) => deps.out.note(l), critical: () => false };
    const report = await holding([agent], name, "verify", guard, async (sessions) => {
      await sessions.open();
      return prepareAndVerify(agent, fleetNode, sessions.id, name, located, deps);
    });
    const checked = report.checked.join(", ");
    deps.out.line(
      `${report.ok ? "restorable" : "NOT restorable"}: revision ${report.revision}, ${report.keys} keys, hash ${report.hash}, etcd ${report.etcdVersion}; checked: ${checked}${report.reason ? ` (${report.reason})` : ""}`,
    );
    if (report.note) deps.out.note(report.note);
    if (!report.checked.includes("keys")) {
      deps.out.note(`${name}'s manifest records no contents (taken by an older version, or the member did not answer)`);
    }
    deps.out.result({ name, ...report });
    if (!report.ok) deps.setExitCode(ExitCode.integrity);
    return report;
  } finally {
    fleet.close();
  }
}

async function prepareAndVerify(
  agent: RestoreAgent,
  fleetNode: FleetNode,
  session: string,
  name: string,
  located: { source: RestoreSource; manifest?: Manifest },
  deps: CliDeps,
) {
  const prepared = await agent.prepare(session, name, located.source);
  deps.out.line(`prepared on ${agent.name} from ${prepared.from ?? "?"}: sha256:${prepared.sha256} (trailer verified)`);
  const report = await fleetNode.restore.verify(session, name, located.manifest?.contents);
  return { ...report, sha256: prepared.sha256 };
}
