/**
 * `snapshot-verify` on one node: restore the snapshot into a throwaway directory, start a throwaway etcd on
 * 127.0.0.1 (ports chosen free), read its revision and key count, compare with the snapshot's own status, stop it and
 * remove everything. Proves a snapshot restores without touching the cluster.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import type { VerifyReport } from "../api/restore.js";
import type { EtcdTools } from "../etcd/binaries.js";
import { EtcdMemberClient } from "../etcd/client.js";
import { ManagedMember } from "../etcd/member.js";
import { restoreSnapshotToDir, snapshotStatus } from "../etcd/restore-tool.js";
import type { Logger } from "../util/log.js";

/** The report is what POST /v1/restore/verify sends (src/api/restore.ts). */
export type { VerifyReport };

export async function verifySnapshotOnLoopback(o: {
  snapshotPath: string;
  tools: EtcdTools;
  workDir: string;
  log: Logger;
}): Promise<VerifyReport> {
  const dir = await mkdtemp(join(o.workDir, "verify-"));
  const [clientPort, peerPort] = [await freePort(), await freePort()];
  const clientUrl = `http://127.0.0.1:${clientPort}`;
  const peerUrl = `http://127.0.0.1:${peerPort}`;
  const member = new ManagedMember(
    {
      name: "lifeboat-verify",
      dataDir: join(dir, "data"),
      clientUrl,
      peerUrl,
      initialCluster: `lifeboat-verify=${peerUrl}`,
      initialClusterState: "new",
      initialClusterToken: "lifeboat-verify",
      logFile: join(dir, "etcd.log"),
      pidFile: join(dir, "etcd.pid"),
    },
    o.tools,
    o.log.child({ verify: o.snapshotPath }),
  );
  try {
    const status = await snapshotStatus(o.tools, o.snapshotPath);
    await restoreSnapshotToDir({
      tools: o.tools,
      snapshotPath: o.snapshotPath,
      dataDir: join(dir, "data"),
      name: "lifeboat-verify",
      initialCluster: `lifeboat-verify=${peerUrl}`,
      initialClusterToken: "lifeboat-verify",
      initialAdvertisePeerUrls: peerUrl,
    });
    await member.start();
    const client = await EtcdMemberClient.connect({ endpoint: clientUrl, timeoutMs: 10_000 });
    try {
      const live = await client.status();
      const keys = await client.count("");
      const problems: string[] = [];
      if (live.revision < status.revision) problems.push(`revision ${live.revision} < snapshot's ${status.revision}`);
      // status.totalKey counts every stored revision of every key, so it is reported, not compared with `keys`.
      const report: VerifyReport = {
        revision: live.revision,
        keys,
        hash: status.hash,
        storedRevisions: status.totalKey,
        totalSize: status.totalSize,
        etcdVersion: live.version,
        ok: problems.length === 0,
      };
      if (problems.length) report.reason = problems.join("; ");
      return report;
    } finally {
      client.close();
    }
  } finally {
    await member.stop().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
