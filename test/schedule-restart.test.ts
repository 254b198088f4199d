/**
 * A schedule survives an agent restart and a slot missed while the agent was down is caught up, once, at start-up
 * (RKE restarts its timer instead, and the first snapshot then comes a full interval later). Uses RKE's legacy
 * `creation`/`retention` keys with an interval of seconds, on a one-member sandbox.
 */
import assert from "node:assert/strict";
import { routes } from "../src/api/routes.js";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { AgentClient } from "../src/agent/client.js";
import { cliTls } from "../src/fleet/open.js";
import { statePathFor } from "../src/config/cluster.js";
import { readState } from "../src/config/state.js";
import { isAlive } from "../src/sandbox/sandbox.js";
import { jsonOf } from "./helpers/cli.js";
import { startTestSandbox, waitFor, type TestSandbox } from "./helpers/sandbox.js";

const SLOT_MS = 5000;
const RKE_RECURRING = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z_etcd$/;

let sb: TestSandbox;
let agent: AgentClient;

const recurring = async () =>
  (await agent.call(routes.listSnapshots)).snapshots.filter((e) => e.manifest?.kind === "recurring");

before(async () => {
  sb = await startTestSandbox({ nodes: 1 });
  const doc = parseYaml(await readFile(sb.config, "utf8")) as {
    services: { etcd: Record<string, unknown> };
    lifeboat: Record<string, unknown>;
  };
  delete doc.services.etcd.backup_config;
  doc.services.etcd.creation = `${SLOT_MS / 1000}s`;
  doc.services.etcd.retention = "1h";
  doc.lifeboat.snapshot = { retries: 20, retry_pause_seconds: 1 };
  await writeFile(sb.config, stringifyYaml(doc), { mode: 0o600 });
  const state = await readState(statePathFor(sb.config));
  assert.ok(state);
  agent = new AgentClient({ endpoint: `${sb.info.nodes[0]!.host}:7443`, tls: cliTls(state) });
});

after(async () => {
  agent?.close();
  await sb?.down();
});

test("the schedule survives an agent restart, and the missed slot is caught up once at start-up", async () => {
  const push = await sb.cli(["--output", "json", "etcd", "schedule", "push", "--jitter", "0s", "--config", sb.config]);
  assert.equal(push.code, 0, push.stderr);
  const pushed = jsonOf<{ schedule: string; retention: string; s3: string | null; nodes: { since: string }[] }>(push);
  assert.deepEqual([pushed.schedule, pushed.retention, pushed.s3], ["every 5s", "keep 1h", null], "RKE's legacy keys");
  const since = pushed.nodes[0]!.since;

  const first = await waitFor("the first recurring snapshot", async () => (await recurring())[0]);
  assert.match(first.name, RKE_RECURRING);
  assert.equal(Date.parse(first.name.replace(/_etcd$/, "")) % SLOT_MS, 0, "on the grid");

  const node = sb.info.nodes[0]!;
  process.kill(node.pid, "SIGTERM");
  await waitFor("the agent to exit", async () => !isAlive(node.pid), 30_000);
  const lastBefore = (await readdirNames(node))
    .filter((n) => RKE_RECURRING.test(n))
    .sort()
    .at(-1);
  assert.ok(lastBefore);
  // Down for two whole slots and a bit: RKE would now wait a full interval; Lifeboat owes one run.
  await sleep(2 * SLOT_MS + 1500);
  const restartedAt = Date.now();
  await sb.startAgent(0);

  const view = await waitFor("the restarted agent", () => agent.call(routes.schedule));
  assert.equal(view.schedule?.description, "every 5s", "the schedule came back from schedule.json");
  assert.equal(view.since, since, "and its timer was not reset");

  // The first run recorded after the restart that is the catch-up or a success: a catch-up that did not succeed, or
  // a later run that replaced it before a poll saw it, fails the test here, saying which.
  const caughtUp = await sb.waitFor("the catch-up run", async () => {
    const run = (await agent.call(routes.status)).lastRun;
    return run && Date.parse(run.startedAt) >= restartedAt && (run.catchUp || run.result === "success")
      ? run
      : undefined;
  });
  assert.ok(
    caughtUp.catchUp && caughtUp.result === "success",
    `${JSON.stringify(caughtUp)}\n${await sb.agentsReport()}`,
  );
  assert.match(caughtUp.name, RKE_RECURRING);
  assert.ok(Date.parse(caughtUp.startedAt) >= restartedAt, "taken after the restart");
  const missedSlot = Date.parse(caughtUp.slot ?? "");
  const started = Date.parse(caughtUp.startedAt);
  assert.ok(missedSlot > Date.parse(lastBefore.replace(/_etcd$/, "")), "for a slot missed while down");
  assert.ok(missedSlot <= started && missedSlot > started - SLOT_MS, "the latest one");
  assert.ok((await recurring()).some((e) => e.name === caughtUp.name && e.status === "ok"));

  const next = await sb.waitFor("the next run on the grid", async () => {
    const s = await agent.call(routes.status);
    return s.lastRun && !s.lastRun.catchUp && s.lastRun.result === "success" ? s.lastRun : undefined;
  });
  const sinceRestart = (await recurring()).filter((e) => Date.parse(e.manifest!.createdAt) >= restartedAt);
  assert.deepEqual(
    sinceRestart.map((e) => e.name).sort(),
    [caughtUp.name, next.name].sort(),
    "one catch-up for the missed slots, then back on the grid",
  );
  assert.equal(Date.parse(next.name.replace(/_etcd$/, "")) % SLOT_MS, 0);
});

async function readdirNames(node: TestSandbox["info"]["nodes"][number]): Promise<string[]> {
  const files = await readdir(join(node.agentDir, "..", "snapshots"));
  return files.filter((f) => f.endsWith(".zip")).map((f) => f.slice(0, -4));
}
