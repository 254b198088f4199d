/**
 * `restore-cleanup` against a real sandbox whose leftovers come from real restores: two restores of one snapshot
 * leave two `.old-*` data directories and two restore records on every node; a fake extracted snapshot and a stale
 * staging directory are planted beside them. The dry run must list everything and change nothing; the cleanup must
 * keep the newest old data directory, refuse a node with a pending rollback record, and leave a healthy cluster
 * that still takes snapshots.
 */
import assert from "node:assert/strict";
import { routes } from "../src/api/routes.js";
import { mkdir, readdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { AgentClient } from "../src/agent/client.js";
import { cliTls } from "../src/fleet/open.js";
import type { CleanupReport } from "../src/cli/restore-cleanup.js";
import { statePathFor } from "../src/config/cluster.js";
import { readState } from "../src/config/state.js";
import { jsonOf, type CliRun } from "./helpers/cli.js";
import { startTestSandbox, type TestSandbox } from "./helpers/sandbox.js";

let sb: TestSandbox;
const nodeDir = (i: number) => join(sb.dir, "nodes", `node${i + 1}`);
const restoreDir = (i: number) => join(nodeDir(i), "restore");
const NODES = ["etcd-node1", "etcd-node2"];

async function lifeboat(args: string[], expectCode = 0): Promise<CliRun> {
  const run = await sb.cli(["--output", "json", "etcd", ...args, "--config", sb.config]);
  assert.equal(run.code, expectCode, `lifeboat ${args.join(" ")}:\n${run.stdout}\n${run.stderr}`);
  return run;
}

/** Everything in a node's folder and its restore folder, so "nothing changed" can be checked. */
async function tree(i: number): Promise<string[]> {
  const top = await readdir(nodeDir(i));
  const restore = (await readdir(restoreDir(i))).map((n) => `restore/${n}`);
  return [...top, ...restore].sort();
}

const oldDirs = async (i: number) => (await readdir(nodeDir(i))).filter((n) => n.startsWith("etcd-data.old-")).sort();

before(async () => {
  sb = await startTestSandbox({ nodes: 2 });
  const etcd = await sb.etcd(0);
  for (let i = 0; i < 20; i++) await etcd.put(`/kept/${i}`, `v${i}`);
  await lifeboat(["snapshot-save", "--name", "a"]);
  for (let i = 0; i < 2; i++) await lifeboat(["snapshot-restore", "--name", "a", "--yes", "--timeout", "60"]);
  for (const i of [0, 1]) assert.equal((await oldDirs(i)).length, 2, "two restores leave two old data directories");
  await writeFile(join(restoreDir(0), "a-left-behind"), Buffer.alloc(4096 + 32, 1), { mode: 0o600 });
  await mkdir(join(nodeDir(1), "etcd-data.restore-20200101T000000Z", "member"), { recursive: true });
  await mkdir(join(nodeDir(0), "etcd-data.oldish"));
});

after(() => sb?.down());

describe("restore-cleanup on a sandbox after real restores", { concurrency: false }, () => {
  test("the dry run lists every leftover with its fate and changes nothing", async () => {
    const trees = await Promise.all([tree(0), tree(1)]);
    const text = await sb.cli(["etcd", "restore-cleanup", "--dry-run", "--config", sb.config]);
    assert.equal(text.code, 0, text.stderr);
    const [older, newest] = await oldDirs(0);
    const line = (name: string) => new RegExp(`etcd-node1\\s+\\S*/${name.replace(/[.]/g, "\\.")}\\s+old-data\\s+`);
    assert.match(text.stdout, new RegExp(`${line(older!).source}.*would remove\\s+older than the 1 newest`));
    assert.match(text.stdout, new RegExp(`${line(newest!).source}.*keep\\s+one of the 1 newest`));
    assert.match(text.stdout, /etcd-node1\s+\S*\/restore\/a-left-behind\s+snapshot\s+4\.0 KiB\s+\S+\s+would remove/);
    assert.doesNotMatch(text.stdout, /etcd-data\.oldish/);

    const report = jsonOf<CleanupReport>(await lifeboat(["restore-cleanup", "--dry-run"]));
    assert.equal(report.dryRun, true);
    assert.deepEqual(report.nodes.map((n) => n.node).sort(), NODES);
    for (const n of report.nodes) {
      assert.equal(n.result, undefined, "a dry run applies nothing");
      const byKind = (kind: string, action: string) =>
        n.plan!.items.filter((i) => i.kind === kind && i.action === action).length;
      assert.deepEqual([byKind("old-data", "keep"), byKind("old-data", "remove")], [1, 1], n.node);
      assert.deepEqual([byKind("record", "keep"), byKind("record", "remove")], [1, 1], n.node);
      assert.ok(n.plan!.items.every((i) => i.size >= 0 && i.ageSeconds >= 0 && i.reason.length > 0));
    }
    const staging = report.nodes[1]!.plan!.items.find((i) => i.kind === "staging");
    assert.equal(staging?.action, "remove");
    assert.deepEqual(await Promise.all([tree(0), tree(1)]), trees, "nothing changed");
  });

  test("the agent lists the same leftovers on GET and validates the cleanup body", async () => {
    const state = await readState(statePathFor(sb.config));
    assert.ok(state);
    const agent = new AgentClient({ endpoint: `${sb.info.nodes[0]!.host}:7443`, tls: cliTls(state) });
    try {
      const listing = await agent.call(routes.leftovers);
      assert.equal(listing.node, "etcd-node1");
      assert.equal(listing.busy, null);
      assert.equal(listing.pendingRollback, null);
      const report = jsonOf<CleanupReport>(await lifeboat(["restore-cleanup", "--dry-run", "--node", "etcd-node1"]));
      assert.deepEqual(
        listing.entries.map((e) => e.path).sort(),
        report.nodes[0]!.plan!.items.map((i) => i.path).sort(),
      );
      await assert.rejects(agent.call(routes.cleanup, { body: { keep: -1, dryRun: false } }), /keep/);
      // A body the types refuse (no dryRun): the agent must refuse it too.
      await assert.rejects(agent.call(routes.cleanup, { body: { keep: 1 } as never }), /dryRun/);
    } finally {
      agent.close();
    }
  });

  test("a node with a pending rollback record is refused and untouched; the others are cleaned", async () => {
    const rollback = join(restoreDir(1), "rollback.json");
    const record = { stamp: "20200101T000000Z", name: "a", dataDir: join(nodeDir(1), "etcd-data"), swappedAt: "x" };
    await writeFile(rollback, JSON.stringify(record));
    const untouched = await tree(1);
    const [, newest] = await oldDirs(0);
    const run = await lifeboat(["restore-cleanup"], 3);
    assert.match(run.stderr, /warning: etcd-node2: refused, nothing removed: a restore is in progress or awaiting/);
    assert.deepEqual(await tree(1), untouched);
    assert.deepEqual(await oldDirs(0), [newest]);
    const left = await readdir(restoreDir(0));
    assert.ok(!left.includes("a-left-behind"), `extracted snapshot removed: ${left.join(", ")}`);
    assert.equal(left.filter((n) => n.startsWith("restored-")).length, 1);
    assert.ok((await readdir(nodeDir(0))).includes("etcd-data.oldish"), "unrelated names are left alone");

    await rm(rollback);
    const [, newest2] = await oldDirs(1);
    const only = jsonOf<CleanupReport>(await lifeboat(["restore-cleanup", "--node", "etcd-node2"]));
    assert.deepEqual(
      only.nodes.map((n) => n.node),
      ["etcd-node2"],
    );
    assert.equal(only.nodes[0]!.result?.removed.length, 3, JSON.stringify(only.nodes[0]!.result));
    assert.deepEqual(await oldDirs(1), [newest2]);
    assert.ok(!(await readdir(nodeDir(1))).some((n) => n.includes(".restore-")), "stale staging removed");
  });

  test("the cluster is still healthy, keeps its data, and takes snapshots", async () => {
    const health = jsonOf<{ healthy: number }>(await sb.cli(["-o", "json", "etcd", "health", "-c", sb.config]));
    assert.equal(health.healthy, 2);
    assert.equal(await (await sb.etcd(1)).count("/kept/"), 20);
    await lifeboat(["snapshot-save", "--name", "b"]);
    const again = jsonOf<CleanupReport>(await lifeboat(["restore-cleanup", "--keep", "0", "--dry-run"]));
    for (const n of again.nodes) {
      const remove = n.plan!.items.filter((i) => i.action === "remove").map((i) => i.kind);
      assert.deepEqual(remove.sort(), ["old-data", "record"], `--keep 0 would take the last ones: ${n.node}`);
    }
  });

  test("bad flags and unknown node names exit 2 and touch nothing", async () => {
    const trees = await Promise.all([tree(0), tree(1)]);
    await lifeboat(["restore-cleanup", "--keep", "-1"], 2);
    await lifeboat(["restore-cleanup", "--keep", "many"], 2);
    const unknown = await lifeboat(["restore-cleanup", "--node", "etcd-nope"], 2);
    assert.match(
      unknown.stderr,
      /--node etcd-nope: no such etcd node in cluster\.yml \(etcd nodes: etcd-node1, etcd-node2\)/,
    );
    assert.deepEqual(await Promise.all([tree(0), tree(1)]), trees);
  });
});
