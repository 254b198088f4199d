/**
 * Whole-cluster restore against a real 3-member TLS sandbox for one etcd series: each case asserts what the
 * operator would check afterwards (keys, health, cluster ID, revision, old data kept, nothing touched on failure).
 */
import { isAlive as alive } from "../../src/sandbox/sandbox.js";
import assert from "node:assert/strict";
import { chmod, copyFile, mkdir, readdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { execFileSync } from "node:child_process";
import { createReadStream } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { pipeline } from "node:stream/promises";
import { createWriteStream } from "node:fs";
import { ZipWriter } from "../../src/archive/zip.js";
import { findEtcdTools } from "../../src/etcd/binaries.js";
import { jsonOf, runCli } from "./cli.js";
import { startTestSandbox, type TestSandbox } from "./sandbox.js";

interface Health {
  nodes: { node: string; ok: boolean; clusterId?: string; revision?: number }[];
  healthy: number;
}

export function restoreSuite(series: string): void {
  describe(`restore on etcd ${series}`, () => cases(series));
}

function cases(series: string): void {
  let sb: TestSandbox;
  let snapRevision = 0;
  const nodeDir = (i: number) => join(sb.dir, "nodes", `node${i + 1}`);
  const snapDir = (i: number) => join(nodeDir(i), "snapshots");
  const health = async () => jsonOf<Health>(await sb.cli(["-o", "json", "etcd", "health", "-c", sb.config]));
  const count = async (prefix: string) => (await sb.etcd(0)).count(prefix);
  const restore = (args: string[]) =>
    sb.cli(["-o", "json", "etcd", "snapshot-restore", "-c", sb.config, "--yes", "--timeout", "60", ...args]);
  /**
   * The same in text, for the cases that fail on purpose: a failure message then shows every phase and when it began.
   * Their --timeout bounds the start phase and each rollback start, so the worst case (two bounded starts and the
   * stops between them) stays well inside the 120 s the harness gives a command.
   */
  const restoreText = (args: string[]) =>
    sb.cli(["etcd", "snapshot-restore", "-c", sb.config, "--yes", "--timeout", "30", ...args]);

  before(async () => {
    sb = await startTestSandbox({ series });
    const etcd = await sb.etcd(0);
    for (let i = 0; i < 50; i++) await etcd.put(`/before/${i}`, `value-${i}`);
    const save = await sb.cli(["etcd", "snapshot-save", "-c", sb.config, "--name", "snap1"]);
    assert.equal(save.code, 0, save.stderr);
    snapRevision = (await etcd.status()).revision;
    for (let i = 0; i < 20; i++) await etcd.put(`/after/${i}`, `later-${i}`);
  });
  after(() => sb?.down());

  test(`${series}: --dry-run prints the plan and changes nothing`, async () => {
    const before = await health();
    const dirs = await readdir(nodeDir(0));
    const run = await sb.cli([
      "-o",
      "json",
      "etcd",
      "snapshot-restore",
      "-c",
      sb.config,
      "--name",
      "snap1",
      "--dry-run",
    ]);
    assert.equal(run.code, 0, run.stderr);
    const out = jsonOf<{ dryRun: boolean; plan: { members: unknown[]; initialClusterToken: string } }>(run);
    assert.equal(out.dryRun, true);
    assert.equal(out.plan.members.length, 3);
    assert.deepEqual(await readdir(nodeDir(0)), dirs);
    assert.equal(await count("/after/"), 20);
    assert.deepEqual(
      (await health()).nodes.map((n) => n.clusterId),
      before.nodes.map((n) => n.clusterId),
    );
  });

  test(`${series}: restore from S3 with no local copies brings back exactly the data from before the snapshot`, async () => {
    const oldId = (await health()).nodes[0]?.clusterId;
    const oldRevision = (await (await sb.etcd(0)).status()).revision;
    for (let i = 0; i < 3; i++) await rm(snapDir(i), { recursive: true, force: true });
    const run = await restore(["--name", "snap1"]);
    assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
    const out = jsonOf<{ plan: { source: { kind: string }; bump: { amount: number } }; result: { clusterId: string } }>(
      run,
    );
    assert.equal(out.plan.source.kind, "s3");
    // Progress (GET /v1/restore/progress, polled by the CLI): with -o json, plain lines on stderr, each with a total.
    assert.match(run.stderr, /^\S+ download: .+ of .+ \(100%\) in \d/m, run.stderr);
    assert.match(run.stderr, /^\S+ extract: .+ of .+ \(100%\) in \d/m, run.stderr);
    assert.equal(run.stderr.match(/^\S+ fetch: .+ of .+ \(100%\) in \d/gm)?.length, 2, run.stderr);
    assert.equal(run.stderr.match(/^\S+ rebuild: done in /gm)?.length, 3, run.stderr);
    assert.doesNotMatch(run.stderr, /^\S+ \w+: failed after/m, run.stderr);
    assert.equal(await count("/before/"), 50);
    assert.equal(await count("/after/"), 0);
    const h = await health();
    assert.equal(h.healthy, 3);
    assert.equal(new Set(h.nodes.map((n) => n.clusterId)).size, 1);
    assert.notEqual(h.nodes[0]?.clusterId, oldId, "a restored cluster is a new logical cluster");
    const revision = (await (await sb.etcd(1)).status()).revision;
    if (series === "3.4") {
      assert.equal(out.plan.bump.amount, 0, "etcd 3.4.23 has no --bump-revision");
      assert.ok(revision >= snapRevision);
    } else {
      assert.ok(out.plan.bump.amount > 0);
      assert.ok(revision > oldRevision, `revision ${revision} must pass the old cluster's ${oldRevision}`);
    }
    const kept = await readdir(nodeDir(0));
    assert.ok(
      kept.some((d) => d.startsWith("etcd-data.old-")),
      `old data dir kept: ${kept.join(", ")}`,
    );
  });

  test(`${series}: a corrupted copy stops the restore before any member is touched`, async () => {
    await mkdir(snapDir(2), { recursive: true });
    const save = await sb.cli(["etcd", "snapshot-save", "-c", sb.config, "--name", "snap2"]);
    assert.equal(save.code, 0, save.stderr);
    const etcd = await sb.etcd(0);
    await etcd.put("/marker", "still-here");
    const idBefore = (await health()).nodes[0]?.clusterId;
    const archive = join(snapDir(2), "snap2.zip");
    for (const i of [0, 1]) await rm(join(snapDir(i), "snap2.zip"));
    const bytes = await readFile(archive);
    bytes[Math.floor(bytes.length / 3)]! ^= 0xff;
    await writeFile(archive, bytes);
    const run = await restore(["--name", "snap2", "--local"]);
    assert.equal(run.code, 4, `${run.stdout}\n${run.stderr}`);
    assert.match(run.stderr, /untouched|differs|did not verify|CRC|checksum/i);
    assert.equal(await etcd.get("/marker"), "still-here");
    const h = await health();
    assert.equal(h.healthy, 3);
    assert.equal(h.nodes[0]?.clusterId, idBefore);
  });

  test(`${series}: restore from a single node's local copy of an RKE-layout archive`, async () => {
    const tools = await findEtcdTools({ series, developerCache: true });
    const raw = join(sb.dir, "rke-db");
    const agentDir = join(nodeDir(1), "agent");
    const host = sb.info.nodes[1]!.host;
    execFileSync(
      tools.etcdctl,
      [
        `--endpoints=https://${host}:2379`,
        `--cacert=${join(agentDir, "ca.pem")}`,
        `--cert=${join(agentDir, "etcd-client.pem")}`,
        `--key=${join(agentDir, "etcd-client-key.pem")}`,
        "snapshot",
        "save",
        raw,
      ],
      { env: { ...process.env, ETCDCTL_API: "3" }, stdio: "ignore" },
    );
    const etcd = await sb.etcd(0);
    await etcd.put("/not-in-rke-archive", "x");
    const zip = new ZipWriter();
    const written = pipeline(
      zip.output,
      createWriteStream(join(snapDir(1), "rke_etcd_snapshot_test.zip"), { mode: 0o600 }),
    );
    await zip.addEntry("/backup/rke_etcd_snapshot_test", createReadStream(raw));
    await zip.finish();
    await written;
    const run = await restore(["--name", "rke_etcd_snapshot_test", "--local"]);
    assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
    const out = jsonOf<{ plan: { source: { kind: string; node: string } } }>(run);
    assert.deepEqual([out.plan.source.kind, out.plan.source.node], ["node", "etcd-node2"]);
    assert.match(run.stderr, /no state file in snapshot/);
    assert.equal(await (await sb.etcd(2)).get("/not-in-rke-archive"), undefined);
    assert.equal(await (await sb.etcd(2)).get("/marker"), "still-here");
    assert.equal((await health()).healthy, 3);
  });

  test(`${series}: a member whose rebuild fails leads to a clean rollback of every node`, async () => {
    const etcd = await sb.etcd(0);
    await etcd.put("/rollback-marker", "old-cluster");
    const idBefore = (await health()).nodes[0]?.clusterId;
    // Fault injection on node3 only: its etcd tools folder gets a restore tool that fails like a full disk would.
    await runAgentWithTools(sb, series, 2, "broken-bin", (real) => {
      const script = (tool: string) =>
        `#!/bin/sh\ncase "$*" in *--help*) exec ${tool} "$@";; esac\ncase "$*" in *"snapshot restore"*) echo "no space left on device (simulated)" >&2; exit 1;; esac\nexec ${tool} "$@"\n`;
      return { etcdutl: script(real.etcdutl ?? real.etcdctl), etcdctl: script(real.etcdctl) };
    });
    const run = await restoreText(["--name", "snap1"]);
    assert.equal(run.code, 5, await explain(sb, run));
    assert.match(run.stderr, /no space left on device \(simulated\)/);
    assert.match(run.stderr, /rolled back/);
    const h = await health();
    assert.equal(h.healthy, 3, JSON.stringify(h));
    assert.equal(h.nodes[0]?.clusterId, idBefore, "the old cluster is back");
    assert.equal(await (await sb.etcd(2)).get("/rollback-marker"), "old-cluster");
    const dirs = await readdir(nodeDir(0));
    assert.ok(!dirs.some((d) => d.includes(".restore-")), `no staging dir left: ${dirs.join(", ")}`);
  });

  test(`${series}: a member that fails to come up after the rebuild leads to a clean rollback`, async () => {
    const etcd = await sb.etcd(0);
    await etcd.put("/start-marker", "old-cluster");
    const idBefore = (await health()).nodes[0]?.clusterId;
    // Fault injection on node3 only: its etcd refuses to start while a restore is being applied on that node (the
    // rollback record exists), as a member with a bad disk or a wrong flag would; after the rollback it starts again.
    const record = join(nodeDir(2), "restore", "rollback.json");
    await runAgentWithTools(sb, series, 2, "cannot-start-bin", (real) => ({
      etcd: `#!/bin/sh\nif [ -e "${record}" ]; then echo "member cannot start (simulated)" >&2; exit 1; fi\nexec ${real.etcd} "$@"\n`,
    }));
    const run = await restoreText(["--name", "snap1"]);
    assert.equal(run.code, 5, await explain(sb, run));
    assert.match(run.stderr, /member cannot start \(simulated\)/);
    assert.match(run.stderr, /rolled back: every node has its old data and its member was restarted/);
    const h = await health();
    assert.equal(h.healthy, 3, JSON.stringify(h));
    assert.equal(h.nodes[0]?.clusterId, idBefore, "the old cluster is back");
    for (const i of [0, 1, 2]) assert.equal(await (await sb.etcd(i)).get("/start-marker"), "old-cluster");
    const failed = await readdir(nodeDir(2));
    assert.ok(
      failed.some((d) => d.includes(".failed-")),
      `the restored data is kept for diagnosis: ${failed.join(", ")}`,
    );
  });

  test(`${series}: a member whose start hangs cannot hold the restore past --timeout; the message names it`, async () => {
    const etcd = await sb.etcd(0);
    await etcd.put("/hang-marker", "old-cluster");
    const idBefore = (await health()).nodes[0]?.clusterId;
    // Fault injection on node3 only: while a restore is applied there (the rollback record exists) its etcd starts
    // and never answers, as a member stuck on a slow disk would; after the rollback it starts normally.
    const record = join(nodeDir(2), "restore", "rollback.json");
    await runAgentWithTools(sb, series, 2, "hanging-bin", (real) => ({
      etcd: `#!/bin/sh\nif [ -e "${record}" ]; then exec sleep 600; fi\nexec ${real.etcd} "$@"\n`,
    }));
    // The later --timeout wins over the helper's 60 s.
    const run = await restoreText(["--timeout", "15", "--name", "snap1"]);
    assert.equal(run.code, 5, await explain(sb, run));
    assert.match(run.stderr, /the members did not start within 15 s \(still starting: etcd-node3\)/);
    assert.match(run.stderr, /rolled back: every node has its old data and its member was restarted/);
    const h = await health();
    assert.equal(h.healthy, 3, JSON.stringify(h));
    assert.equal(h.nodes[0]?.clusterId, idBefore, "the old cluster is back");
    for (const i of [0, 1, 2]) assert.equal(await (await sb.etcd(i)).get("/hang-marker"), "old-cluster");
  });
}

/** Cases that need a second cluster: verify, and a restore onto other nodes (new addresses) from one archive. */
export function restoreElsewhereSuite(series: string): void {
  describe(`verify and restore elsewhere on etcd ${series}`, () => elsewhereCases(series));
}

function elsewhereCases(series: string): void {
  let first: TestSandbox;
  let second: TestSandbox;
  before(async () => {
    [first, second] = await Promise.all([startTestSandbox({ series }), startTestSandbox({ series })]);
    const etcd = await first.etcd(0);
    for (let i = 0; i < 30; i++) await etcd.put(`/moved/${i}`, `v${i}`);
    const save = await first.cli(["etcd", "snapshot-save", "-c", first.config, "--name", "moving"]);
    assert.equal(save.code, 0, save.stderr);
  });
  after(async () => {
    await Promise.allSettled([first?.down(), second?.down()]);
  });

  test(`${series}: snapshot-verify restores into a throwaway etcd and reports revision and keys`, async () => {
    const run = await first.cli(["-o", "json", "etcd", "snapshot-verify", "-c", first.config, "--name", "moving"]);
    assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
    const report = jsonOf<{ ok: boolean; keys: number; revision: number; etcdVersion: string }>(run);
    assert.equal(report.ok, true);
    assert.equal(report.keys, 30);
    assert.ok(report.revision >= 30);
    assert.ok(report.etcdVersion.startsWith(series), report.etcdVersion);
    const left = await readdir(join(first.dir, "nodes", "node1", "restore")).catch(() => [] as string[]);
    assert.ok(!left.some((f) => f.startsWith("verify-") || f === "moving"), `verify cleaned up: ${left.join(", ")}`);
  });

  test(`${series}: restore onto a different set of nodes (new addresses) from one node that holds the archive`, async () => {
    const target = join(second.dir, "nodes", "node2", "snapshots");
    await mkdir(target, { recursive: true });
    for (const f of ["moving.zip", "moving.manifest.json"])
      await copyFile(join(first.dir, "nodes", "node1", "snapshots", f), join(target, f));
    assert.notEqual(first.info.nodes[0]?.host, second.info.nodes[0]?.host);
    const run = await second.cli([
      "-o",
      "json",
      "etcd",
      "snapshot-restore",
      "-c",
      second.config,
      "--name",
      "moving",
      "--local",
      "--yes",
    ]);
    assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
    for (const i of [0, 1, 2]) assert.equal(await (await second.etcd(i)).count("/moved/"), 30);
    const members = await (await second.etcd(2)).memberList();
    assert.deepEqual(
      members.map((m) => m.peerURLs[0]).sort(),
      second.info.nodes.map((n) => `https://${n.host}:2380`).sort(),
      "the restored cluster's members are the new nodes",
    );
    assert.match(run.stderr, /another CA/, "the archived state (first cluster's CA) is kept aside, not installed");
  });
}

/** A failed case's output with the end of every agent's log: what each node was doing when the command gave up. */
async function explain(sb: TestSandbox, run: { stdout: string; stderr: string }): Promise<string> {
  return [run.stdout, run.stderr, await sb.agentsReport(25)].join("\n");
}

type Tool = "etcd" | "etcdutl" | "etcdctl";

/**
 * Fault injection: node `index`'s agent is restarted on a folder of etcd tools in which `scripts` (given the real
 * tools' paths) replace some tools with shell scripts; the others are links to the real ones.
 */
async function runAgentWithTools(
  sb: TestSandbox,
  series: string,
  index: number,
  folder: string,
  scripts: (real: Awaited<ReturnType<typeof findEtcdTools>>) => Partial<Record<Tool, string>>,
): Promise<void> {
  const real = await findEtcdTools({ series, developerCache: true });
  const bin = join(sb.dir, folder);
  await mkdir(bin, { recursive: true });
  const replaced = scripts(real);
  for (const tool of ["etcd", "etcdutl", "etcdctl"] as const) {
    const script = replaced[tool];
    if (script !== undefined) {
      await writeFile(join(bin, tool), script);
      await chmod(join(bin, tool), 0o755);
    } else if (real[tool]) await symlink(real[tool], join(bin, tool));
  }
  const agentJson = join(sb.info.nodes[index]!.agentDir, "agent.json");
  const cfg = JSON.parse(await readFile(agentJson, "utf8")) as { etcd: { toolsDir?: string } };
  cfg.etcd.toolsDir = bin;
  await writeFile(agentJson, JSON.stringify(cfg));
  await restartAgent(sb, index);
}

/** Restarts one agent of the sandbox (SIGTERM, then start it again detached) and waits until it answers. */
export async function restartAgent(sb: TestSandbox, index: number): Promise<void> {
  const node = sb.info.nodes[index]!;
  process.kill(node.pid, "SIGTERM");
  while (alive(node.pid)) await new Promise((r) => setTimeout(r, 100));
  await sb.startAgent(index);
  for (let i = 0; i < 100; i++) {
    const h = await runCli(["-o", "json", "etcd", "health", "-c", sb.config]);
    if (h.code === 0) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error("agent did not come back");
}

export { copyFile };
