/**
 * Recurring snapshots on a real 3-member TLS cluster with S3 (the sandbox), with an interval of seconds:
 * RKE-named snapshots on every node, exactly one S3 upload per slot chosen through etcd, retention after each
 * success (expired copies go, other clusters' and one-time copies stay), metrics and snapshot-status; then a
 * stopped member and a dead S3 server: the failed work prunes nothing, and the webhook receives the failures.
 */
import assert from "node:assert/strict";
import { routes } from "../src/api/routes.js";
import { spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { AgentClient } from "../src/agent/client.js";
import { uploadKey, UPLOAD_KEY_PREFIX } from "../src/schedule/election.js";
import { cliTls } from "../src/fleet/open.js";
import type { StatusReport } from "../src/fleet/status.js";
import { buildSchedulePush } from "../src/fleet/schedule.js";
import { loadClusterConfig, statePathFor } from "../src/config/cluster.js";
import { readState } from "../src/config/state.js";
import { formatInstant } from "../src/retention/index.js";
import { isAlive, writeSandbox } from "../src/sandbox/sandbox.js";
import { listCatalog, type CatalogEntry } from "../src/snapshot/catalog.js";
import { parseManifest, serializeManifest, type Manifest } from "../src/snapshot/manifest.js";
import type { Store } from "../src/store/store.js";
import { BIN, jsonOf } from "./helpers/cli.js";
import { operatorOf, startHookServer, type HookServer } from "./helpers/operator.js";
import { sandboxS3, scrapeMetrics, startTestSandbox, waitFor, type TestSandbox } from "./helpers/sandbox.js";

const HOOK_PORT = 8392;
const HOOK_TOKEN = "Bearer hook-secret-5f2c9a";
const SLOT_MS = 4000;
const RKE_RECURRING = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z_etcd$/;

let sb: TestSandbox;
let agents: AgentClient[];
let s3: Store;
let clusterId: string;
let hook: HookServer;
const { editConfig } = operatorOf(() => sb);

async function cli(args: string[]) {
  const run = await sb.cli(["--output", "json", ...args, "--config", sb.config]);
  assert.ok(run.code === 0, `lifeboat ${args.join(" ")} exited ${run.code}:\n${run.stdout}\n${run.stderr}`);
  return run;
}

const push = (interval: string) => cli(["etcd", "schedule", "push", "--interval", interval, "--jitter", "0s"]);

/** Sleeps until `offsetMs` into the current or next slot. */
const intoSlot = (offsetMs: number) => sleep((SLOT_MS + offsetMs - (Date.now() % SLOT_MS)) % SLOT_MS);

/**
 * Pushes the schedule so that it reaches every agent inside one slot: the CLI starts just after a boundary, and the
 * agents' receipt times (`since`) are checked to fall in the same slot; otherwise one node could take a slot the
 * others miss.
 */
async function pushInOneSlot(interval: string) {
  await intoSlot(100);
  const run = await push(interval);
  const since = jsonOf<{ nodes: { since?: string }[] }>(run).nodes.map((n) =>
    Math.floor(Date.parse(n.since!) / SLOT_MS),
  );
  assert.ok(
    since.every((s) => s === since[0]),
    `the push reached the agents in different slots (the CLI took too long): ${run.stdout}`,
  );
  return run;
}

async function catalogOf(i: number): Promise<CatalogEntry[]> {
  return (await agents[i]!.call(routes.listSnapshots)).snapshots;
}

/** Every sample of agent `i`'s /metrics, by series (name and labels as printed). */
const metricsOf = (i: number) => scrapeMetrics(agents[i]!);

/**
 * Stops new runs (the next slot is an hour away) and waits until no node is saving. The schedule is sent to every
 * agent at once, a second into a slot, so that no node starts a run that another, already paused, does not.
 */
async function pause(): Promise<void> {
  const { config } = await loadClusterConfig(sb.config);
  const body = buildSchedulePush(config, await readFile(statePathFor(sb.config)), { interval: "1h", jitter: "0s" });
  await intoSlot(1000);
  await Promise.all(agents.map((a) => a.call(routes.pushSchedule, { body: body })));
  await waitFor("every node idle", async () => {
    const all = await Promise.all(agents.map((a) => a.call(routes.status)));
    return all.every((s) => s.saving === null);
  });
}

/** A copy of the seed snapshot under another name, time, kind and cluster: as if taken long ago. */
async function aged(name: string, createdAt: Date, clusterOf = clusterId): Promise<{ zip: Buffer; manifest: Buffer }> {
  const dir = join(sb.dir, "nodes", "node1", "snapshots");
  const zip = await readFile(join(dir, "seed.zip"));
  const parsed = parseManifest(await readFile(join(dir, "seed.manifest.json"), "utf8"));
  assert.ok(parsed.ok);
  const manifest: Manifest = {
    ...parsed.manifest,
    name,
    kind: "recurring",
    clusterId: clusterOf,
    createdAt: createdAt.toISOString(),
    archive: { ...parsed.manifest.archive, file: `${name}.zip` },
  };
  return { zip, manifest: Buffer.from(serializeManifest(manifest)) };
}

async function plantOnNode(node: number, name: string, createdAt: Date, clusterOf?: string): Promise<void> {
  const copy = await aged(name, createdAt, clusterOf);
  const dir = join(sb.dir, "nodes", `node${node + 1}`, "snapshots");
  await writeFile(join(dir, `${name}.zip`), copy.zip, { mode: 0o600 });
  await writeFile(join(dir, `${name}.manifest.json`), copy.manifest, { mode: 0o600 });
}

async function plantInS3(name: string, createdAt: Date, clusterOf?: string): Promise<void> {
  const copy = await aged(name, createdAt, clusterOf);
  await s3.put(`${name}.zip`, copy.zip);
  await s3.put(`${name}.manifest.json`, copy.manifest);
}

const ago = (ms: number) => new Date(Math.floor((Date.now() - ms) / 1000) * 1000);
const recurringName = (d: Date) => `${formatInstant(d)}_etcd`;

async function s3Names(): Promise<string[]> {
  return (await listCatalog(s3, "s3")).filter((e) => e.status === "ok").map((e) => e.name);
}

before(async () => {
  hook = await startHookServer(HOOK_PORT);
  sb = await startTestSandbox({ nodes: 3 });
  await editConfig((doc) => {
    doc.services!.etcd!.backup_config = { ...(doc.services!.etcd!.backup_config as object), retention: 20 };
    doc.lifeboat!.snapshot = { retries: 0, retry_pause_seconds: 0 };
    doc.lifeboat!.notifications = {
      webhook_url: hook.url,
      headers: { Authorization: HOOK_TOKEN },
    };
  });
  const state = await readState(statePathFor(sb.config));
  assert.ok(state);
  const tls = cliTls(state);
  agents = sb.info.nodes.map((n) => new AgentClient({ endpoint: `${n.host}:7443`, tls }));
  s3 = sandboxS3(sb.info);
  await cli(["etcd", "snapshot-save", "--name", "seed"]);
  const seed = (await catalogOf(0)).find((e) => e.name === "seed");
  assert.ok(seed?.manifest);
  clusterId = seed.manifest.clusterId;
});

after(async () => {
  agents?.forEach((a) => a.close());
  await s3?.close();
  await sb?.down();
  hook?.close();
});

describe("recurring snapshots on a live cluster", { concurrency: false }, () => {
  const expired = recurringName(ago(3_600_000));
  const foreign = recurringName(ago(7_200_000));
  let uploadsPerNode: number[] = [];

  test("every node snapshots on the grid with RKE names; one S3 upload per slot; expired copies pruned", async () => {
    for (let i = 0; i < 3; i++) {
      await plantOnNode(i, expired, ago(3_600_000));
      await plantOnNode(i, foreign, ago(7_200_000), "0badc0ffee");
    }
    await plantInS3(expired, ago(3_600_000));
    await plantInS3(foreign, ago(7_200_000), "0badc0ffee");
    const pushed = jsonOf<{ schedule: string; retention: string; nodes: { ok: boolean }[] }>(
      await pushInOneSlot(`${SLOT_MS / 1000}s`),
    );
    assert.equal(pushed.schedule, "every 4s");
    assert.equal(pushed.retention, "keep 1m20s", "RKE's retention × interval: 20 × 4s");
    assert.ok(pushed.nodes.every((n) => n.ok));
    const mode = (await stat(join(sb.info.nodes[0]!.agentDir, "schedule.json"))).mode & 0o777;
    assert.equal(mode, 0o600, "schedule.json holds S3 credentials");

    const real = (entries: CatalogEntry[]) =>
      entries.filter((e) => e.manifest?.kind === "recurring" && e.name !== expired && e.name !== foreign);
    await waitFor("three recurring snapshots on every node", async () => {
      const all = await Promise.all([0, 1, 2].map(catalogOf));
      return all.every((c) => real(c).length >= 3);
    });
    await pause();

    const catalogs = await Promise.all([0, 1, 2].map(catalogOf));
    const union = new Set<string>();
    catalogs.forEach((c, i) => {
      const mine = real(c);
      for (const e of mine) {
        assert.match(e.name, RKE_RECURRING);
        assert.equal(e.status, "ok");
        assert.equal(e.manifest?.node, `etcd-node${i + 1}`);
        assert.equal(e.manifest?.stateFile.included, true, "the state file is in every recurring archive");
        union.add(e.name);
      }
      const names = c.map((e) => e.name);
      assert.ok(!names.includes(expired), `node${i + 1}: the expired copy was pruned`);
      assert.ok(names.includes(foreign), `node${i + 1}: another cluster's copy is never pruned`);
      assert.ok(names.includes("seed"), `node${i + 1}: one-time snapshots are kept`);
    });
    const nodeNames = catalogs.map((c) =>
      real(c)
        .map((e) => e.name)
        .sort(),
    );
    assert.deepEqual(nodeNames[1], nodeNames[0], "every node snapshots the same slots under the same names");
    assert.deepEqual(nodeNames[2], nodeNames[0]);

    const inS3 = await s3Names();
    assert.ok(!inS3.includes(expired), "the uploader pruned S3 after its verified upload");
    assert.ok(inS3.includes(foreign) && inS3.includes("seed"));
    const uploaded = inS3.filter((n) => union.has(n)).sort();
    assert.deepEqual(uploaded, [...union].sort(), "every slot reached S3");
    uploadsPerNode = await Promise.all(
      [0, 1, 2].map(
        async (i) =>
          (await metricsOf(i)).get('lifeboat_snapshots_total{kind="recurring",location="s3",result="success"}') ?? 0,
      ),
    );
    assert.equal(
      uploadsPerNode.reduce((a, b) => a + b, 0),
      union.size,
      `exactly one upload per slot for the whole cluster (per node: ${uploadsPerNode.join(", ")})`,
    );
    const etcd = await sb.etcd(0);
    assert.equal(await etcd.count(UPLOAD_KEY_PREFIX), union.size, "one election key per slot");
    for (const name of uploaded) {
      const winner = JSON.parse((await etcd.get(uploadKey(new Date(name.replace(/_etcd$/, ""))))) ?? "{}") as {
        node?: string;
      };
      const manifest = (await listCatalog(s3, "s3")).find((e) => e.name === name)?.manifest;
      assert.equal(manifest?.node, winner.node, `${name}: S3 holds the elected node's copy`);
    }
  });

  test("metrics and snapshot-status report the last success on every node and in S3", async () => {
    const catalog = await catalogOf(0);
    const newest = catalog.filter((e) => e.manifest && e.manifest.node === "etcd-node1").at(-1);
    assert.ok(newest?.manifest);
    const m = await metricsOf(0);
    assert.equal(
      m.get('lifeboat_snapshot_last_success_timestamp_seconds{location="local"}'),
      Date.parse(newest.manifest.createdAt) / 1000,
    );
    const since = m.get('lifeboat_snapshot_seconds_since_last_success{location="local"}');
    assert.ok(since !== undefined && since >= 0 && since < 120, `seconds since last success: ${since}`);
    assert.ok((m.get('lifeboat_snapshots_total{kind="recurring",location="local",result="success"}') ?? 0) >= 3);
    assert.ok(
      (m.get('lifeboat_snapshots_total{kind="one-time",location="local",result="success"}') ?? 0) === 1,
      "the seed",
    );
    assert.ok((m.get('lifeboat_prune_removed_total{location="local"}') ?? 0) >= 1);
    assert.ok((m.get("lifeboat_schedule_next_run_timestamp_seconds") ?? 0) > Date.now() / 1000);

    const report = jsonOf<StatusReport>(await cli(["etcd", "snapshot-status"]));
    assert.equal(report.nodes.length, 3);
    for (const n of report.nodes) {
      assert.ok(!("error" in n), JSON.stringify(n));
      assert.equal(n.schedule?.description, "every 1h");
      assert.match(n.lastSuccess?.name ?? "", RKE_RECURRING);
      assert.equal(n.lastFailure, null);
      assert.ok(n.nextRun && Date.parse(n.nextRun.at) > Date.now());
      assert.equal(n.kept.count, (await catalogOf(report.nodes.indexOf(n))).filter((e) => e.status === "ok").length);
    }
    assert.equal(report.s3?.count, (await s3Names()).length);
    assert.match(report.s3?.lastSuccess?.name ?? "", RKE_RECURRING);
  });

  test("a stopped member and a dead S3 server: failures are reported, and nothing they touch is pruned", async () => {
    await agents[2]!.call(routes.stopMember, { timeoutMs: 60_000 });
    const control = recurringName(ago(3_000_000));
    await plantOnNode(0, control, ago(3_000_000));
    await plantOnNode(2, control, ago(3_000_000));
    await plantInS3(control, ago(3_000_000));
    const info = JSON.parse(await readFile(join(sb.dir, "sandbox.json"), "utf8")) as typeof sb.info;
    process.kill(info.s3.pid, "SIGTERM");
    await waitFor("the S3 server to exit", async () => !isAlive(info.s3.pid), 15_000);
    hook.received.length = 0;

    await push(`${SLOT_MS / 1000}s`);
    const failure = await waitFor("node3's failure event", async () =>
      hook.received.find((e) => e.body.type === "snapshot.failed" && e.body.node === "etcd-node3"),
    );
    const uploadFailure = await waitFor("an upload failure event", async () =>
      hook.received.find((e) => e.body.type === "upload.failed"),
    );
    await waitFor(
      "node1 to prune the expired control copy",
      async () => !(await catalogOf(0)).some((e) => e.name === control),
    );
    await pause();

    assert.equal(failure.headers.authorization, HOOK_TOKEN);
    assert.equal(failure.body.kind, "recurring");
    assert.match(failure.body.name ?? "", RKE_RECURRING);
    assert.match(failure.body.reason ?? "", /unreachable|no leader|refused/);
    assert.equal(uploadFailure.body.location, "s3");
    assert.ok(
      (await catalogOf(2)).some((e) => e.name === control),
      "node3 failed: it pruned nothing",
    );

    const s3Pid = restartS3(info);
    info.s3.pid = s3Pid;
    await writeSandbox(info);
    await waitFor("the S3 server to come back", async () => (await s3.check(), true), 20_000);
    assert.ok((await s3Names()).includes(control), "no verified upload: S3 was not pruned");

    const m = await metricsOf(2);
    assert.ok((m.get('lifeboat_snapshots_total{kind="recurring",location="local",result="failure"}') ?? 0) >= 1);
    assert.ok(
      (m.get('lifeboat_snapshot_last_failure_timestamp_seconds{location="local"}') ?? 0) * 1000 > Date.now() - 120_000,
    );
    assert.ok(
      m.has('lifeboat_snapshot_last_success_timestamp_seconds{location="local"}'),
      "the last success is still reported",
    );
    const report = jsonOf<StatusReport>(await cli(["etcd", "snapshot-status"]));
    const node3 = report.nodes.find((n) => n.node === "etcd-node3");
    assert.ok(node3 && !("error" in node3));
    assert.match(node3.lastFailure?.reason ?? "", /unreachable|no leader|refused/);
    assert.ok(report.s3?.lastFailure, "S3's last failure: the failed upload");

    for (const n of sb.info.nodes) {
      const log = await readFile(join(n.agentDir, "agent.log"), "utf8");
      assert.ok(!log.includes(HOOK_TOKEN.slice(7)), `${n.name}: the webhook header never reaches a log`);
    }
  });
});

/** Starts the sandbox's S3 server again on the same address and data, as a detached child the sandbox will stop. */
function restartS3(info: TestSandbox["info"]): number {
  const url = new URL(info.s3.endpoint);
  const fd = openSync(join(sb.dir, "s3.log"), "a", 0o600);
  try {
    const args = ["sandbox", "s3-server", "--host", url.hostname, "--port", url.port, "--data", join(sb.dir, "s3")];
    const child = spawn(process.execPath, [BIN, ...args], { detached: true, stdio: ["ignore", fd, fd] });
    child.unref();
    assert.ok(child.pid);
    return child.pid;
  } finally {
    closeSync(fd);
  }
}
