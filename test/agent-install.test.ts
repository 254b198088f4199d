/**
 * `lifeboat agent install|upgrade|status|uninstall` for real: three loopback "nodes", each a real OpenSSH server on
 * its own 127.x.y.z address with its own install root (plain mode: no systemd here), against a sandbox in external
 * mode whose own agents are stopped. The program installed is the single executable (packaged once, here), and the
 * sandbox's members run under it too, so nothing on the node side runs Node.js. Then snapshots are saved and
 * restored through the installed agents, the agents are upgraded (schedule and history kept), checked, and
 * removed, leaving every snapshot. The bad inputs an operator meets are refused, naming the node, with nothing left
 * installed: a taken agent port, a wrong key, an unknown host key, an unreachable node, bad flags.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  appendFile,
  chmod,
  copyFile,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rm,
  stat,
  writeFile,
} from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import type { InstallResult, StatusResult, UninstallResult } from "../src/install/index.js";
import { installLayout } from "../src/install/index.js";
import { isAlive, type SandboxInfo } from "../src/sandbox/sandbox.js";
import { isPortFree } from "../src/util/net.js";
import { jsonOf, runCli, runProcess, type CliRun } from "./helpers/cli.js";
import { makeKey, startSshd, type TestKey, type TestSshd } from "./helpers/sshd.js";
import { waitFor } from "./helpers/sandbox.js";

const REPO = fileURLToPath(new URL("../..", import.meta.url));
const AGENT_PORT = 7443;

type NodeYml = Record<string, unknown> & { lifeboat: Record<string, unknown> & { etcd: Record<string, unknown> } };

void describe("agent install over SSH: three nodes, the single executable, plain mode", () => {
  let work: string;
  let exe: string;
  let sandboxDir: string;
  let info: SandboxInfo;
  let config: string;
  let knownHosts: string;
  let key: TestKey;
  let wrongKey: TestKey;
  const sshds: TestSshd[] = [];
  const roots: string[] = [];
  const layout = (i: number) => installLayout(roots[i]!);
  const secrets = () => [...key.privateText.split("\n").filter((l) => l && !l.startsWith("-----")), "PRIVATE KEY"];

  /** Runs the executable itself (the sandbox: its members then run under it). */
  const runExe = (args: readonly string[]): Promise<CliRun> => runProcess(exe, args);

  /** The operator's CLI, with this test's known_hosts. */
  const lifeboat = async (args: readonly string[], cfg = config): Promise<CliRun> => {
    const run = await runCli(["-o", "json", ...args, "-c", cfg], { timeoutMs: 300_000 });
    const text = run.stdout + run.stderr;
    for (const s of secrets()) assert.ok(!text.includes(s), `output holds key material: ${s.slice(0, 12)}...`);
    return run;
  };
  const agentCommand = (sub: string, extra: readonly string[] = [], cfg = config) =>
    lifeboat(["agent", sub, "--known-hosts", knownHosts, ...extra], cfg);

  const pidOf = async (i: number): Promise<number | undefined> => {
    const text = await readFile(layout(i).pidFile, "utf8").catch(() => "");
    return text.trim() ? Number(text.trim()) : undefined;
  };
  const exists = (path: string) =>
    stat(path).then(
      () => true,
      () => false,
    );
  const sha256 = async (path: string) =>
    createHash("sha256")
      .update(await readFile(path))
      .digest("hex");

  /** A copy of cluster.yml with `change` applied to the parsed nodes. */
  const variant = async (name: string, change: (nodes: NodeYml[]) => void): Promise<string> => {
    const doc = parseYaml(await readFile(config, "utf8")) as { nodes: NodeYml[] };
    change(doc.nodes);
    const path = join(info.dir, `${name}.yml`);
    await writeFile(path, stringifyYaml(doc), { mode: 0o600 });
    // The same cluster: the state file beside it, under the name RKE's rule gives it.
    await copyFile(join(info.dir, "cluster.rkestate"), join(info.dir, `${name}.rkestate`));
    return path;
  };

  before(async () => {
    work = await mkdtemp(join(tmpdir(), "lifeboat-install-"));
    const started = Date.now();
    const out = join(work, "package");
    const pack = spawnSync(process.execPath, ["scripts/package.mjs", "--out", out], { cwd: REPO, encoding: "utf8" });
    assert.equal(pack.status, 0, `${pack.stdout}\n${pack.stderr}`);
    const built = (await readdir(out)).find((f) => /^lifeboat-.*-linux-x64$/.test(f));
    assert.ok(built);
    exe = join(out, built);
    console.log(`packaged ${built} in ${((Date.now() - started) / 1000).toFixed(1)} s`);

    sandboxDir = join(work, "sandbox");
    const up = await runExe([
      "-o",
      "json",
      "sandbox",
      "up",
      "--dir",
      sandboxDir,
      "--nodes",
      "3",
      "--etcd-mode",
      "external",
    ]);
    assert.equal(up.code, 0, up.stderr);
    info = jsonOf<SandboxInfo>(up);
    config = info.configPath;
    // The sandbox's own agents go; their members run on under their supervisors, as etcd does on a node.
    for (const n of info.nodes) process.kill(n.pid, "SIGTERM");
    await waitFor("the sandbox's agents to exit", async () => info.nodes.every((n) => !isAlive(n.pid)), 60_000);

    key = await makeKey(work, "id_ed25519");
    wrongKey = await makeKey(work, "id_other");
    knownHosts = join(work, "known_hosts");
    for (const [i, n] of info.nodes.entries()) {
      const sshd = await startSshd({ dir: work, address: n.host, authorizedKeys: [key.publicKey] });
      sshds.push(sshd);
      roots.push(join(work, `root-${i + 1}`));
      await appendFile(knownHosts, `[${sshd.address}]:${sshd.port} ${sshd.hostKey}\n`);
    }
    const doc = parseYaml(await readFile(config, "utf8")) as { nodes: NodeYml[] };
    doc.nodes.forEach((node, i) => {
      Object.assign(node, { port: sshds[i]!.port, user: "root", ssh_key_path: key.path });
      node.lifeboat.install = { mode: "plain", root: roots[i] };
    });
    // The third node has no etcd tools of its own: install copies them there.
    delete doc.nodes[2]!.lifeboat.etcd.tools_dir;
    await writeFile(config, stringifyYaml(doc), { mode: 0o600 });
  });

  after(async () => {
    // Agents this test installed and did not remove (a failed case): stopped by their pid files.
    for (let i = 0; i < roots.length; i++) {
      const pid = await pidOf(i);
      if (pid && isAlive(pid)) process.kill(pid, "SIGTERM");
    }
    if (sandboxDir) await runExe(["sandbox", "down", "--dir", sandboxDir]).catch(() => undefined);
    for (const sshd of sshds) await sshd.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  void test("install: two nodes get a running agent; the node whose agent port is taken fails alone, with nothing installed", async () => {
    const taken: Server = createServer();
    await new Promise<void>((resolve) => taken.listen(AGENT_PORT, info.nodes[1]!.host, resolve));
    let run: CliRun;
    try {
      run = await agentCommand("install", ["--program", exe]);
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
    assert.equal(run.code, 3, run.stdout + run.stderr);
    const { nodes } = jsonOf<{ nodes: InstallResult[] }>(run);
    assert.deepEqual(
      nodes.map((n) => [n.node, n.ok, n.outcome]),
      [
        ["etcd-node1", true, "installed"],
        ["etcd-node2", false, undefined],
        ["etcd-node3", true, "installed"],
      ],
    );
    assert.match(nodes[1]!.error ?? "", /^node node2 \(127\.[\d.]+:\d+\): port 7443 is already taken/);
    assert.equal(await exists(layout(1).program), false, "no program on the failed node");
    assert.equal(await exists(layout(1).pidFile), false, "no pid file on the failed node");
    assert.deepEqual(await readdir(roots[1]!).catch(() => []), [], "nothing at all under the failed node's root");

    assert.match(nodes[0]!.tools ?? "", /^the node has etcd 3\.\d+\.\d+ in \/\S+ \(member 3\.\d+\.\d+\)$/);
    assert.match(nodes[2]!.tools ?? "", /^etcd 3\.\d+\.\d+ from this machine's \S+ in \S+etcd-tools \(member /);
    for (const tool of ["etcd", "etcdctl", "etcdutl"]) {
      assert.ok(await exists(join(layout(2).toolsDir, tool)), `node3 got ${tool}`);
    }
    assert.equal(await exists(layout(0).toolsDir + "/etcd"), false, "node1 has its own tools: none copied");

    for (const i of [0, 2]) {
      const l = layout(i);
      assert.equal(await sha256(l.program), await sha256(exe));
      const pid = await pidOf(i);
      assert.ok(pid && isAlive(pid), `node${i + 1}'s agent runs`);
      // The agent is the executable itself: no Node.js on the node side.
      assert.equal(await readlink(`/proc/${pid}/exe`), l.program);
      // Plain mode starts it with the agent's environment (util/agent-env.ts), as the systemd unit does.
      const environ = (await readFile(`/proc/${pid}/environ`, "utf8")).split("\0");
      assert.ok(environ.includes("MALLOC_MMAP_THRESHOLD_=131072"), "the agent runs with MALLOC_MMAP_THRESHOLD_");
      assert.equal((await stat(l.agentDir)).mode & 0o777, 0o700);
      for (const f of ["agent.json", "agent-key.pem", "etcd-client-key.pem", "ca.pem"]) {
        assert.equal((await stat(join(l.agentDir, f))).mode & 0o777, 0o600, f);
      }
    }
  });

  void test("install again: only what differs (the missing node) is installed; the running agents are left alone", async () => {
    const before = [await pidOf(0), await pidOf(2)];
    const run = await agentCommand("install", ["--program", exe]);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    const { nodes } = jsonOf<{ nodes: InstallResult[] }>(run);
    assert.deepEqual(
      nodes.map((n) => [n.outcome, n.changed]),
      [
        ["up to date", []],
        ["installed", ["program", "agent folder"]],
        ["up to date", []],
      ],
    );
    assert.deepEqual([await pidOf(0), await pidOf(2)], before, "not restarted");
    const health = await runCli(["-o", "json", "etcd", "health", "-c", config]);
    assert.equal(health.code, 0, health.stdout);
  });

  void test("snapshots are saved and restored through the installed agents", async () => {
    const save = await lifeboat(["etcd", "snapshot-save", "--name", "installed-save"]);
    assert.equal(save.code, 0, save.stdout + save.stderr);
    const report = jsonOf<{ nodes: { ok: boolean }[]; s3?: { ok: boolean } }>(save);
    assert.deepEqual(
      report.nodes.map((n) => n.ok),
      [true, true, true],
    );
    assert.equal(report.s3?.ok, true);
    const push = await lifeboat(["etcd", "schedule", "push", "--interval", "1h"]);
    assert.equal(push.code, 0, push.stdout + push.stderr);
    const restore = await lifeboat([
      "etcd",
      "snapshot-restore",
      "--name",
      "installed-save",
      "--yes",
      "--timeout",
      "90",
    ]);
    assert.equal(restore.code, 0, restore.stdout + restore.stderr);
  });

  void test("upgrade replaces the program and restarts every agent; its schedule and history stay", async () => {
    const next = join(work, "lifeboat-next");
    await copyFile(exe, next);
    // Another build of the same version: bytes after the executable's end change its digest, not what it runs.
    await appendFile(next, "\nnext build\n");
    await chmod(next, 0o755);
    const before = await Promise.all([0, 1, 2].map(pidOf));
    const schedules = await Promise.all([0, 1, 2].map((i) => readFile(join(layout(i).agentDir, "schedule.json"))));
    const run = await agentCommand("upgrade", ["--program", next]);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    const { nodes } = jsonOf<{ nodes: InstallResult[] }>(run);
    assert.deepEqual(
      nodes.map((n) => n.outcome),
      ["upgraded: program", "upgraded: program", "upgraded: program"],
    );
    for (const i of [0, 1, 2]) {
      const pid = await pidOf(i);
      assert.ok(pid && isAlive(pid) && pid !== before[i], `node${i + 1}'s agent was restarted`);
      assert.equal(await sha256(layout(i).program), await sha256(next));
      assert.deepEqual(await readFile(join(layout(i).agentDir, "schedule.json")), schedules[i], "schedule kept");
      assert.ok(await exists(join(layout(i).agentDir, "schedule-state.json")), "history kept");
      assert.deepEqual(
        (await readdir(layout(i).binDir)).filter((f) => f.includes("lifeboat-previous")),
        [],
        "no backup left",
      );
    }
    const status = await runCli(["-o", "json", "etcd", "snapshot-status", "-c", config]);
    assert.equal(status.code, 0, status.stdout + status.stderr);
  });

  void test("status: reachable over SSH, running, the installed version, and a healthy member, per node", async () => {
    const version = (await runExe(["--version"])).stdout.trim();
    const run = await agentCommand("status");
    assert.equal(run.code, 0, run.stdout + run.stderr);
    const { nodes } = jsonOf<{ nodes: StatusResult[] }>(run);
    for (const n of nodes) {
      assert.equal(n.ok, true, JSON.stringify(n));
      assert.deepEqual(
        [n.ssh.ok, n.service?.state, n.program, n.agent.version, n.health.detail],
        [true, "running", version, version, "healthy"],
      );
    }
  });

  void test("bad input is refused naming the node and what to fix; nothing is installed", async () => {
    const fresh = join(work, "root-fresh");
    const closedPort = await unusedPort(info.nodes[0]!.host);
    const onFresh = (nodes: NodeYml[]) => ((nodes[0]!.lifeboat.install as { root: string }).root = fresh);
    const cases: [string, (nodes: NodeYml[]) => void, string[], RegExp][] = [
      [
        "wrong-key",
        (nodes) => (nodes[0]!.ssh_key_path = wrongKey.path),
        [],
        /^node node1 \(127[\d.]+:\d+\): authentication as user root with key \S+id_other failed/,
      ],
      [
        "unknown-host",
        () => undefined,
        ["--known-hosts", join(work, "empty_known_hosts")],
        /^node node1 .*: unknown host key ssh-ed25519 SHA256:\S+ .*--accept-new-host-keys/,
      ],
      [
        "unreachable",
        (nodes) => (nodes[0]!.port = String(closedPort)),
        [],
        /^node node1 .*: host unreachable \(ECONNREFUSED\)/,
      ],
    ];
    await writeFile(join(work, "empty_known_hosts"), "");
    for (const [name, change, flags, expected] of cases) {
      const cfg = await variant(name, (nodes) => {
        onFresh(nodes);
        change(nodes);
      });
      const args = ["agent", "install", "-c", cfg, "--node", "etcd-node1", "--program", exe];
      const run = await runCli(["-o", "json", ...args, ...(flags.length ? flags : ["--known-hosts", knownHosts])]);
      assert.equal(run.code, 1, `${name}: ${run.stdout}${run.stderr}`);
      const [node] = jsonOf<{ nodes: InstallResult[] }>(run).nodes;
      assert.match(node?.error ?? "", expected, name);
      assert.equal(await exists(fresh), false, `${name}: nothing installed`);
      for (const s of secrets()) assert.ok(!(run.stdout + run.stderr).includes(s), `${name}: no key material`);
    }
    const unknownNode = await agentCommand("install", ["--node", "etcd-nope", "--program", exe]);
    assert.equal(unknownNode.code, 2);
    assert.match(unknownNode.stderr, /--node etcd-nope: no such etcd node/);
    const noProgram = await agentCommand("install", ["--program", join(work, "missing")]);
    assert.equal(noProgram.code, 2);
    assert.match(noProgram.stderr, /--program .*missing: not an executable file/);
    const badTools = await agentCommand("install", ["--program", exe, "--etcd-tools", join(work, "missing.tar.gz")]);
    assert.equal(badTools.code, 2);
    assert.match(badTools.stderr, /--etcd-tools: .*missing\.tar\.gz does not exist/);
  });

  void test("uninstall stops and removes every agent, its program and folder, and leaves every snapshot", async () => {
    const snapshotDirs = info.nodes.map((n) => join(info.dir, "nodes", n.name.replace(/^etcd-/, ""), "snapshots"));
    const before = await Promise.all(snapshotDirs.map((d) => readdir(d)));
    assert.ok(
      before.every((files) => files.some((f) => f.startsWith("installed-save"))),
      "each node has the snapshot",
    );
    const pids = await Promise.all([0, 1, 2].map(pidOf));
    const run = await agentCommand("uninstall");
    assert.equal(run.code, 0, run.stdout + run.stderr);
    const { nodes } = jsonOf<{ nodes: UninstallResult[] }>(run);
    assert.deepEqual(
      nodes.map((n) => [n.node, n.ok, n.removed]),
      [
        ["etcd-node1", true, ["agent stopped", "pid file", "program", "agent folder"]],
        ["etcd-node2", true, ["agent stopped", "pid file", "program", "agent folder"]],
        ["etcd-node3", true, ["agent stopped", "pid file", "program", "etcd tools", "agent folder"]],
      ],
    );
    for (const [i, pid] of pids.entries()) {
      assert.ok(pid && !isAlive(pid), `node${i + 1}'s agent stopped`);
      assert.ok(await isPortFree(info.nodes[i]!.host, AGENT_PORT));
      for (const path of [layout(i).program, layout(i).pidFile, layout(i).agentDir, layout(i).toolsDir]) {
        assert.equal(await exists(path), false, `${path} is gone`);
      }
    }
    assert.deepEqual(await Promise.all(snapshotDirs.map((d) => readdir(d))), before, "every snapshot is still there");
  });
});

/** A port nothing listens on at `host` (bound, then released). */
async function unusedPort(host: string): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  assert.ok(address && typeof address === "object");
  return address.port;
}
