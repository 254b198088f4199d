/** `lifeboat etcd snapshot-verify`: restore a snapshot into a throwaway etcd on one node and report what it holds. */
import { applyS3Flags, type S3Flags } from "../config/cluster.js";
import type { AgentClient } from "../agent/client.js";
import { routes } from "../api/routes.js";
import type { VerifyReport } from "../restore/verify.js";
import type { RestoreSource } from "../restore/plan.js";
import { ExitCode, UserError } from "../util/errors.js";
import type { CliDeps } from "./deps.js";
import { openCluster } from "./cluster.js";
import { locate } from "../restore/locate.js";
import { holding } from "../restore/sessions.js";
import type { RestoreAgent } from "../restore/fleet.js";
import { restoreAgents, s3Source } from "./restore-agents.js";
import { checkedName } from "./snapshot-restore.js";

export async function runSnapshotVerify(
  options: { config: string; name: string; local?: boolean; fromNode?: string } & S3Flags,
  deps: CliDeps,
): Promise<VerifyReport> {
  const name = checkedName(options.name);
  const cluster = await openCluster(options.config, deps.out, 600_000);
  try {
    const config = await applyS3Flags(cluster.config, options);
    const agents = restoreAgents(cluster, config.backup.s3);
    const located = await locate(name, { agents, s3: s3Source(config.backup.s3) }, options, (l) => deps.out.note(l));
    const member = located.source.kind === "node" ? located.source.node : agents[0]?.name;
    const index = agents.findIndex((a) => a.name === member);
    if (index < 0) throw new UserError("cluster.yml has no etcd node");
    const agent = agents[index]!;
    const client = cluster.agents[index]!.client;
    // A verify session holds no flight: backups go on while the snapshot is checked.
    const guard = { note: (l: string) => deps.out.note(l), critical: () => false };
    const report = await holding([agent], name, "verify", guard, async (sessions) => {
      await sessions.open();
      return prepareAndVerify(agent, client, sessions.id, name, located.source, deps);
    });
    deps.out.line(
      `${report.ok ? "restorable" : "NOT restorable"}: revision ${report.revision}, ${report.keys} keys, hash ${report.hash}, etcd ${report.etcdVersion}${report.reason ? ` (${report.reason})` : ""}`,
    );
    deps.out.result({ name, ...report });
    if (!report.ok) deps.setExitCode(ExitCode.integrity);
    return report;
  } finally {
    cluster.close();
  }
}

async function prepareAndVerify(
  agent: RestoreAgent,
  client: AgentClient,
  session: string,
  name: string,
  source: RestoreSource,
  deps: CliDeps,
) {
  const prepared = await agent.prepare(session, name, source);
  deps.out.line(`prepared on ${agent.name} from ${prepared.from ?? "?"}: sha256:${prepared.sha256} (trailer verified)`);
  const report = await client.call(routes.verify, { body: { session, name }, timeoutMs: 600_000 });
  return { ...report, sha256: prepared.sha256 };
}
