/**
 * A restore's hold cancels the recurring save that is running on each node, at whatever point it has reached: here
 * again and again, on external members (production's layout), while the schedule runs every 2 s. A cancel that came
 * while a save was still opening its part file used to throw the stream's abort as an uncaught exception, and the
 * agent stopped (CI saw the operator's-day workflow lose two agents this way). After every hold each agent still
 * runs; afterwards a one-time save succeeds everywhere and no part file is left behind.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { AgentClient } from "../src/agent/client.js";
import { routes } from "../src/api/routes.js";
import { loadClusterConfig, statePathFor } from "../src/config/cluster.js";
import { readState } from "../src/config/state.js";
import { cliTls } from "../src/fleet/open.js";
import { agentRunning } from "../src/sandbox/sandbox.js";
import { jsonOf } from "./helpers/cli.js";
import { startTestSandbox, type TestSandbox } from "./helpers/sandbox.js";

const ROUNDS = 8;

void describe("a restore's hold cancels running recurring saves (external members)", () => {
  let sb: TestSandbox;
  let clients: AgentClient[] = [];
  const snapshotDir = (i: number) => join(sb.info.nodes[i]!.agentDir, "..", "snapshots");
  const cli = (args: string[]) => sb.cli(["-o", "json", ...args, "-c", sb.config]);
  const partFiles = async () =>
    (await Promise.all([0, 1, 2].map(async (i) => readdir(snapshotDir(i)).catch(() => [] as string[]))))
      .flat()
      .filter((f) => f.endsWith(".part"));

  before(async () => {
    sb = await startTestSandbox({ series: "3.5", etcdMode: "external" });
    const tls = cliTls((await readState(statePathFor(sb.config)))!);
    const { config } = await loadClusterConfig(sb.config);
    clients = config.etcdNodes.map((n) => new AgentClient({ endpoint: n.agent.endpoint, tls }));
    const etcd = await sb.etcd(0);
    // Enough data that a save takes a moment, so that holds land in every phase of it.
    for (let i = 0; i < 24; i++) await etcd.put(`/big/${i}`, randomBytes(1 << 20).toString("base64"));
    assert.equal((await cli(["etcd", "snapshot-save", "--name", "base"])).code, 0);
  });
  after(async () => {
    clients.forEach((c) => c.close());
    await sb?.down();
  });

  void test("every hold finds the agents running, then a one-time save succeeds and nothing is left", async () => {
    const push = await cli(["etcd", "schedule", "push", "--interval", "2s", "--jitter", "0s"]);
    assert.equal(push.code, 0, push.stderr);
    let inFlight = 0;
    for (let round = 0; round < ROUNDS; round++) {
      // Wait for a recurring save to be under way on some node, then hold every node at a varying point of it.
      let seen = false;
      for (let i = 0; i < 400 && !seen; i++) {
        seen = (await partFiles()).length > 0;
        if (!seen) await sleep(10);
      }
      if (seen) inFlight++;
      await sleep((round * 37) % 250);
      const session = { session: `restore-cancel${String(round).padStart(4, "0")}`, name: "base" };
      const held = await Promise.allSettled(
        clients.map((c) => c.call(routes.openSession, { body: { ...session, purpose: "restore" } })),
      );
      await sleep(300);
      await Promise.allSettled(clients.map((c) => c.call(routes.releaseSession, { body: session })));
      const running = sb.info.nodes.map((n) => agentRunning(n));
      assert.deepEqual(running, [true, true, true], `round ${round}: every agent runs\n${await sb.agentsReport()}`);
      assert.deepEqual(
        held.map((h) => h.status),
        ["fulfilled", "fulfilled", "fulfilled"],
        `round ${round}: every node took the hold`,
      );
    }
    assert.ok(inFlight >= ROUNDS / 2, `holds landed on running saves in ${inFlight} of ${ROUNDS} rounds`);
    assert.equal((await cli(["etcd", "schedule", "push", "--interval", "1h", "--jitter", "0s"])).code, 0);
    const save = await cli(["etcd", "snapshot-save", "--name", "after-cancels"]);
    assert.equal(save.code, 0, save.stderr);
    assert.deepEqual(
      jsonOf<{ nodes: { ok: boolean }[] }>(save).nodes.map((n) => n.ok),
      [true, true, true],
    );
    assert.deepEqual(await partFiles(), [], "no part file is left");
    let cancelled = 0;
    for (const n of sb.info.nodes) {
      const log = await readFile(join(n.agentDir, "agent.log"), "utf8");
      assert.doesNotMatch(log, /uncaught exception/, `${n.name}'s agent log`);
      cancelled += (log.match(/recurring snapshot cancelled/g) ?? []).length;
    }
    assert.ok(cancelled >= ROUNDS / 2, `running saves were cancelled (${cancelled} times on the three nodes)`);
  });
});
