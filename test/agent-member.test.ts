/**
 * Starting and stopping the etcd member through the agent API, both ways the agent can run etcd:
 * managed (the sandbox: the agent's own child process, supervised and restarted when it dies) and external
 * (operator commands; here two shell scripts that start and stop a real single-member etcd).
 */
import { isAlive } from "../src/sandbox/sandbox.js";
import { routes } from "../src/api/routes.js";
import type { SaveResult } from "../src/api/snapshots.js";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { AgentClient } from "../src/agent/client.js";
import { cliTls } from "../src/fleet/open.js";
import { statePathFor } from "../src/config/cluster.js";
import { readState } from "../src/config/state.js";
import { findEtcdTools } from "../src/etcd/binaries.js";
import { EtcdMemberClient } from "../src/etcd/client.js";
import { createCA, issueCertificate } from "../src/pki/pki.js";
import { describeError, RemoteError } from "../src/util/errors.js";
import { allocateLoopbackHosts } from "../src/util/net.js";
import { BIN, jsonOf } from "./helpers/cli.js";
import { startTestSandbox, type TestSandbox } from "./helpers/sandbox.js";

interface Health {
  member: string;
  reachable: boolean;
  hasLeader: boolean;
  error?: string;
  members: { name: string }[];
}

interface ClusterHealth {
  nodes: { node: string; ok: boolean; reason?: string }[];
  healthy: number;
}

async function readPid(file: string): Promise<number | undefined> {
  const n = Number((await readFile(file, "utf8").catch(() => "")).trim());
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

/** Polls `check` until it returns a value (not undefined) or `ms` pass. */
async function waitFor<T>(what: string, ms: number, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + ms;
  let last = "";
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = describeError(err);
    }
    await sleep(200);
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last}` : ""}`);
}

/**
 * The agent's health right after its member started. Its gRPC channel to the member may still be in the reconnect
 * backoff from while the member was down (up to 1 s), and reports the stale refusal until then: allow that, no more.
 */
async function reachable(agent: AgentClient): Promise<Health> {
  return waitFor("the agent to see its member", 3_000, async () => {
    const h = await agent.call(routes.health);
    return h.reachable ? h : undefined;
  });
}

void describe("agent: managed member start, stop and restart", () => {
  let sb: TestSandbox;
  let agent: AgentClient;
  let pidFile: string;

  before(async () => {
    sb = await startTestSandbox({ nodes: 3 });
    const state = await readState(statePathFor(sb.config));
    assert.ok(state);
    const node = sb.info.nodes[1];
    assert.ok(node);
    agent = new AgentClient({ endpoint: `${node.host}:7443`, tls: cliTls(state) });
    pidFile = join(node.agentDir, "..", "etcd.pid");
  });
  after(async () => {
    agent?.close();
    await sb?.down();
  });

  const health = async () => {
    const run = await sb.cli(["--output", "json", "etcd", "health", "--config", sb.config]);
    return { code: run.code, report: jsonOf<ClusterHealth>(run) };
  };

  void test("stop: the member goes away, its agent reports it unreachable, the others keep quorum", async () => {
    const pid = await readPid(pidFile);
    assert.ok(pid !== undefined && isAlive(pid), "etcd runs before the stop");
    assert.deepEqual(await agent.call(routes.member), { node: "etcd-node2", mode: "managed", state: "running" });

    const stopped = await agent.call(routes.stopMember);
    assert.equal(stopped.state, "stopped");
    assert.equal(isAlive(pid), false, "the etcd process is gone once stop answers");
    assert.equal(await readPid(pidFile), undefined, "the pid file goes with the process");

    const h = await agent.call(routes.health);
    assert.equal(h.member, "stopped");
    assert.equal(h.reachable, false);
    assert.match(h.error ?? "", /unavailable|ECONNREFUSED|No connection/);

    const cluster = await health();
    assert.equal(cluster.code, 3, "one member of three down is a partial result");
    assert.equal(cluster.report.healthy, 2);
    const down = cluster.report.nodes.find((n) => n.node === "etcd-node2");
    const host = sb.info.nodes[1]?.host ?? "";
    // One sentence: the member's endpoint, then why, each said once.
    assert.equal(
      down?.reason,
      `etcd unreachable: etcd member https://${host}:2379: status failed, member unavailable: connect ECONNREFUSED ${host}:2379`,
    );

    // Stopping a stopped member is a no-op; quorum still takes writes.
    assert.equal((await agent.call(routes.stopMember)).state, "stopped");
    const c1 = await sb.etcd(0);
    await c1.put("written-while-node2-was-down", "yes");
  });

  void test("start: the member comes back, catches up, and the cluster is healthy", async () => {
    const started = await agent.call(routes.startMember);
    assert.equal(started.state, "running");
    const pid = await readPid(pidFile);
    assert.ok(pid !== undefined && isAlive(pid));

    const h = await reachable(agent);
    assert.equal(h.hasLeader, true);
    assert.deepEqual(h.members.map((m) => m.name).sort(), ["etcd-node1", "etcd-node2", "etcd-node3"]);

    const c2 = await sb.etcd(1);
    assert.equal(await waitFor("node2 to catch up", 10_000, () => c2.get("written-while-node2-was-down")), "yes");
    const cluster = await health();
    assert.equal(cluster.code, 0);
    assert.equal(cluster.report.healthy, 3);

    // Starting a running member keeps the same process.
    assert.equal((await agent.call(routes.startMember)).state, "running");
    assert.equal(await readPid(pidFile), pid);
  });

  void test("restart: an etcd that dies is restarted by its agent", async () => {
    const pid = await readPid(pidFile);
    assert.ok(pid !== undefined);
    process.kill(pid, "SIGKILL");
    const next = await waitFor("a new etcd", 15_000, async () => {
      const p = await readPid(pidFile);
      return p !== undefined && p !== pid && isAlive(p) ? p : undefined;
    });
    assert.notEqual(next, pid);
    await waitFor("node2 healthy again", 15_000, async () => {
      const h = await agent.call(routes.health);
      return h.reachable && h.hasLeader && h.member === "running" ? true : undefined;
    });
    const log = await readFile(join(sb.info.nodes[1]!.agentDir, "agent.log"), "utf8");
    assert.match(log, /"msg":"etcd exited unexpectedly".*"signal":"SIGKILL"/);
    assert.match(log, /"msg":"etcd restarted"/);
    const c2 = await sb.etcd(1);
    assert.equal(await c2.get("written-while-node2-was-down"), "yes", "the restarted member kept its data");
    assert.equal((await health()).code, 0);
  });
});

void describe("agent: external member driven by operator commands", () => {
  let dir: string;
  let host: string;
  let agentPid: number | undefined;
  let agent: AgentClient;
  let etcdClient: EtcdMemberClient;
  const etcdPid = () => readPid(join(dir, "etcd.pid"));

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "lifeboat-external-"));
    [host] = (await allocateLoopbackHosts(1, [2379, 2380, 7443])) as [string];
    const series = process.env.LIFEBOAT_TEST_ETCD_SERIES;
    const tools = await findEtcdTools({ ...(series ? { series } : {}), developerCache: true });
    const ca = await createCA("kube-ca");
    const server = await issueCertificate(ca, { commonName: "lifeboat-agent-ext", ips: [host], usage: ["server"] });
    const client = await issueCertificate(ca, { commonName: "lifeboat-cli", usage: ["client"] });
    await writeFile(join(dir, "ca.pem"), ca.certificatePEM);
    await writeFile(join(dir, "agent.pem"), server.certificatePEM);
    await writeFile(join(dir, "agent-key.pem"), server.keyPEM, { mode: 0o600 });
    // What a systemd unit or a container runtime would do: run etcd in the background, remember its pid.
    await writeFile(
      join(dir, "start.sh"),
      `#!/bin/sh
set -e
cd "$(dirname "$0")"
if [ -e fail-start ]; then echo "refusing to start: $(cat fail-start)" >&2; exit 7; fi
if [ -f etcd.pid ] && kill -0 "$(cat etcd.pid)" 2>/dev/null; then exit 0; fi
nohup ${tools.etcd} --name ext --data-dir data \\
  --listen-client-urls http://${host}:2379 --advertise-client-urls http://${host}:2379 \\
  --listen-peer-urls http://${host}:2380 --initial-advertise-peer-urls http://${host}:2380 \\
  --initial-cluster ext=http://${host}:2380 >>etcd.log 2>&1 </dev/null &
echo $! >etcd.pid
`,
    );
    await writeFile(
      join(dir, "stop.sh"),
      `#!/bin/sh
cd "$(dirname "$0")"
[ -f etcd.pid ] || exit 0
pid=$(cat etcd.pid)
kill "$pid" 2>/dev/null || true
while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
rm -f etcd.pid
`,
    );
    const agentJson = {
      version: 1,
      node: "etcd-ext",
      listen: `${host}:7443`,
      tls: { ca: "ca.pem", cert: "agent.pem", key: "agent-key.pem" },
      snapshotDir: join(dir, "snapshots"),
      restoreDir: join(dir, "restore"),
      etcd: {
        clientUrl: `http://${host}:2379`,
        peerUrl: `http://${host}:2380`,
        dataDir: join(dir, "data"),
        mode: "external",
        external: { startCommand: `sh ${join(dir, "start.sh")}`, stopCommand: `sh ${join(dir, "stop.sh")}` },
      },
    };
    await writeFile(join(dir, "agent.json"), JSON.stringify(agentJson, null, 2));
    const log = openSync(join(dir, "agent.log"), "a");
    const child = spawn(process.execPath, [BIN, "agent", "--dir", dir], {
      detached: true,
      stdio: ["ignore", log, log],
    });
    closeSync(log);
    child.unref();
    agentPid = child.pid;
    agent = new AgentClient({
      endpoint: `${host}:7443`,
      tls: { caPEM: ca.certificatePEM, certPEM: client.certificatePEM, keyPEM: client.keyPEM },
    });
    await waitFor("the external-mode agent to listen", 15_000, () => agent.call(routes.info));
    etcdClient = await EtcdMemberClient.connect({ endpoint: `http://${host}:2379` });
  });

  after(async () => {
    agent?.close();
    etcdClient?.close();
    if (agentPid !== undefined && isAlive(agentPid)) {
      process.kill(agentPid, "SIGTERM");
      await waitFor("the agent to exit", 20_000, () => Promise.resolve(isAlive(agentPid!) ? undefined : true)).catch(
        () => process.kill(agentPid!, "SIGKILL"),
      );
    }
    // An external member outlives its agent by design: stop it the way its operator would.
    const pid = await etcdPid();
    if (pid !== undefined && isAlive(pid)) process.kill(pid, "SIGKILL");
    await rm(dir, { recursive: true, force: true });
  });

  void test("the agent does not start an external member by itself", async () => {
    assert.deepEqual(await agent.call(routes.member), { node: "etcd-ext", mode: "external", state: "stopped" });
    const info = await agent.call(routes.info);
    assert.equal(info.etcdMode, "external");
    const h = await agent.call(routes.health);
    assert.equal(h.reachable, false);
    assert.equal(await etcdPid(), undefined);
  });

  void test("start runs the start command and waits until the member answers", async () => {
    const started = await agent.call(routes.startMember, { timeoutMs: 60_000 });
    assert.equal(started.state, "running");
    const pid = await etcdPid();
    assert.ok(pid !== undefined && isAlive(pid));
    const h = await reachable(agent);
    assert.equal(h.hasLeader, true);
    assert.deepEqual(
      h.members.map((m) => m.name),
      ["ext"],
    );
    await etcdClient.put("external/key", "kept");
  });

  void test("a snapshot is taken from the external member through its agent", async () => {
    let result: SaveResult | undefined;
    await agent.callStream(routes.saveSnapshot, {
      body: { name: "external-snap", retries: 0 },
      onEvent: (e) => {
        if (e.type === "result") result = e.result;
        if (e.type === "error") assert.fail(e.error);
      },
    });
    assert.equal(result?.manifest.node, "etcd-ext");
    assert.ok((result?.manifest.etcd.revision ?? 0) >= 2);
    const list = await agent.call(routes.listSnapshots);
    assert.deepEqual(
      list.snapshots.map((s) => [s.name, s.status]),
      [["external-snap", "ok"]],
    );
  });

  void test("stop runs the stop command and waits until the member is gone", async () => {
    const pid = await etcdPid();
    assert.ok(pid !== undefined);
    const stopped = await agent.call(routes.stopMember, { timeoutMs: 60_000 });
    assert.equal(stopped.state, "stopped");
    assert.equal(isAlive(pid), false);
    const h = await agent.call(routes.health);
    assert.equal(h.reachable, false);
    assert.equal(h.member, "stopped");
  });

  void test("a failing start command is reported with its exit code and output", async () => {
    await writeFile(join(dir, "fail-start"), "disk is read-only");
    try {
      await assert.rejects(agent.call(routes.startMember, { timeoutMs: 60_000 }), (err: unknown) => {
        assert.ok(err instanceof RemoteError);
        assert.match(
          err.message,
          /etcd start command `sh .*start\.sh` failed with exit code 7: refusing to start: disk is read-only/,
        );
        return true;
      });
    } finally {
      await rm(join(dir, "fail-start"));
    }
    assert.equal((await agent.call(routes.member)).state, "stopped");
  });

  void test("start again: the member comes back with its data", async () => {
    assert.equal((await agent.call(routes.startMember, { timeoutMs: 60_000 })).state, "running");
    assert.equal(await waitFor("the key", 10_000, () => etcdClient.get("external/key")), "kept");
  });
});
