/**
 * `lifeboat sandbox up --etcd-mode external`: the members run under supervisors outside the agents, the way RKE's
 * Docker etcd or a systemd unit runs them in production. A member that dies is started again by its supervisor (not
 * by its agent); the stop command stops it for good; start is idempotent; an agent's death leaves its member
 * running; `down` leaves no process behind.
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { parse as parseYaml } from "yaml";
import { isAlive, type SandboxInfo } from "../src/sandbox/sandbox.js";
import { jsonOf, runCli, runProcess, type CliRun } from "./helpers/cli.js";
import { processesMentioning, waitFor } from "./helpers/sandbox.js";

interface Health {
  nodes: { node: string; ok: boolean }[];
  healthy: number;
}

type NodeYml = {
  lifeboat: {
    etcd: { mode: string; start_command: string; stop_command: string; status_command: string; tools_dir: string };
  };
};

void describe("sandbox in external mode: members outside the agents", () => {
  let dir: string;
  let info: SandboxInfo;
  let commands: NodeYml["lifeboat"]["etcd"];
  const nodeDir = () => join(dir, "nodes", "node1");
  const etcdPid = async () => Number((await readFile(join(nodeDir(), "etcd.pid"), "utf8").catch(() => "0")).trim());
  const health = async () => jsonOf<Health>(await runCli(["-o", "json", "etcd", "health", "-c", info.configPath]));

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "lifeboat-sandbox-ext-"));
    const up = await runCli(["-o", "json", "sandbox", "up", "--dir", dir, "--nodes", "1", "--etcd-mode", "external"]);
    assert.equal(up.code, 0, up.stderr);
    info = jsonOf<SandboxInfo>(up);
    const doc = parseYaml(await readFile(info.configPath, "utf8")) as { nodes: NodeYml[] };
    commands = doc.nodes[0]!.lifeboat.etcd;
  });
  after(async () => {
    await runCli(["sandbox", "down", "--dir", dir, "--purge"]);
    await rm(dir, { recursive: true, force: true });
  });

  void test("cluster.yml drives the member through start, stop and status commands", async () => {
    assert.equal(info.etcdMode, "external");
    assert.equal(commands.mode, "external");
    assert.match(commands.start_command, /sandbox member-start --spec /);
    assert.match(commands.stop_command, /sandbox member-stop --spec /);
    assert.equal((await shell(commands.status_command)).code, 0, "the status command says running");
    const agentJson = JSON.parse(await readFile(join(info.nodes[0]!.agentDir, "agent.json"), "utf8")) as {
      etcd: {
        mode: string;
        toolsDir?: string;
        external: { startCommand: string; stopCommand: string; statusCommand: string };
      };
    };
    assert.deepEqual(agentJson.etcd.external, {
      startCommand: commands.start_command,
      stopCommand: commands.stop_command,
      statusCommand: commands.status_command,
    });
    assert.equal(agentJson.etcd.toolsDir, commands.tools_dir, "the node's tools_dir");
    assert.equal((await health()).healthy, 1);
  });

  void test("an etcd that dies is started again by its supervisor", async () => {
    const first = await etcdPid();
    process.kill(first, "SIGKILL");
    const second = await waitFor(
      "a restarted etcd",
      async () => {
        const pid = await etcdPid();
        return pid !== first && pid > 0 && isAlive(pid) ? pid : undefined;
      },
      30_000,
    );
    assert.notEqual(second, first);
    await waitFor("the member to be healthy again", async () => (await health()).healthy === 1, 30_000);
  });

  void test("an agent's death leaves its member running", async () => {
    const pid = await etcdPid();
    const agent = info.nodes[0]!.pid;
    process.kill(agent, "SIGKILL");
    await waitFor("the agent to exit", async () => !isAlive(agent), 10_000);
    await sleep(1000);
    assert.ok(isAlive(pid), "etcd still runs without its agent");
    assert.equal(await etcdPid(), pid, "and was not restarted");
  });

  void test("the stop command stops the member for good; start is idempotent", async () => {
    const pid = await etcdPid();
    const stop = await shell(commands.stop_command);
    assert.equal(stop.code, 0, stop.stderr);
    assert.match(stop.stdout, /^stopped$/m);
    assert.equal(isAlive(pid), false, "etcd has exited when the stop command returns");
    await sleep(2000);
    assert.equal((await shell(commands.status_command)).code === 0, false, "nothing started it again");
    assert.match((await shell(commands.stop_command)).stdout, /not running/);
    assert.match((await shell(commands.start_command)).stdout, /^started$/m);
    assert.match((await shell(commands.start_command)).stdout, /already running/);
    await waitFor("the member to run again", async () => (await shell(commands.status_command)).code === 0, 30_000);
    assert.equal((await processesMentioning("supervise")).filter((p) => p.includes(dir)).length, 1, "one supervisor");
  });

  void test("down stops every supervisor and member", async () => {
    const down = await runCli(["sandbox", "down", "--dir", dir]);
    assert.equal(down.code, 0, down.stderr);
    assert.deepEqual(await processesMentioning(dir), [], "no process of the sandbox is left");
  });
});

/** Runs one of cluster.yml's commands the way the agent does: through sh. */
function shell(command: string): Promise<CliRun> {
  return runProcess("sh", ["-c", command]);
}
