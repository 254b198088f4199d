/** `lifeboat etcd snapshot-verify`: restore a snapshot into a throwaway etcd on one node and report what it holds. */
import { applyS3Flags, type S3Flags } from "../config/cluster.js";
import type { AgentClient } from "../agent/client.js";
import type { VerifyReport } from "../restore/verify.js";
import type { Located } from "./restore-locate.js";
import { ExitCode, UserError } from "../util/errors.js";
import type { CliDeps } from "./deps.js";
import { openCluster } from "./cluster.js";
import { locate } from "./restore-locate.js";
import { createSessions, onInterrupt } from "./restore-session.js";
import { agentOf, checkedName } from "./snapshot-restore.js";

export async function runSnapshotVerify(
  options: { config: string; name: string; local?: boolean; fromNode?: string } & S3Flags,
  deps: CliDeps,
): Promise<VerifyReport> {
  const name = checkedName(options.name);
  const cluster = await openCluster(options.config, deps.out, 600_000);
  try {
    const config = await applyS3Flags(cluster.config, options);
    const located = await locate(name, cluster, config, options, (l) => deps.out.note(l));
    const member = located.source.kind === "node" ? located.source.node : cluster.agents[0]?.node.memberName;
    if (!member) throw new UserError("cluster.yml has no etcd node");
    const agent = agentOf(cluster, member);
    // A verify session holds no flight: backups go on while the snapshot is checked.
    const sessions = createSessions([{ name: member, client: agent }], name, "verify", (l) => deps.out.note(l));
    const unguard = onInterrupt({ sessions, critical: () => false, note: (l) => deps.out.note(l) });
    const report = await sessions
      .open()
      .then(() => prepareAndVerify(agent, sessions.id, name, member, located, deps))
      .finally(async () => {
        unguard();
        await sessions.release();
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
  agent: AgentClient,
  session: string,
  name: string,
  member: string,
  located: Located,
  deps: CliDeps,
) {
  const s3 = located.source.kind === "s3" && located.s3 ? { s3: located.s3 } : {};
  const prepared = await agent.json<{ sha256: string; from: string }>(
    "POST",
    "/v1/restore/prepare",
    { session, name, ...s3 },
    600_000,
  );
  deps.out.line(`prepared on ${member} from ${prepared.from}: sha256:${prepared.sha256} (trailer verified)`);
  const report = await agent.json<VerifyReport & { node: string }>(
    "POST",
    "/v1/restore/verify",
    { session, name },
    600_000,
  );
  return { ...report, sha256: prepared.sha256 };
}
