/**
 * "Never silently stale" on a real 3-member sandbox with S3 and a webhook: with recurring snapshots every 3s and
 * stale_after 12s, snapshot-status exits 0 and every agent's stale metric is 0; turning snapshots off
 * (`services.etcd.snapshot: false`) makes snapshot-status exit 6 naming every node and S3 after the threshold, flips
 * the metric to 1 and posts one location.stale per node; turning them on again recovers both, with one
 * location.recovered per node. A snapshot-verify is recorded as the node's last verified restore, and every metric the
 * shipped alerting rules and dashboard name is served by the agents.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { AgentClient } from "../src/agent/client.js";
import { statePathFor } from "../src/config/cluster.js";
import { readState } from "../src/config/state.js";
import { cliTls } from "../src/fleet/open.js";
import type { NotifyEvent } from "../src/telemetry/notify.js";
import { ExitCode } from "../src/util/errors.js";
import { jsonOf } from "./helpers/cli.js";
import { operatorOf, startHookServer, type HookServer } from "./helpers/operator.js";
import { allExpressions, lifeboatMetrics } from "./helpers/monitoring.js";
import { scrapeMetrics, startTestSandbox, waitFor, type TestSandbox } from "./helpers/sandbox.js";

const HOOK_PORT = 8394;
const STALE_AFTER_MS = 12_000;
const NODES = ["etcd-node1", "etcd-node2", "etcd-node3"];

let sb: TestSandbox;
let agents: AgentClient[];
let hook: HookServer;
const { lifeboat, ok, editConfig, status } = operatorOf(() => sb);
const pushEvery3s = () => ok(["etcd", "schedule", "push", "--interval", "3s", "--jitter", "0s"]);
const setSnapshots = (on: boolean) =>
  editConfig((doc) => {
    doc.services!.etcd!.snapshot = on;
  });

/** Every sample of agent `i`'s /metrics, by series (name and labels as printed). */
const metricsOf = (i: number) => scrapeMetrics(agents[i]!);
const staleMetric = async (i: number) => (await metricsOf(i)).get('lifeboat_snapshot_stale{location="local"}');
const located = (type: NotifyEvent["type"]) => hook.received.map((e) => e.body).filter((e) => e.type === type);

before(async () => {
  hook = await startHookServer(HOOK_PORT);
  sb = await startTestSandbox({ nodes: 3 });
  await editConfig((doc) => {
    doc.lifeboat!.snapshot = { retries: 0, retry_pause_seconds: 0 };
    doc.lifeboat!.schedule = { stale_after: `${STALE_AFTER_MS / 1000}s` };
    doc.lifeboat!.notifications = { webhook_url: hook.url };
  });
  const state = await readState(statePathFor(sb.config));
  assert.ok(state);
  agents = sb.info.nodes.map((n) => new AgentClient({ endpoint: `${n.host}:7443`, tls: cliTls(state) }));
  await ok(["etcd", "snapshot-save", "--name", "seed"]);
});

after(async () => {
  agents?.forEach((a) => a.close());
  await sb?.down();
  hook?.close();
});

describe("never silently stale, on a live cluster", { concurrency: false }, () => {
  test("with the schedule running: snapshot-status exits 0, every node fresh, the stale metric 0", async () => {
    await pushEvery3s();
    await waitFor("a recurring snapshot on every node and in S3", async () => {
      const { report } = await status();
      return (
        report.nodes.every((n) => !("error" in n) && n.lastSuccess?.kind === "recurring") &&
        /_etcd$/.test(report.s3?.lastSuccess?.name ?? "")
      );
    });
    const { code, report } = await status();
    assert.equal(code, ExitCode.ok, JSON.stringify(report.stale));
    assert.deepEqual([report.stale, report.verifyFailed], [[], []]);
    for (const n of report.nodes) {
      assert.ok(!("error" in n));
      assert.equal(n.freshness.state, "fresh", n.node);
      assert.equal(n.freshness.staleAfterMs, STALE_AFTER_MS);
    }
    assert.equal(report.s3?.freshness.state, "fresh");
    for (let i = 0; i < 3; i++) {
      const m = await metricsOf(i);
      assert.equal(m.get('lifeboat_snapshot_stale{location="local"}'), 0, NODES[i]);
      assert.equal(m.get("lifeboat_snapshot_stale_after_seconds"), STALE_AFTER_MS / 1000);
      assert.equal(m.get("lifeboat_snapshot_verify_failed"), 0);
    }
    assert.deepEqual(located("location.stale"), []);
  });

  test("snapshot-verify is the node's last verified restore; every metric of the rules and dashboard is served", async () => {
    const verify = jsonOf<{ ok: boolean }>(await ok(["--output", "json", "etcd", "snapshot-verify", "--name", "seed"]));
    assert.equal(verify.ok, true);
    const { report } = await status();
    const verified = report.nodes.filter((n) => !("error" in n) && n.lastVerifiedRestore?.name === "seed");
    assert.equal(verified.length, 1, "recorded on the node that ran it");
    const node = verified[0]!;
    assert.ok(!("error" in node));
    assert.equal(node.lastVerify?.result, "success");
    assert.equal(node.lastVerify?.kind, "one-time");
    assert.equal(node.verifyFailed, false);
    const text = await ok(["etcd", "snapshot-status"]);
    assert.match(text.stdout, new RegExp(`^${node.node} .* ${node.lastVerifiedRestore?.finishedAt} seed `, "m"));

    const served = new Map<string, number>();
    for (let i = 0; i < 3; i++) for (const [series, v] of await metricsOf(i)) served.set(series, v);
    const names = new Set([...served.keys()].map((s) => s.replace(/\{.*$/, "")));
    const index = NODES.indexOf(node.node);
    const at = (await metricsOf(index)).get("lifeboat_snapshot_last_verified_restore_timestamp_seconds");
    assert.equal(at, Date.parse(node.lastVerifiedRestore?.finishedAt ?? "") / 1000);
    for (const { where, expr } of await allExpressions()) {
      for (const metric of lifeboatMetrics(expr)) assert.ok(names.has(metric), `${where}: ${metric} is not served`);
    }
    assert.ok(served.has('lifeboat_snapshot_last_success_timestamp_seconds{location="s3"}'), "the uploader's");
  });

  test("snapshots off: after stale_after, exit 6 naming every location, the metric 1, one webhook per node", async () => {
    await setSnapshots(false);
    const pushed = jsonOf<{ schedule: string | null }>(await ok(["--output", "json", "etcd", "schedule", "push"]));
    assert.equal(pushed.schedule, null, "the schedule is removed");
    await waitFor(
      "a location.stale event from every node",
      async () => located("location.stale").length >= 3,
      STALE_AFTER_MS + 30_000,
    );
    const { code, report } = await status();
    assert.equal(code, ExitCode.stale);
    assert.equal(code, 6);
    assert.deepEqual(report.stale, [...NODES, "s3"]);
    const text = await lifeboat(["etcd", "snapshot-status"]);
    assert.equal(text.code, 6);
    for (const location of [...NODES, "s3"]) {
      assert.match(text.stdout, new RegExp(`^  ${location}: STALE: the newest good snapshot .* stale_after 12s$`, "m"));
    }
    for (let i = 0; i < 3; i++) assert.equal(await staleMetric(i), 1, NODES[i]);
    await sleep(3000);
    await status();
    const stale = located("location.stale");
    assert.deepEqual(stale.map((e) => e.node).sort(), NODES, "once per node, however often it is checked");
    for (const e of stale) {
      assert.equal(e.location, "local");
      assert.equal(e.staleAfterMs, STALE_AFTER_MS);
      assert.ok(e.newestGood && Date.now() - Date.parse(e.newestGood) > STALE_AFTER_MS);
    }
    assert.deepEqual(located("location.recovered"), []);
  });

  test("snapshots on again: exit 0, the metric 0, one location.recovered per node", async () => {
    await setSnapshots(true);
    await pushEvery3s();
    await waitFor("a location.recovered event from every node", async () => located("location.recovered").length >= 3);
    await waitFor("snapshot-status to exit 0", async () => (await status()).code === ExitCode.ok);
    const { report } = await status();
    assert.deepEqual(report.stale, []);
    for (let i = 0; i < 3; i++) assert.equal(await staleMetric(i), 0, NODES[i]);
    await sleep(3000);
    assert.deepEqual(
      located("location.recovered")
        .map((e) => e.node)
        .sort(),
      NODES,
    );
    assert.equal(located("location.stale").length, 3, "no new stale event");
    await ok(["etcd", "schedule", "push", "--interval", "1h", "--jitter", "0s"]);
  });
});
