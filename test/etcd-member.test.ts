import assert from "node:assert/strict";
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, test, type TestContext } from "node:test";
import { availableEtcdSeries, findEtcdTools, type EtcdTools } from "../src/etcd/binaries.js";
import { EtcdMemberClient } from "../src/etcd/client.js";
import { CommandFailedError } from "../src/etcd/exec.js";
import { etcdArgs, ExternalMember, ManagedMember, type MemberSpec } from "../src/etcd/member.js";
import { silentLogger } from "../src/util/log.js";
import { allocateLoopbackHosts } from "../src/util/net.js";

async function tempDir(t: TestContext, prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function singleMemberSpec(dir: string, name = "solo"): Promise<MemberSpec> {
  const [host] = await allocateLoopbackHosts(1, [2379, 2380]);
  const peerUrl = `http://${host}:2380`;
  return {
    name,
    dataDir: join(dir, name, "data"),
    clientUrl: `http://${host}:2379`,
    peerUrl,
    initialCluster: `${name}=${peerUrl}`,
    initialClusterState: "new",
    initialClusterToken: "member-test",
    logFile: join(dir, name, "etcd.log"),
  };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await sleep(100);
  }
  assert.fail(`timed out waiting until ${what}`);
}

test("etcdArgs turns on client and peer TLS with client certificates", () => {
  const args = etcdArgs({
    name: "a",
    dataDir: "/d",
    clientUrl: "https://127.0.0.2:2379",
    peerUrl: "https://127.0.0.2:2380",
    initialCluster: "a=https://127.0.0.2:2380",
    initialClusterState: "existing",
    initialClusterToken: "tok",
    tls: { caFile: "/ca", certFile: "/c", keyFile: "/k" },
    quotaBackendBytes: 8 << 30,
    logFile: "/l",
  });
  for (const flag of [
    "--client-cert-auth",
    "--peer-client-cert-auth",
    "--trusted-ca-file=/ca",
    "--peer-trusted-ca-file=/ca",
    "--cert-file=/c",
    "--peer-key-file=/k",
    "--initial-cluster-state=existing",
    "--listen-client-urls=https://127.0.0.2:2379",
    `--quota-backend-bytes=${8 << 30}`,
  ]) {
    assert.ok(args.includes(flag), flag);
  }
});

for (const series of await availableEtcdSeries()) {
  describe(`etcd ${series}: ManagedMember`, () => {
    test("restarts a member killed with SIGKILL, and not after stop()", async (t) => {
      const dir = await tempDir(t, "lifeboat-etcd-member-");
      const tools = await findEtcdTools({ series, developerCache: true });
      const spec = await singleMemberSpec(dir);
      const member = new ManagedMember(spec, tools, silentLogger, { restartBackoffMs: { initial: 200, max: 1000 } });
      t.after(() => member.stop());
      assert.equal(await member.state(), "stopped");
      await Promise.all([member.start(), member.start()]);
      assert.equal(await member.state(), "running");

      const pidFile = join(dir, "solo", "etcd.pid");
      const first = Number((await readFile(pidFile, "utf8")).trim());
      assert.equal(first, member.pid);
      const client = await EtcdMemberClient.connect({ endpoint: spec.clientUrl, timeoutMs: 2000 });
      t.after(() => client.close());
      await client.put("/survives", "restart");

      process.kill(first, "SIGKILL");
      await waitUntil("the member is restarted", async () => {
        return (await member.state()) === "running" && member.pid !== undefined && member.pid !== first;
      });
      assert.equal(member.restarts, 1);
      assert.equal(Number((await readFile(pidFile, "utf8")).trim()), member.pid);
      await waitUntil("the restarted member answers", async () => (await client.health()).reachable);
      assert.equal(await client.get("/survives"), "restart");

      const second = member.pid;
      assert.ok(second !== undefined);
      await member.stop();
      assert.equal(await member.state(), "stopped");
      assert.equal(isAlive(second), false);
      await assert.rejects(stat(pidFile), { code: "ENOENT" });
      await sleep(1500);
      assert.equal(await member.state(), "stopped");
      assert.equal(member.restarts, 1);
      assert.equal((await client.health()).reachable, false);
    });

    test("an etcd that exits at once is always seen to exit: start fails fast and stop returns", async (t) => {
      const dir = await tempDir(t, "lifeboat-etcd-member-");
      const real = await findEtcdTools({ series, developerCache: true });
      const wrapper = join(dir, "etcd");
      await writeFile(wrapper, `#!/bin/sh\necho "member cannot start (simulated)" >&2\nexit 1\n`);
      await chmod(wrapper, 0o755);
      const spec = await singleMemberSpec(dir);
      // The exit lands while the agent is still closing its log file: an exit listener attached after that await
      // missed it, and start then waited its whole timeout and stop forever.
      const member = new ManagedMember(spec, { ...real, etcd: wrapper }, silentLogger, {
        startTimeoutMs: 20_000,
        stopTimeoutMs: 1_000,
      });
      for (let i = 0; i < 25; i++) {
        const started = Date.now();
        await assert.rejects(member.start(), /exited while starting \(exit code 1\)/);
        assert.ok(Date.now() - started < 10_000, `attempt ${i} was seen to exit (${Date.now() - started} ms)`);
        await member.stop();
        assert.equal(await member.state(), "stopped");
      }
    });

    test("a start after a stop that cut a hanging start short is a new attempt, and succeeds", async (t) => {
      const dir = await tempDir(t, "lifeboat-etcd-member-");
      const real = await findEtcdTools({ series, developerCache: true });
      // etcd that hangs without answering while the flag file exists (a member stuck on a slow disk).
      const flag = join(dir, "hang");
      const wrapper = join(dir, "etcd");
      await writeFile(flag, "");
      await writeFile(wrapper, `#!/bin/sh\nif [ -e "${flag}" ]; then exec sleep 600; fi\nexec ${real.etcd} "$@"\n`);
      await chmod(wrapper, 0o755);
      const spec = await singleMemberSpec(dir);
      const member = new ManagedMember(spec, { ...real, etcd: wrapper }, silentLogger, { startTimeoutMs: 60_000 });
      t.after(() => member.stop());
      const hanging = member.start();
      await waitUntil("the hanging etcd is spawned", async () => member.pid !== undefined);
      await member.stop();
      await rm(flag);
      // Right after the stop, as a restore's rollback does: this must not share the attempt the stop cut short.
      const again = member.start();
      await assert.rejects(hanging, /was stopped while starting/);
      await again;
      assert.equal(await member.state(), "running");
    });

    test("a member that cannot start fails with the end of its log, and is not restarted", async (t) => {
      const dir = await tempDir(t, "lifeboat-etcd-member-");
      const tools = await findEtcdTools({ series, developerCache: true });
      const spec = await singleMemberSpec(dir);
      // Something else holds the client port (it accepts connections and never answers).
      const sockets = new Set<Socket>();
      const blocker = createServer((socket) => sockets.add(socket));
      const host = new URL(spec.clientUrl).hostname;
      await new Promise<void>((resolve) => blocker.listen(2379, host, resolve));
      t.after(() => {
        for (const s of sockets) s.destroy();
        blocker.close();
      });
      const member = new ManagedMember(spec, tools, silentLogger, { restartBackoffMs: { initial: 100, max: 100 } });
      t.after(() => member.stop());
      await assert.rejects(member.start(), (err: unknown) => {
        assert.ok(err instanceof CommandFailedError, String(err));
        assert.match(err.message, /exited while starting \(exit code \d+\)/);
        assert.match(err.message, /address already in use/);
        assert.ok(err.message.includes(spec.logFile));
        return true;
      });
      await sleep(500);
      assert.equal(await member.state(), "stopped");
      assert.equal(member.pid, undefined);
      assert.equal(member.restarts, 0);
    });
  });
}

describe("ExternalMember", () => {
  /** A script that starts, stops and checks a real etcd the way an operator's wrapper would. */
  async function memberScript(dir: string, tools: EtcdTools): Promise<{ script: string; env: NodeJS.ProcessEnv }> {
    const spec = await singleMemberSpec(dir, "ext");
    const script = join(dir, "member.sh");
    await writeFile(
      script,
      `#!/bin/sh
set -e
pidfile="$DIR/etcd.pid"
case "$1" in
  start)
    nohup "$ETCD" --name=ext --data-dir="$DIR/data" --listen-client-urls="$URL" --advertise-client-urls="$URL" \\
      --listen-peer-urls="$PEER" --initial-advertise-peer-urls="$PEER" --initial-cluster="ext=$PEER" \\
      >"$DIR/etcd.log" 2>&1 &
    echo $! >"$pidfile" ;;
  stop)
    pid=$(cat "$pidfile")
    kill "$pid"
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    rm -f "$pidfile" ;;
  status)
    ETCDCTL_API=3 "$ETCDCTL" --endpoints="$URL" --command-timeout=1s endpoint health >/dev/null 2>&1 ;;
esac
`,
    );
    await chmod(script, 0o755);
    const env = { ...process.env, DIR: dir, ETCD: tools.etcd, ETCDCTL: tools.etcdctl };
    return { script, env: { ...env, URL: spec.clientUrl, PEER: spec.peerUrl } };
  }

  test("start and stop commands drive a real etcd; state follows the status check", async (t) => {
    const dir = await tempDir(t, "lifeboat-etcd-ext-");
    const { script, env } = await memberScript(dir, await findEtcdTools({ developerCache: true }));
    t.after(async () => {
      const pid = Number(await readFile(join(dir, "etcd.pid"), "utf8").catch(() => "0"));
      if (pid > 0 && isAlive(pid)) process.kill(pid, "SIGKILL");
    });
    const member = new ExternalMember({
      startCommand: `${script} start`,
      stopCommand: `${script} stop`,
      statusCheck: `${script} status`,
      env,
      timeoutMs: 20_000,
    });
    assert.equal(member.mode, "external");
    assert.equal(await member.state(), "stopped");
    await member.start();
    assert.equal(await member.state(), "running");
    const client = await EtcdMemberClient.connect({ endpoint: env.URL ?? "", timeoutMs: 2000 });
    t.after(() => client.close());
    await client.put("/external", "yes");
    assert.equal(await client.get("/external"), "yes");
    const pid = Number(await readFile(join(dir, "etcd.pid"), "utf8"));
    await member.stop();
    assert.equal(await member.state(), "stopped");
    assert.equal(isAlive(pid), false);
  });

  test("a failing command is reported with its exit code and last stderr lines", async () => {
    const member = new ExternalMember({
      startCommand: "echo starting; echo 'etcd: disk on fire' >&2; exit 7",
      stopCommand: "exit 3",
      statusCheck: "false",
      timeoutMs: 5000,
    });
    await assert.rejects(member.start(), (err: unknown) => {
      assert.ok(err instanceof CommandFailedError);
      assert.equal(err.exitCode, 7);
      assert.match(err.message, /start command .* failed with exit code 7: etcd: disk on fire$/);
      return true;
    });
    await assert.rejects(member.stop(), /stop command `exit 3` failed with exit code 3/);
  });

  test("a hanging command is killed at the timeout, and a status check that never agrees is an error", async () => {
    const hanging = new ExternalMember({
      startCommand: "sleep 30",
      stopCommand: "true",
      statusCheck: "false",
      timeoutMs: 300,
    });
    const started = Date.now();
    await assert.rejects(hanging.start(), /`sleep 30` timed out after 300 ms/);
    assert.ok(Date.now() - started < 5000);

    const never = new ExternalMember({
      startCommand: "true",
      stopCommand: "true",
      statusCheck: "exit 1",
      timeoutMs: 500,
      pollIntervalMs: 50,
    });
    await assert.rejects(never.start(), /did not report the member running within 500 ms/);
    await never.stop();
    assert.equal(await never.state(), "stopped");
  });
});
