import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Socket } from "node:net";
import { createServer as createTlsServer } from "node:tls";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { availableEtcdSeries } from "../src/etcd/binaries.js";
import { EtcdMemberClient } from "../src/etcd/client.js";
import { createCA, issueCertificate } from "../src/pki/pki.js";
import { describeError, RemoteError } from "../src/util/errors.js";
import { allocateLoopbackHosts } from "../src/util/net.js";
import { runCommand } from "../src/etcd/exec.js";
import { startEtcdCluster, type TestCluster } from "./helpers/etcd-cluster.js";

for (const series of await availableEtcdSeries()) {
  describe(`etcd ${series}: client against a 3-member TLS cluster`, () => {
    let dir: string;
    let cluster: TestCluster;

    before(async () => {
      dir = await mkdtemp(join(tmpdir(), "lifeboat-etcd-client-"));
      cluster = await startEtcdCluster({ members: 3, series, tls: true, dir });
    });
    after(async () => {
      await cluster?.stop();
      await rm(dir, { recursive: true, force: true });
    });

    test("status, member list and alarms come from the one member asked", async () => {
      const [m1, m2] = cluster.members;
      assert.ok(m1 && m2);
      const c1 = await cluster.client(m1);
      const c2 = await cluster.client(m2);
      const [s1, s2] = await Promise.all([c1.status(), c2.status()]);
      assert.notEqual(s1.memberId, s2.memberId);
      assert.equal(s1.clusterId, s2.clusterId);
      assert.match(s1.memberId, /^[0-9a-f]+$/);
      assert.equal(s1.leader, s2.leader);
      assert.notEqual(s1.leader, "0");
      assert.ok(s1.version.startsWith(series + "."), s1.version);
      assert.ok(s1.dbSize > 0 && s1.raftTerm > 0 && s1.raftIndex > 0 && s1.revision >= 1);
      assert.deepEqual(s1.errors, []);

      const members = await c2.memberList();
      assert.deepEqual(members.map((m) => m.name).sort(), ["etcd-1", "etcd-2", "etcd-3"]);
      const self = members.find((m) => m.id === s2.memberId);
      assert.deepEqual(self?.clientURLs, [m2.clientUrl]);
      assert.deepEqual(self?.peerURLs, [m2.peerUrl]);
      assert.equal(self?.isLearner, false);
      assert.ok(
        members.some((m) => m.id === s1.leader),
        "the leader is a member",
      );

      assert.deepEqual(await c1.alarms(), []);
    });

    test("member IDs are the ones etcdctl prints", async () => {
      const m = cluster.members[0];
      assert.ok(m && cluster.tls);
      const { files } = cluster.tls;
      const res = await runCommand(
        cluster.tools.etcdctl,
        [
          `--endpoints=${m.clientUrl}`,
          `--cacert=${files.caFile}`,
          `--cert=${files.certFile}`,
          `--key=${files.keyFile}`,
        ].concat(["member", "list", "-w", "simple"]),
        { timeoutMs: 10_000, env: { ...process.env, ETCDCTL_API: "3" } },
      );
      assert.equal(res.code, 0, res.stderr);
      const fromEtcdctl = res.stdout
        .trim()
        .split("\n")
        .map((l) => l.split(",")[0]?.trim())
        .sort();
      const ours = (await (await cluster.client(m)).memberList()).map((x) => x.id).sort();
      assert.deepEqual(ours, fromEtcdctl);
    });

    test("health combines status, alarms and members", async () => {
      const m = cluster.members[2];
      assert.ok(m);
      const c = await cluster.client(m);
      const h = await c.health();
      const s = await c.status();
      assert.equal(h.reachable, true);
      assert.equal(h.hasLeader, true);
      assert.equal(h.leaderId, s.leader);
      assert.equal(h.memberId, s.memberId);
      assert.equal(h.clusterId, s.clusterId);
      assert.deepEqual(h.alarms, []);
      assert.equal(h.members.length, 3);
      assert.equal(h.error, undefined);
      assert.ok(h.revision >= 1 && h.dbSize > 0 && h.version.startsWith(series));
    });

    test("put, get, count and leases", async () => {
      const [m1, m2] = cluster.members;
      assert.ok(m1 && m2);
      const c1 = await cluster.client(m1);
      const c2 = await cluster.client(m2);
      await c1.put("/client-test/a", "1");
      await c1.put("/client-test/b", "zwei ü");
      await c1.put("/client-tesu", "outside the prefix");
      assert.equal(await c2.get("/client-test/b"), "zwei ü");
      assert.equal(await c2.get("/client-test/missing"), undefined);
      assert.equal(await c2.count("/client-test/"), 2);
      assert.ok((await c2.count("")) >= 3);

      const lease = await c1.leaseGrant(30);
      assert.match(lease, /^\d+$/);
      await c1.put("/client-test/leased", "x", lease);
      const ttl = await c2.leaseKeepAliveOnce(lease);
      assert.ok(ttl > 0 && ttl <= 30, `ttl ${ttl}`);
      await c2.leaseRevoke(lease);
      assert.equal(await c1.get("/client-test/leased"), undefined);
      assert.equal(await c1.leaseKeepAliveOnce(lease), 0);
    });

    test("txnPutIfAbsent is won by exactly one of several concurrent callers", async () => {
      const clients = await Promise.all(cluster.members.map((m) => cluster.client(m)));
      const lease = await clients[0]!.leaseGrant(30);
      const attempts = Array.from({ length: 12 }, (_, i) =>
        clients[i % clients.length]!.txnPutIfAbsent("/client-test/lock", `owner-${i}`, lease),
      );
      const results = await Promise.all(attempts);
      assert.equal(results.filter(Boolean).length, 1);
      const winner = results.indexOf(true);
      assert.equal(await clients[1]!.get("/client-test/lock"), `owner-${winner}`);
      assert.equal(await clients[2]!.txnPutIfAbsent("/client-test/lock", "late", lease), false);
      await clients[0]!.leaseRevoke(lease);
      assert.equal(await clients[1]!.txnPutIfAbsent("/client-test/lock", "after-release"), true);
    });

    test("a client without a client certificate is refused with a RemoteError", async () => {
      const m = cluster.members[0];
      assert.ok(m && cluster.tls);
      const c = await EtcdMemberClient.connect({
        endpoint: m.clientUrl,
        tls: { caPEM: cluster.tls.caPEM },
        timeoutMs: 3000,
      });
      try {
        await assert.rejects(c.status(), (err: unknown) => {
          assert.ok(err instanceof RemoteError);
          assert.ok(err.message.includes(m.clientUrl), err.message);
          return true;
        });
      } finally {
        c.close();
      }
    });

    test("a stopped member reports unreachable with a reason, and the rest keep working", async () => {
      const [m1, , m3] = cluster.members;
      assert.ok(m1 && m3);
      const c3 = await cluster.client(m3, 2000);
      await m3.controller.stop();
      assert.equal(await m3.controller.state(), "stopped");
      const h = await c3.health();
      assert.equal(h.reachable, false);
      assert.equal(h.hasLeader, false);
      assert.ok(h.error?.includes(m3.clientUrl), h.error);
      assert.match(h.error ?? "", /unavailable|ECONNREFUSED/i);
      assert.equal(
        h.error?.split(m3.clientUrl.replace(/^https:\/\//, "")).length,
        3,
        `endpoint and cause once: ${h.error}`,
      );
      await assert.rejects(c3.status(), (err: unknown) => err instanceof RemoteError && err.transient);

      const c1 = await cluster.client(m1);
      const h1 = await c1.health();
      assert.equal(h1.reachable, true);
      assert.equal(h1.hasLeader, true);
      await c1.put("/client-test/after-stop", "ok");

      await m3.controller.start();
      assert.equal(await m3.controller.state(), "running");
      assert.equal((await c3.health()).reachable, true);
    });

    test("a member that lost its quorum is reachable but reports no leader, without waiting for alarms", async () => {
      const [m1, m2, m3] = cluster.members;
      assert.ok(m1 && m2 && m3);
      const c1 = await cluster.client(m1);
      await Promise.all([m2.controller.stop(), m3.controller.stop()]);
      let h = await c1.health();
      for (let i = 0; i < 100 && h.hasLeader; i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        h = await c1.health();
      }
      assert.equal(h.reachable, true);
      assert.equal(h.hasLeader, false);
      assert.equal(h.leaderId, "0");
      assert.match(h.error ?? "", /no leader/);
      assert.equal(h.members.length, 3);
      const started = Date.now();
      await c1.health();
      assert.ok(Date.now() - started < c1.timeoutMs, "health does not wait for a quorum");
      await Promise.all([m2.controller.start(), m3.controller.start()]);
      assert.equal((await c1.health()).hasLeader, true);
    });
  });
}

test("an endpoint that is not a URL is a UserError", async () => {
  await assert.rejects(EtcdMemberClient.connect({ endpoint: "127.0.0.1:2379" }), { name: "UserError" });
});

test("a member where nothing listens is one sentence: the endpoint, then the cause, each once", async (t) => {
  const [host] = await allocateLoopbackHosts(1, [2379]);
  assert.ok(host);
  const c = await EtcdMemberClient.connect({ endpoint: `http://${host}:2379`, timeoutMs: 2000 });
  t.after(() => c.close());
  const expected = `etcd member http://${host}:2379: status failed, member unavailable: connect ECONNREFUSED ${host}:2379`;
  await assert.rejects(c.status(), (err: unknown) => {
    assert.ok(err instanceof RemoteError && err.transient);
    assert.equal(describeError(err), expected);
    return true;
  });
  const h = await c.health();
  assert.equal(h.reachable, false);
  assert.equal(h.error, expected);
});

test("a member that never answers fails with a deadline error naming the endpoint", async (t) => {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => sockets.add(socket));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  const address = server.address();
  assert.ok(address && typeof address === "object");
  const c = await EtcdMemberClient.connect({ endpoint: `http://127.0.0.1:${address.port}`, timeoutMs: 500 });
  t.after(() => c.close());
  const started = Date.now();
  await assert.rejects(c.status(), (err: unknown) => {
    assert.ok(err instanceof RemoteError);
    assert.equal(err.transient, true);
    assert.match(err.message, /no answer within 500 ms/);
    assert.ok(err.message.includes(`127.0.0.1:${address.port}`));
    return true;
  });
  assert.ok(Date.now() - started < 3000);
  const h = await c.health();
  assert.equal(h.reachable, false);
  assert.match(h.error ?? "", /500 ms/);
});

test("the server certificate is checked against the endpoint's IP", async (t) => {
  const ca = await createCA("identity-test-ca");
  const elsewhere = await issueCertificate(ca, { commonName: "other", ips: ["127.0.0.9"], usage: ["server"] });
  const server = createTlsServer({ cert: elsewhere.certificatePEM, key: elsewhere.keyPEM, ALPNProtocols: ["h2"] });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => server.close());
  const address = server.address();
  assert.ok(address && typeof address === "object");
  const endpoint = `https://127.0.0.1:${address.port}`;
  const c = await EtcdMemberClient.connect({ endpoint, tls: { caPEM: ca.certificatePEM }, timeoutMs: 2000 });
  t.after(() => c.close());
  await assert.rejects(c.status(), (err: unknown) => {
    assert.ok(err instanceof RemoteError);
    assert.match(err.message, /127\.0\.0\.1 is not in the cert's list/);
    return true;
  });
});

for (const series of await availableEtcdSeries()) {
  test(`etcd ${series}: a full backend raises NOSPACE, read back by its etcdctl name`, async (t) => {
    const dir = await mkdtemp(join(tmpdir(), "lifeboat-etcd-nospace-"));
    const cluster = await startEtcdCluster({ members: 1, series, dir, quotaBackendBytes: 1 << 20 });
    t.after(async () => {
      await cluster.stop();
      await rm(dir, { recursive: true, force: true });
    });
    const c = await cluster.client(cluster.members[0]!);
    assert.deepEqual(await c.alarms(), [], "no alarm yet");
    const value = Buffer.alloc(64 * 1024, 7);
    await assert.rejects(
      (async () => {
        for (let i = 0; i < 1000; i++) await c.put(`/fill/${i}`, value);
      })(),
      /database space exceeded/,
    );
    const alarms = await c.alarms();
    assert.deepEqual(
      alarms.map((a) => a.alarm),
      ["NOSPACE"],
    );
    assert.equal(alarms[0]!.memberId, (await c.status()).memberId);
    assert.deepEqual((await c.health()).alarms, ["NOSPACE"]);
  });
}
