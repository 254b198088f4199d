/**
 * The single executable (`npm run package`, scripts/package.mjs), run as on a node with no Node.js, no npm and nothing
 * beside it: copied alone into a temp folder and started from a temp working directory with only PATH=/nonexistent
 * and a temp HOME in its environment. It reports the version with its git commit, writes an agent folder, runs that
 * agent against a real etcd member (which the agent itself starts, from the node's etcd binaries), answers GET
 * /v1/info over mutual TLS with the same version, and saves, lists and verifies a snapshot through it, with S3.
 * The builder runs once, here, on the compiled dist/ (about 20 s).
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmod, copyFile, mkdir, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";
import { routes } from "../src/api/routes.js";
import { AgentClient } from "../src/agent/client.js";
import { cliTls } from "../src/fleet/open.js";
import type { ListReport } from "../src/fleet/catalog.js";
import type { SaveReport } from "../src/fleet/save.js";
import { VERSION } from "../src/cli/version.js";
import { statePathFor } from "../src/config/cluster.js";
import { readState } from "../src/config/state.js";
import type { VerifyReport } from "../src/restore/verify.js";
import { isAlive, writeSandbox } from "../src/sandbox/sandbox.js";
import { parseManifest } from "../src/snapshot/manifest.js";
import type { Store } from "../src/store/store.js";
import { jsonOf, runProcess, type CliRun } from "./helpers/cli.js";
import { sandboxS3, startTestSandbox, waitFor, type TestSandbox } from "./helpers/sandbox.js";

const REPO = fileURLToPath(new URL("../..", import.meta.url));
const PACKAGE_DIR = join(REPO, "dist", "package");
const KEYS = 300;

interface Running {
  pid: number;
  output: () => string;
  exited: Promise<number | null>;
}

void describe("the single executable, on a node without Node.js", () => {
  let sb: TestSandbox;
  let home: string;
  let exe: string;
  let built: string;
  let agentDir: string;
  let agent: Running | undefined;
  let client: AgentClient;
  let s3: Store;

  /** Only what a bare node has: no node, npm or git on PATH, nothing inherited from this process. */
  const env = () => ({ PATH: "/nonexistent", HOME: join(home, "home") });

  const run = (args: readonly string[]): Promise<CliRun> =>
    runProcess(exe, args, { cwd: join(home, "cwd"), env: env() });

  const startAgent = async (): Promise<Running> => {
    const child = spawn(exe, ["agent", "--dir", agentDir], {
      cwd: join(home, "cwd"),
      env: env(),
      stdio: ["ignore", "pipe", "pipe"],
    });
    assert.ok(child.pid);
    let text = "";
    child.stdout.on("data", (d: Buffer) => (text += d.toString()));
    child.stderr.on("data", (d: Buffer) => (text += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    // Recorded in sandbox.json, so that the sandbox's teardown stops it if this test cannot.
    sb.info.nodes[0]!.pid = child.pid;
    await writeSandbox(sb.info);
    return { pid: child.pid, output: () => text, exited };
  };

  before(async () => {
    const started = Date.now();
    const pack = spawnSync(process.execPath, ["scripts/package.mjs"], { cwd: REPO, encoding: "utf8" });
    assert.equal(pack.status, 0, `${pack.stdout}\n${pack.stderr}`);
    const outputs = (await readdir(PACKAGE_DIR)).filter((f) => /^lifeboat-.*-linux-x64$/.test(f));
    assert.equal(outputs.length, 1, `one executable in dist/package: ${outputs.join(", ")}`);
    built = join(PACKAGE_DIR, outputs[0]!);
    console.log(`packaged ${outputs[0]} in ${((Date.now() - started) / 1000).toFixed(1)} s`);

    home = await mkdtemp(join(tmpdir(), "lifeboat-package-"));
    await Promise.all(["bin", "cwd", "home"].map((d) => mkdir(join(home, d))));
    exe = join(home, "bin", "lifeboat");
    await copyFile(built, exe);
    await chmod(exe, 0o755);

    sb = await startTestSandbox({ nodes: 1 });
    const etcd = await sb.etcd(0);
    for (let i = 0; i < KEYS; i++) await etcd.put(`/registry/k${i}`, Buffer.from(`value ${i}`));
    const state = await readState(statePathFor(sb.config));
    assert.ok(state);
    const node = sb.info.nodes[0]!;
    client = new AgentClient({ endpoint: `${node.host}:7443`, tls: cliTls(state) });
    s3 = sandboxS3(sb.info);
    // The sandbox's agent (the dev build) stops, and its managed member with it; the executable's agent takes over.
    process.kill(node.pid, "SIGTERM");
    await waitFor("the sandbox's agent to exit", async () => !isAlive(node.pid), 30_000);
  });

  after(async () => {
    client?.close();
    await s3?.close();
    if (agent && isAlive(agent.pid)) {
      process.kill(agent.pid, "SIGTERM");
      await agent.exited;
    }
    await sb?.down();
    if (home) await rm(home, { recursive: true, force: true });
  });

  void test("its sha256 file matches, and --version is package.json's version plus the git commit", async () => {
    const [digest, file] = (await readFile(`${built}.sha256`, "utf8")).trim().split(/ +/);
    assert.equal(file, built.slice(PACKAGE_DIR.length + 1));
    assert.equal(
      digest,
      createHash("sha256")
        .update(await readFile(built))
        .digest("hex"),
    );

    const { version } = JSON.parse(await readFile(join(REPO, "package.json"), "utf8")) as { version: string };
    const commit = spawnSync("git", ["rev-parse", "--short", "HEAD"], { cwd: REPO, encoding: "utf8" });
    assert.equal(commit.status, 0, "the tests run from a git checkout");
    const escaped = version.replace(/\./g, "\\.");
    assert.match(VERSION, new RegExp(`^${escaped}\\+${commit.stdout.trim()}(-dirty)?$`));
    assert.equal(built, join(PACKAGE_DIR, `lifeboat-${VERSION}-linux-x64`));

    const v = await run(["--version"]);
    assert.deepEqual(v, { code: 0, stdout: `${VERSION}\n`, stderr: "" });
  });

  void test("--help works and lists every command", async () => {
    const help = await run(["--help"]);
    assert.equal(help.code, 0, help.stderr);
    assert.equal(help.stderr, "");
    for (const command of ["etcd", "agent", "cert", "sandbox", "demo"]) {
      assert.match(help.stdout, new RegExp(`^  ${command}\\b`, "m"));
    }
    const etcd = await run(["etcd", "--help"]);
    assert.equal(etcd.code, 0, etcd.stderr);
    assert.match(etcd.stdout, /snapshot-save/);
    const typo = await run(["etcd", "snapshot-remove"]);
    assert.equal(typo.code, 2);
    assert.match(typo.stderr, /snapshot-delete/);
  });

  void test("cert node writes an agent folder; its agent runs the member and reports the version over mutual TLS", async () => {
    agentDir = join(home, "agent");
    const cert = await run(["cert", "node", "-c", sb.config, "--node", "etcd-node1", "--out", agentDir]);
    assert.equal(cert.code, 0, cert.stderr);
    assert.match(cert.stdout, /wrote agent folder/);
    agent = await startAgent();
    const health = await waitFor("the executable's agent and its member", async () => {
      const h = await client.call(routes.health);
      return h.reachable ? h : undefined;
    });
    assert.ok(health.revision > KEYS, "the member started on the sandbox's data");
    const info = await client.call(routes.info);
    assert.deepEqual([info.node, info.version, info.etcdMode], ["etcd-node1", VERSION, "managed"]);
  });

  void test("snapshot-save, snapshot-list and snapshot-verify through the executable, with S3", async () => {
    assert.ok(agent, "the agent runs");
    const name = "packaged-save";
    const saved = await run(["--output", "json", "etcd", "snapshot-save", "--config", sb.config, "--name", name]);
    assert.equal(saved.code, 0, saved.stderr);
    assert.doesNotMatch(saved.stderr, /warning/i, "no warning from Node or the AWS SDK");
    const report = jsonOf<SaveReport>(saved);
    assert.deepEqual(
      report.nodes.map((n) => [n.node, n.ok]),
      [["etcd-node1", true]],
    );
    assert.equal(report.s3?.ok, true, JSON.stringify(report.s3));
    const manifest = parseManifest((await readStream(await s3.get(`${name}.manifest.json`))).toString("utf8"));
    assert.ok(manifest.ok);
    assert.equal(manifest.manifest.tool.version, VERSION);

    const list = await run(["--output", "json", "etcd", "snapshot-list", "--config", sb.config]);
    assert.equal(list.code, 0, list.stderr);
    const copies = jsonOf<ListReport>(list).snapshots.filter((s) => s.name === name);
    assert.deepEqual(copies.map((c) => [c.location, c.status]).sort(), [
      ["node:etcd-node1", "ok"],
      ["s3", "ok"],
    ]);

    const verified = await run(["--output", "json", "etcd", "snapshot-verify", "--config", sb.config, "--name", name]);
    assert.equal(verified.code, 0, verified.stderr);
    const v = jsonOf<VerifyReport>(verified);
    assert.equal(v.ok, true, v.reason);
    assert.ok(v.keys >= KEYS, `${v.keys} keys`);
    assert.doesNotMatch(agent.output(), /"level":"error"|unhandled|uncaught|internal error/i);
  });
});

async function readStream(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}
