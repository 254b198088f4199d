/** The executor (src/restore/apply.ts) against fake nodes: stop order, no rollback while a node still applies. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { rebuildCluster, waitHealthy } from "../src/restore/apply.js";
import { fakePlan, FakeNode, fakeTime, MEMBERS, OLD_ID, SHA } from "./helpers/restore-fakes.js";

const plan = fakePlan;

test("executor: stops in the plan's order and rolls back only after every apply has settled", async () => {
  const log: string[] = [];
  const nodes = MEMBERS.map((m) => new FakeNode(m.name, log, m.name === "etcd-a" ? { fails: ["apply"] } : {}));
  const slow = nodes[2]!.node();
  const applied = slow.apply.bind(slow);
  slow.apply = async (req) => {
    await new Promise((r) => setTimeout(r, 20));
    log.push("etcd-c:applied");
    return applied(req);
  };
  const time = fakeTime();
  const deps = { nodes: [nodes[0]!.node(), nodes[1]!.node(), slow], phase: () => {}, healthTimeoutMs: 1000, ...time };
  await assert.rejects(rebuildCluster(plan("etcd-c"), SHA, deps), /etcd-a: apply failed/);
  assert.deepEqual(
    log.filter((l) => l.endsWith(":stop")),
    ["etcd-c:stop", "etcd-a:stop", "etcd-b:stop"],
  );
  assert.ok(log.indexOf("etcd-c:applied") < log.indexOf("etcd-a:rollback"), "no rollback while a node swaps");
});

test("executor: a cluster still on the old cluster ID is not the restored one", async () => {
  const nodes = MEMBERS.map((m) => new FakeNode(m.name, []).node());
  const time = fakeTime();
  const wait = waitHealthy(nodes, {
    minRevision: 0,
    notClusterId: OLD_ID,
    deadline: time.now() + 2000,
    timeoutMs: 2000,
    ...time,
  });
  await assert.rejects(wait, new RegExp(`cluster ID ${OLD_ID} is still the old one`));
});
