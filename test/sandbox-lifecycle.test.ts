/**
 * `lifeboat sandbox up|status|down` as an operator runs them: every process the sandbox starts is recorded and
 * alive while it runs, `status` describes each member, a second `up` in the same folder is refused, and `down`
 * leaves no process behind, not even an etcd whose agent was killed, and signals no process that merely has a pid
 * the sandbox once recorded.
 */
import { isAlive as isRunning, sandboxUp } from "../src/sandbox/sandbox.js";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { SandboxInfo } from "../src/sandbox/sandbox.js";
import { BIN, jsonOf, runCli } from "./helpers/cli.js";
import { processesMentioning, waitFor } from "./helpers/sandbox.js";

/** A process that exited but is not reaped yet (a zombie under init) counts as gone, as in the sandbox itself. */
const isAlive = isRunning;

interface StatusReport extends SandboxInfo {
  health: { node: string; ok: boolean; isLeader: boolean; version?: string }[];
}

void describe("sandbox: up, status, down", () => {
  let dir: string;
  let info: SandboxInfo;
  let etcdPids: number[];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "lifeboat-sandbox-"));
  });
  after(async () => {
    // Whatever happened above, nothing may outlive the test.
    await runCli(["sandbox", "down", "--dir", dir, "--purge"]);
    await rm(dir, { recursive: true, force: true });
  });

  void test("up starts three agents, three etcd members and an S3 server, and records them", async () => {
    const started = Date.now();
    const up = await runCli(["--output", "json", "sandbox", "up", "--dir", dir]);
    assert.equal(up.code, 0, up.stderr);
    assert.ok(Date.now() - started < 30_000, "a 3-member sandbox starts in seconds");
    info = jsonOf<SandboxInfo>(up);
    assert.equal(info.dir, dir);
    assert.deepEqual(JSON.parse(await readFile(join(dir, "sandbox.json"), "utf8")), info);
    assert.deepEqual(
      info.nodes.map((n) => n.name),
      ["etcd-node1", "etcd-node2", "etcd-node3"],
    );
    assert.equal(new Set(info.nodes.map((n) => n.host)).size, 3, "distinct loopback addresses");
    for (const n of info.nodes) assert.match(n.host, /^127\.\d+\.\d+\.\d+$/);
    assert.match(info.s3.endpoint, /^http:\/\/127\.\d+\.\d+\.\d+:9000$/);
    etcdPids = await Promise.all(
      info.nodes.map(async (n) => Number((await readFile(join(n.agentDir, "..", "etcd.pid"), "utf8")).trim())),
    );
    for (const pid of [info.s3.pid, ...info.nodes.map((n) => n.pid), ...etcdPids]) {
      assert.ok(isAlive(pid), `pid ${pid} runs`);
    }
    for (const pid of etcdPids) {
      const cmd = (await readFile(`/proc/${pid}/cmdline`, "utf8")).split("\0");
      assert.match(cmd[0] ?? "", /\/etcd$/);
      assert.ok(cmd.includes("--client-cert-auth"), "members require client certificates");
    }
    assert.ok(existsSync(info.configPath));
    assert.ok(existsSync(join(dir, "cluster.rkestate")));
  });

  void test("status shows every member healthy with one leader", async () => {
    const run = await runCli(["--output", "json", "sandbox", "status", "--dir", dir]);
    assert.equal(run.code, 0, run.stderr);
    const status = jsonOf<StatusReport>(run);
    assert.deepEqual(
      status.health.map((h) => [h.node, h.ok]),
      [
        ["etcd-node1", true],
        ["etcd-node2", true],
        ["etcd-node3", true],
      ],
    );
    assert.equal(status.health.filter((h) => h.isLeader).length, 1);
    assert.deepEqual(
      status.nodes.map((n) => n.pid),
      info.nodes.map((n) => n.pid),
    );
    const text = await runCli(["sandbox", "status", "--dir", dir]);
    assert.equal(text.code, 0);
    for (const n of info.nodes)
      assert.match(
        text.stdout,
        new RegExp(`${n.name}\\s+${n.host.replace(/\./g, "\\.")}\\s+running \\(${n.pid}\\)\\s+healthy`),
      );
    assert.match(text.stdout, /^s3\s+http:\/\/\S+\s+running/m);
  });

  void test("a second up in the same folder is refused and changes nothing", async () => {
    const before = await readFile(join(dir, "sandbox.json"), "utf8");
    const again = await runCli(["sandbox", "up", "--dir", dir]);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /a sandbox is already running in .*; stop it with: lifeboat sandbox down --dir /);
    assert.equal(await readFile(join(dir, "sandbox.json"), "utf8"), before);
    for (const n of info.nodes) assert.ok(isAlive(n.pid));
  });

  void test("down stops every process, including an etcd whose agent was killed", async () => {
    // A crashed agent leaves its etcd running: down must still find it (through the pid file).
    const victim = info.nodes[2];
    assert.ok(victim);
    process.kill(victim.pid, "SIGKILL");
    while (isAlive(victim.pid)) await new Promise((r) => setTimeout(r, 20));
    assert.ok(isAlive(etcdPids[2]!), "the orphaned etcd still runs");

    const down = await runCli(["--output", "json", "sandbox", "down", "--dir", dir]);
    assert.equal(down.code, 0, down.stderr);
    // Two live agents (each stopping its own etcd), the S3 server, and the orphaned etcd.
    assert.deepEqual(jsonOf(down), { stopped: 4 });
    for (const pid of [info.s3.pid, ...info.nodes.map((n) => n.pid), ...etcdPids]) {
      assert.equal(isAlive(pid), false, `pid ${pid} is gone`);
    }
    assert.deepEqual(await processesMentioning(dir), []);
    assert.equal(existsSync(join(dir, "sandbox.json")), false);
    assert.ok(existsSync(info.configPath), "without --purge the folder is kept");

    const status = await runCli(["sandbox", "status", "--dir", dir]);
    assert.equal(status.code, 2);
    assert.match(status.stderr, /no sandbox in /);
  });

  void test("a recorded pid since given to another process is not the sandbox's: status says DEAD, down signals none", async () => {
    // Pids are reused (pid_max is often 32768): a sandbox.json from a while ago can name pids that now belong to
    // anything. Here every recorded pid, and an etcd.pid file, name live processes that are not the sandbox's.
    const others = Array.from({ length: info.nodes.length + 1 }, () => spawn("sleep", ["300"], { stdio: "ignore" }));
    try {
      const pids = others.map((c) => c.pid!);
      const stale: SandboxInfo = {
        ...info,
        s3: { ...info.s3, pid: pids[0]! },
        nodes: info.nodes.map((n, i) => ({ ...n, pid: pids[i + 1]! })),
      };
      await writeFile(join(dir, "sandbox.json"), JSON.stringify(stale), { mode: 0o600 });
      await writeFile(join(info.nodes[0]!.agentDir, "..", "etcd.pid"), `${pids[1]}\n`);
      const status = await runCli(["sandbox", "status", "--dir", dir]);
      assert.equal((status.stdout.match(/DEAD/g) ?? []).length, pids.length, status.stdout);
      const down = await runCli(["--output", "json", "sandbox", "down", "--dir", dir]);
      assert.equal(down.code, 0, down.stderr);
      assert.deepEqual(jsonOf(down), { stopped: 0 });
      for (const pid of pids) assert.ok(isAlive(pid), `pid ${pid}, not the sandbox's, still runs`);
    } finally {
      for (const c of others) c.kill("SIGKILL");
    }
  });
});

void test("an up that fails after it started the S3 server leaves no process and no sandbox.json behind", async () => {
  const dir = await mkdtemp(join(tmpdir(), "lifeboat-sandbox-failed-up-"));
  try {
    await assert.rejects(
      sandboxUp(
        { dir, nodes: 1, entry: BIN },
        {
          prepareAgents: async () => {
            // The S3 server is running by now: what a failed certificate step used to leave behind.
            await waitFor("the S3 server", async () => (await processesMentioning(dir)).length > 0, 10_000);
            throw new Error("no certificates today");
          },
          waitHealthy: () => Promise.resolve(),
        },
      ),
      /no certificates today/,
    );
    assert.deepEqual(await processesMentioning(dir), []);
    assert.equal(existsSync(join(dir, "sandbox.json")), false);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
