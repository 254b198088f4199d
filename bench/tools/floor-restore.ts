/**
 * `node dist/bench/tools/floor-restore.js <plan.json>`: the restore floor, only the steps no restore can skip:
 *   1. download the archive from S3 once, inflating its snapshot entry to a file while it arrives;
 *   2. the etcd restore tool (etcdutl, or etcdctl on 3.4) on every member at once;
 *   3. start every member;
 *   4. wait until every member answers and agrees on a leader.
 * No manifest, no digest of our own, no agents, no stopping of an old cluster. It exits once the cluster is healthy,
 * leaving the members running (detached) for the caller to stop; prints `{"pids":[...],"phasesMs":{...}}`.
 * S3 credentials come from the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY).
 */
import { spawn } from "node:child_process";
import { closeSync, createWriteStream, openSync } from "node:fs";
import { open, readFile } from "node:fs/promises";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { createInflateRaw } from "node:zlib";
import { GetObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { extractSnapshot } from "../../src/archive/rke.js";
import { EtcdMemberClient } from "../../src/etcd/client.js";
import { etcdArgs, type MemberSpec } from "../../src/etcd/member-spec.js";

export interface FloorPlan {
  s3: { endpoint: string; bucket: string; key: string };
  /** The snapshot's name (its entry is /backup/<name>). */
  name: string;
  /** Where the snapshot file is written. */
  snapshotFile: string;
  /** etcdutl, or etcdctl with ETCDCTL_API=3 on etcd 3.4. */
  restoreTool: string;
  etcd: string;
  members: MemberSpec[];
  /** Client TLS for the health check. */
  clientTls: { caFile: string; certFile: string; keyFile: string };
}

async function main(planFile: string | undefined): Promise<void> {
  if (!planFile) throw new Error("usage: floor-restore.js <plan.json>");
  const plan = JSON.parse(await readFile(planFile, "utf8")) as FloorPlan;
  const phasesMs: Record<string, number> = {};
  let t = Date.now();
  const lap = (phase: string) => {
    phasesMs[phase] = Date.now() - t;
    t = Date.now();
  };
  await download(plan);
  lap("download");
  await Promise.all(plan.members.map((m) => restoreMember(plan, m)));
  lap("restore");
  const pids = plan.members.map((m) => startMember(plan, m));
  await waitHealthy(plan);
  lap("start");
  process.stdout.write(JSON.stringify({ pids, phasesMs }) + "\n");
}

/**
 * Streams the archive into the snapshot file. A deflated entry (the default) is inflated as it arrives; a stored
 * one, whose size is known only from the central directory, is downloaded first and then extracted.
 */
async function download(plan: FloorPlan): Promise<void> {
  const client = new S3Client({ endpoint: plan.s3.endpoint, region: "us-east-1", forcePathStyle: true });
  const get = async (range?: string) => {
    const out = await client.send(new GetObjectCommand({ Bucket: plan.s3.bucket, Key: plan.s3.key, Range: range }));
    return out.Body as Readable;
  };
  try {
    const head = await readAll(await get("bytes=0-29"));
    if (head.length < 30 || head.readUInt32LE(0) !== 0x04034b50) throw new Error(`${plan.s3.key} is not a zip`);
    const method = head.readUInt16LE(8);
    const dataStart = 30 + head.readUInt16LE(26) + head.readUInt16LE(28);
    if (method === 8) {
      const entry = await get(`bytes=${dataStart}-`);
      await pipeline(
        entry,
        createInflateRaw({ chunkSize: 1 << 20 }),
        createWriteStream(plan.snapshotFile, { mode: 0o600 }),
      );
    } else {
      const zip = `${plan.snapshotFile}.zip`;
      await pipeline(await get(), createWriteStream(zip, { mode: 0o600 }));
      await extractSnapshot(zip, plan.name, plan.snapshotFile);
    }
    const handle = await open(plan.snapshotFile, "r+");
    await handle.sync();
    await handle.close();
  } finally {
    client.destroy();
  }
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

async function restoreMember(plan: FloorPlan, m: MemberSpec): Promise<void> {
  const args = [
    "snapshot",
    "restore",
    plan.snapshotFile,
    `--data-dir=${m.dataDir}`,
    `--name=${m.name}`,
    `--initial-cluster=${m.initialCluster}`,
    `--initial-cluster-token=${m.initialClusterToken}`,
    `--initial-advertise-peer-urls=${m.peerUrl}`,
  ];
  const child = spawn(plan.restoreTool, args, {
    stdio: ["ignore", "ignore", "pipe"],
    env: { ...process.env, ETCDCTL_API: "3" },
  });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once("close", resolve));
  if (code !== 0) throw new Error(`restore of ${m.name} exited with ${code}: ${stderr.slice(-2000)}`);
}

function startMember(plan: FloorPlan, m: MemberSpec): number {
  const log = openSync(m.logFile, "a", 0o600);
  const child = spawn(plan.etcd, etcdArgs(m), { detached: true, stdio: ["ignore", log, log] });
  closeSync(log);
  child.unref();
  if (child.pid === undefined) throw new Error(`could not start etcd for ${m.name}`);
  return child.pid;
}

async function waitHealthy(plan: FloorPlan): Promise<void> {
  const [caPEM, certPEM, keyPEM] = await Promise.all(
    [plan.clientTls.caFile, plan.clientTls.certFile, plan.clientTls.keyFile].map((f) => readFile(f, "utf8")),
  );
  const clients = await Promise.all(
    plan.members.map((m) =>
      EtcdMemberClient.connect({
        endpoint: m.clientUrl,
        tls: { caPEM: caPEM!, certPEM: certPEM!, keyPEM: keyPEM! },
        timeoutMs: 1000,
      }),
    ),
  );
  try {
    const deadline = Date.now() + 120_000;
    while (Date.now() < deadline) {
      const leaders = await Promise.all(
        clients.map((c) =>
          c.status().then(
            (s) => s.leader,
            () => "0",
          ),
        ),
      );
      if (leaders.every((l) => l !== "0" && l === leaders[0])) return;
      await sleep(50);
    }
    throw new Error("the restored cluster did not become healthy within 120 s");
  } finally {
    clients.forEach((c) => c.close());
  }
}

// Exits explicitly: the members it started must not keep this process (the one being timed) alive.
main(process.argv[2]).then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
