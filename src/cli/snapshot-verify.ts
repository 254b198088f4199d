/** `lifeboat etcd snapshot-verify`: restore a snapshot into a throwaway etcd on one node and report what it holds. */
import { applyS3Flags, type S3Flags } from "../config/cluster.js";
import type { VerifyReport } from "../restore/verify.js";
import { ExitCode, UserError } from "../util/errors.js";
import type { CliDeps } from "./main.js";
import { openCluster } from "./cluster.js";
import { agentOf, locate } from "./snapshot-restore.js";

export async function runSnapshotVerify(
  options: { config: string; name: string; local?: boolean } & S3Flags,
  deps: CliDeps,
): Promise<VerifyReport> {
  const cluster = await openCluster(options.config, deps.out, 600_000);
  try {
    const config = await applyS3Flags(cluster.config, options);
    const located = await locate(options.name, cluster, config, options, deps);
    const member = located.source.kind === "node" ? located.source.node : cluster.agents[0]?.node.memberName;
    if (!member) throw new UserError("cluster.yml has no etcd node");
    const agent = agentOf(cluster, member);
    const prepared = await agent.json<{ sha256: string; from: string }>(
      "POST",
      "/v1/restore/prepare",
      { name: options.name, ...(located.source.kind === "s3" && located.s3 ? { s3: located.s3 } : {}) },
      600_000,
    );
    deps.out.line(`prepared on ${member} from ${prepared.from}: sha256:${prepared.sha256} (trailer verified)`);
    const report = await agent.json<VerifyReport & { node: string }>(
      "POST",
      "/v1/restore/verify",
      { name: options.name },
      600_000,
    );
    deps.out.line(
      `${report.ok ? "restorable" : "NOT restorable"}: revision ${report.revision}, ${report.keys} keys, hash ${report.hash}, etcd ${report.etcdVersion}${report.reason ? ` (${report.reason})` : ""}`,
    );
    deps.out.result({ name: options.name, sha256: prepared.sha256, ...report });
    if (!report.ok) deps.setExitCode(ExitCode.integrity);
    return report;
  } finally {
    cluster.close();
  }
}
