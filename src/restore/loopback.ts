/**
 * A throwaway etcd on 127.0.0.1 (ports chosen free) restored from a snapshot file: what `snapshot-verify`, the
 * scheduled verify and a point-in-time build (src/pitr/replay.ts) work in. It never joins anything, runs on one core
 * at most (it runs beside the live member), and everything it made is removed when `fn` ends, whatever the outcome.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import type { EtcdTools } from "../etcd/binaries.js";
import { EtcdMemberClient } from "../etcd/client.js";
import { ManagedMember, type MemberSpec } from "../etcd/member.js";
import { restoreSnapshotToDir, snapshotStatus, type SnapshotStatus } from "../etcd/restore-tool.js";
import type { Logger } from "../util/log.js";

export interface LoopbackOptions {
  snapshotPath: string;
  tools: EtcdTools;
  /** A folder the throwaway member's directory is made in. */
  workDir: string;
  log: Logger;
  /** Names the member and its folder (`<purpose>-*`). */
  purpose: string;
  limits?: MemberSpec["limits"];
  quotaBackendBytes?: number;
}

export interface LoopbackMember {
  client: EtcdMemberClient;
  /** `snapshot status` of the file it was restored from. */
  status: SnapshotStatus;
}

export async function withLoopbackMember<T>(o: LoopbackOptions, fn: (m: LoopbackMember) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(o.workDir, `${o.purpose}-`));
  const [clientPort, peerPort] = [await freePort(), await freePort()];
  const clientUrl = `http://127.0.0.1:${clientPort}`;
  const peerUrl = `http://127.0.0.1:${peerPort}`;
  const name = `lifeboat-${o.purpose}`;
  const member = new ManagedMember(
    {
      name,
      dataDir: join(dir, "data"),
      clientUrl,
      peerUrl,
      initialCluster: `${name}=${peerUrl}`,
      initialClusterState: "new",
      initialClusterToken: name,
      logFile: join(dir, "etcd.log"),
      pidFile: join(dir, "etcd.pid"),
      ...(o.limits ? { limits: o.limits } : {}),
      ...(o.quotaBackendBytes ? { quotaBackendBytes: o.quotaBackendBytes } : {}),
    },
    o.tools,
    o.log.child({ [o.purpose]: o.snapshotPath }),
    // One core at most: the throwaway runs beside the live member, which must keep its share of the machine.
    { maxProcs: 1 },
  );
  try {
    const status = await snapshotStatus(o.tools, o.snapshotPath);
    await restoreSnapshotToDir({
      tools: o.tools,
      snapshotPath: o.snapshotPath,
      dataDir: join(dir, "data"),
      name,
      initialCluster: `${name}=${peerUrl}`,
      initialClusterToken: name,
      initialAdvertisePeerUrls: peerUrl,
    });
    await member.start();
    const client = await EtcdMemberClient.connect({ endpoint: clientUrl, timeoutMs: 10_000 });
    try {
      return await fn({ client, status });
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
