/**
 * The etcd tools on a node must match its member: an agent whose tools_dir holds etcd 3.4's tools in front of an
 * etcd 3.5 member (external mode: the member runs outside the agent) is refused in the restore plan, exit 2, with
 * that node, both versions and the fix named, and no member stopped.
 */
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { findEtcdTools } from "../src/etcd/binaries.js";
import { jsonOf } from "./helpers/cli.js";
import { restartAgent } from "./helpers/restore-suite.js";
import { startTestSandbox, type TestSandbox } from "./helpers/sandbox.js";

interface Health {
  nodes: { node: string; ok: boolean; clusterId?: string; version?: string }[];
  healthy: number;
}

void describe("restore refuses etcd tools of another minor series than the member", () => {
  let sb: TestSandbox;
  const health = async () => jsonOf<Health>(await sb.cli(["-o", "json", "etcd", "health", "-c", sb.config]));

  before(async () => {
    sb = await startTestSandbox({ nodes: 2, series: "3.5", etcdMode: "external" });
    const save = await sb.cli(["etcd", "snapshot-save", "-c", sb.config, "--name", "snap1"]);
    assert.equal(save.code, 0, save.stderr);
    const v34 = await findEtcdTools({ series: "3.4", developerCache: true });
    const agentJson = join(sb.info.nodes[1]!.agentDir, "agent.json");
    const cfg = JSON.parse(await readFile(agentJson, "utf8")) as { etcd: { toolsDir?: string } };
    cfg.etcd.toolsDir = v34.dir;
    await writeFile(agentJson, JSON.stringify(cfg));
    await restartAgent(sb, 1);
  });
  after(() => sb?.down());

  test("etcdctl 3.4 in front of an etcd 3.5 member: refused in the plan, the node named, nothing stopped", async () => {
    const etcd = await sb.etcd(0);
    await etcd.put("/marker", "still-here");
    const before = await health();
    assert.equal(before.healthy, 2);
    const run = await sb.cli(["etcd", "snapshot-restore", "-c", sb.config, "--name", "snap1", "--yes"]);
    assert.equal(run.code, 2, `${run.stdout}\n${run.stderr}`);
    assert.match(
      run.stderr,
      /etcd-node2: its etcd tools are etcdctl 3\.4\.\d+ but its member runs etcd 3\.5\.\d+; point that node's lifeboat\.etcd\.tools_dir at etcd 3\.5 tools/,
    );
    assert.doesNotMatch(run.stderr, /etcd-node1: its etcd tools/, "the node whose tools match is not named");
    assert.doesNotMatch(run.stdout + run.stderr, /\[restore\] hold/, "refused before any node was held");
    const after = await health();
    assert.equal(after.healthy, 2, JSON.stringify(after));
    assert.deepEqual(
      after.nodes.map((n) => n.clusterId),
      before.nodes.map((n) => n.clusterId),
    );
    assert.equal(await etcd.get("/marker"), "still-here");
  });
});
