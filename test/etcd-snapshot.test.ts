import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { copyFile, mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { after, before, describe, test } from "node:test";
import { availableEtcdSeries, type EtcdTools } from "../src/etcd/binaries.js";
import { EtcdMemberClient } from "../src/etcd/client.js";
import { runCommand } from "../src/etcd/exec.js";
import { ManagedMember } from "../src/etcd/member.js";
import { restoreSnapshotToDir, snapshotStatus, supportsBumpRevision } from "../src/etcd/restore-tool.js";
import { ChecksumMismatchError, UserError } from "../src/util/errors.js";
import { silentLogger } from "../src/util/log.js";
import { allocateLoopbackHosts } from "../src/util/net.js";
import { startEtcdCluster, type TestCluster } from "./helpers/etcd-cluster.js";

const KEYS = 300;

/** etcd's snapshot trailer: the last 32 bytes are the sha256 of everything before them. */
function trailerValid(data: Buffer): boolean {
  const body = data.subarray(0, data.length - 32);
  return createHash("sha256")
    .update(body)
    .digest()
    .equals(data.subarray(data.length - 32));
}

/** Starts a single member on the restored data dir and returns a client; the member stops when the test ends. */
async function startRestored(tools: EtcdTools, dataDir: string, name: string, dir: string) {
  const [host] = await allocateLoopbackHosts(1, [2379, 2380]);
  const peerUrl = `http://${host}:2380`;
  const member = new ManagedMember(
    {
      name,
      dataDir,
      clientUrl: `http://${host}:2379`,
      peerUrl,
      initialCluster: `${name}=${peerUrl}`,
      initialClusterState: "new",
      initialClusterToken: "restored",
      logFile: join(dir, `${name}.log`),
      pidFile: join(dir, `${name}.pid`),
    },
    tools,
    silentLogger,
    { startTimeoutMs: 20_000 },
  );
  await member.start();
  const client = await EtcdMemberClient.connect({ endpoint: `http://${host}:2379` });
  return {
    client,
    stop: async () => {
      client.close();
      await member.stop();
    },
  };
}

for (const series of await availableEtcdSeries()) {
  describe(`etcd ${series}: snapshots`, () => {
    let dir: string;
    let cluster: TestCluster;
    let streamed: string;
    let revision: number;

    before(async () => {
      dir = await mkdtemp(join(tmpdir(), "lifeboat-etcd-snap-"));
      cluster = await startEtcdCluster({ members: 3, series, tls: true, dir: join(dir, "cluster") });
      const c = await cluster.client(cluster.members[0]!);
      for (let i = 0; i < KEYS; i += 50) {
        await Promise.all(Array.from({ length: 50 }, (_, j) => c.put(`/snap/k${i + j}`, `value-${i + j}`)));
      }
      revision = (await c.status()).revision;
      streamed = join(dir, "streamed.db");
    });
    after(async () => {
      await cluster?.stop();
      await rm(dir, { recursive: true, force: true });
    });

    test("a streamed snapshot matches etcdctl snapshot save from the same member", async () => {
      const member = cluster.members[1]!;
      const client = await cluster.client(member);
      await pipeline(client.snapshot(), createWriteStream(streamed));
      const saved = join(dir, "etcdctl.db");
      const { files } = cluster.tls!;
      const res = await runCommand(
        cluster.tools.etcdctl,
        [`--endpoints=${member.clientUrl}`, `--cacert=${files.caFile}`, `--cert=${files.certFile}`].concat([
          `--key=${files.keyFile}`,
          "snapshot",
          "save",
          saved,
        ]),
        { timeoutMs: 30_000, env: { ...process.env, ETCDCTL_API: "3" } },
      );
      assert.equal(res.code, 0, res.stderr);

      const ours = await readFile(streamed);
      const theirs = await readFile(saved);
      assert.equal(ours.length % 512, 32);
      assert.equal(theirs.length % 512, 32);
      assert.equal(ours.length, theirs.length);
      assert.ok(trailerValid(ours), "streamed snapshot's sha256 trailer verifies");
      assert.ok(trailerValid(theirs), "etcdctl snapshot's sha256 trailer verifies");

      const [a, b] = [await snapshotStatus(cluster.tools, streamed), await snapshotStatus(cluster.tools, saved)];
      assert.equal(a.revision, revision);
      assert.equal(a.revision, b.revision);
      assert.equal(a.totalKey, b.totalKey);
      assert.ok(a.totalKey >= KEYS);
      assert.equal(a.hash, b.hash);
    });

    test("snapshot status leaves the file untouched", async () => {
      const before = createHash("sha256")
        .update(await readFile(streamed))
        .digest("hex");
      await snapshotStatus(cluster.tools, streamed);
      const after = createHash("sha256")
        .update(await readFile(streamed))
        .digest("hex");
      assert.equal(after, before);
    });

    test("restores with restoreSnapshotToDir, starts, and has the keys", async () => {
      const dataDir = join(dir, "restored", "data");
      await restoreSnapshotToDir({
        tools: cluster.tools,
        snapshotPath: streamed,
        dataDir,
        name: "restored",
        initialCluster: "restored=http://127.0.0.1:2380",
        initialClusterToken: "restored",
        initialAdvertisePeerUrls: "http://127.0.0.1:2380",
      });
      assert.ok((await stat(join(dataDir, "member", "snap", "db"))).size > 0);
      const restored = await startRestored(cluster.tools, dataDir, "restored", dir);
      try {
        assert.equal(await restored.client.count("/snap/"), KEYS);
        assert.equal(await restored.client.get("/snap/k123"), "value-123");
        const s = await restored.client.status();
        assert.ok(s.revision >= revision);
        assert.notEqual(s.clusterId, (await (await cluster.client(cluster.members[0]!)).status()).clusterId);
      } finally {
        await restored.stop();
      }
    });

    test("restore refuses an existing data dir, and a corrupt snapshot with ChecksumMismatchError", async () => {
      const existing = join(dir, "existing");
      await mkdir(existing);
      const base = {
        tools: cluster.tools,
        name: "r",
        initialCluster: "r=http://127.0.0.1:2380",
        initialClusterToken: "t",
        initialAdvertisePeerUrls: "http://127.0.0.1:2380",
      };
      await assert.rejects(restoreSnapshotToDir({ ...base, snapshotPath: streamed, dataDir: existing }), UserError);

      const corrupt = join(dir, "corrupt.db");
      await copyFile(streamed, corrupt);
      const data = await readFile(corrupt);
      const mid = Math.floor(data.length / 2);
      data.writeUInt8(data.readUInt8(mid) ^ 0xff, mid);
      await writeFile(corrupt, data);
      const target = join(dir, "from-corrupt");
      await assert.rejects(restoreSnapshotToDir({ ...base, snapshotPath: corrupt, dataDir: target }), (err) => {
        assert.ok(err instanceof ChecksumMismatchError, String(err));
        return true;
      });
      await assert.rejects(stat(target), { code: "ENOENT" });
    });

    test("bump-revision: used when the tool has it, refused up front when it does not", async () => {
      const supported = await supportsBumpRevision(cluster.tools);
      const [, patch] = cluster.tools.version.match(/^3\.5\.(\d+)$/) ?? [];
      if (series === "3.4") assert.equal(supported, false);
      if (patch !== undefined && Number(patch) >= 30) assert.equal(supported, true);
      const dataDir = join(dir, "bumped", "data");
      const opts = {
        tools: cluster.tools,
        snapshotPath: streamed,
        dataDir,
        name: "bumped",
        initialCluster: "bumped=http://127.0.0.1:2380",
        initialClusterToken: "bumped",
        initialAdvertisePeerUrls: "http://127.0.0.1:2380",
        bumpRevision: 1_000_000,
      };
      if (!supported) {
        await assert.rejects(restoreSnapshotToDir(opts), /cannot bump the revision/);
        await assert.rejects(stat(dataDir), { code: "ENOENT" });
        return;
      }
      await restoreSnapshotToDir(opts);
      const restored = await startRestored(cluster.tools, dataDir, "bumped", dir);
      try {
        assert.ok((await restored.client.status()).revision >= revision + 1_000_000);
        assert.equal(await restored.client.get("/snap/k7"), "value-7");
      } finally {
        await restored.stop();
      }
    });

    test("aborting the stream errors it with AbortError and leaves the member healthy", async () => {
      const client = await cluster.client(cluster.members[2]!);
      const controller = new AbortController();
      const stream = client.snapshot({ signal: controller.signal });
      let received = 0;
      await assert.rejects(
        (async () => {
          for await (const chunk of stream) {
            received += (chunk as Buffer).length;
            controller.abort();
          }
        })(),
        { name: "AbortError" },
      );
      assert.ok(received > 0);
      assert.equal((await client.health()).reachable, true);
      const again = client.snapshot();
      let total = 0;
      for await (const chunk of again) total += (chunk as Buffer).length;
      assert.equal(total % 512, 32);
    });
  });
}
