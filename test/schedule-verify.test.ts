/**
 * The scheduled verify on a real 3-member sandbox with S3 and a webhook (`lifeboat.schedule.verify`): with
 * `every: 3s`, one elected node restores the newest S3 snapshot into a throwaway etcd and records a pass (history,
 * etcd's /lifeboat/verify/last, snapshot-status, metrics, webhook), leaving no file behind; when that snapshot is
 * broken on the S3 server's disk behind Lifeboat's back, the next verify records a failure: snapshot-status exits 6
 * naming one node, the verify-failed metric is 1 there and 0 elsewhere, the webhook gets verify.failed, and the
 * cluster is untouched. A new good snapshot clears all three. A snapshot-verify and a snapshot-save asked for while
 * verifies run both succeed (the scheduled verify gives way, holds no flight); `after_snapshots` verifies recurring
 * snapshots from the uploader; taking `verify` out of cluster.yml stops the verifies.
 */
import assert from "node:assert/strict";
import { open, readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { parse as parseYaml } from "yaml";
import { AgentClient } from "../src/agent/client.js";
import { statePathFor } from "../src/config/cluster.js";
import { readState } from "../src/config/state.js";
import { cliTls } from "../src/fleet/open.js";
import { LAST_VERIFY_KEY } from "../src/schedule/verify.js";
import type { NotifyEvent } from "../src/telemetry/notify.js";
import { ExitCode, InsufficientSpaceError } from "../src/util/errors.js";
import { ensureFreeSpace } from "../src/util/fs.js";
import { jsonOf } from "./helpers/cli.js";
import { operatorOf, startHookServer, type HookServer } from "./helpers/operator.js";
import { scrapeMetrics, startTestSandbox, waitFor, type TestSandbox } from "./helpers/sandbox.js";

const HOOK_PORT = 8395;
const SECRET = "scheduled-verify-known-value-7f3a";

let sb: TestSandbox;
let agents: AgentClient[];
let restoreDirs: string[];
let hook: HookServer;
const { lifeboat, ok, editConfig, status } = operatorOf(() => sb);
async function setVerify(verify: Record<string, unknown>): Promise<void> {
  await editConfig((doc) => {
    doc.lifeboat!.schedule = { interval: "24h", stale_after: "48h", verify };
  });
  await ok(["etcd", "schedule", "push", "--jitter", "0s"]);
}
const lastVerify = async () => (await status()).report.scheduledVerify?.last ?? undefined;
const events = (type: NotifyEvent["type"]) => hook.received.map((e) => e.body).filter((e) => e.type === type);
const metric = async (i: number, series: string) => (await scrapeMetrics(agents[i]!)).get(series);
const verifiesOn = async (i: number) =>
  ((await metric(i, 'lifeboat_snapshot_verifies_total{result="success"}')) ?? 0) +
  ((await metric(i, 'lifeboat_snapshot_verifies_total{result="failure"}')) ?? 0);

/** What a verify may leave in a restore folder: nothing (a folder made empty is fine). */
async function leftovers(): Promise<string[]> {
  const out: string[] = [];
  for (const dir of restoreDirs) {
    for (const entry of await readdir(dir, { recursive: true }).catch(() => [] as string[])) {
      const path = join(dir, entry);
      if ((await stat(path)).isFile()) out.push(path);
    }
  }
  return out;
}

/** Flips bytes in the middle of the object s3rver stores for `key`, keeping its size: a listing still sees it. */
async function corruptOnS3Disk(key: string): Promise<void> {
  const path = join(sb.dir, "s3", "lifeboat", "sandbox", `${key}._S3rver_object`);
  const size = (await stat(path)).size;
  const file = await open(path, "r+");
  try {
    const at = Math.floor(size / 2);
    const buf = Buffer.alloc(64);
    await file.read(buf, 0, buf.length, at);
    for (let i = 0; i < buf.length; i++) buf[i] = buf[i]! ^ 0xff;
    await file.write(buf, 0, buf.length, at);
  } finally {
    await file.close();
  }
}

before(async () => {
  hook = await startHookServer(HOOK_PORT);
  sb = await startTestSandbox({ nodes: 3 });
  await editConfig((doc) => {
    doc.lifeboat!.snapshot = { retries: 0, retry_pause_seconds: 0 };
    // Recurring snapshots once a day (the next at midnight UTC): the verifies below see the one-time snapshots.
    doc.lifeboat!.schedule = { interval: "24h", stale_after: "48h", verify: { every: "3s" } };
    doc.lifeboat!.notifications = { webhook_url: hook.url, on_success: true };
  });
  const doc = parseYaml(await readFile(sb.config, "utf8")) as { nodes: { lifeboat: { restore_dir: string } }[] };
  restoreDirs = doc.nodes.map((n) => n.lifeboat.restore_dir);
  const state = await readState(statePathFor(sb.config));
  assert.ok(state);
  agents = sb.info.nodes.map((n) => new AgentClient({ endpoint: `${n.host}:7443`, tls: cliTls(state) }));
  const etcd = await sb.etcd(0);
  for (let i = 0; i < 20; i++) await etcd.put(`/registry/secrets/default/s${i}`, `${SECRET}-${i}`);
  await ok(["etcd", "snapshot-save", "--name", "seed"]);
});

after(async () => {
  agents?.forEach((a) => a.close());
  await sb?.down();
  hook?.close();
});

describe("free space", () => {
  test("a verify that needs more than the disk has is refused, naming both numbers", async () => {
    await assert.rejects(ensureFreeSpace(sb.dir, 2 ** 60, "a verify of seed"), (err: unknown) => {
      assert.ok(err instanceof InsufficientSpaceError);
      assert.match(err.message, /^a verify of seed needs \d+ MiB in .+, which has \d+ MiB free$/);
      return true;
    });
    await ensureFreeSpace(sb.dir, 1, "one byte");
  });
});

describe("the scheduled verify, on a live cluster", { concurrency: false }, () => {
  test("every 3s one elected node verifies the newest S3 snapshot and records a pass", async () => {
    const push = await ok(["etcd", "schedule", "push", "--jitter", "0s"]);
    assert.match(push.stdout, /Scheduled verify: the newest snapshot is restored into a throwaway etcd every 3s/);
    const last = await waitFor("a scheduled verify of seed", async () => {
      const v = await lastVerify();
      return v?.name === "seed" && v.result === "success" ? v : undefined;
    });
    assert.equal(last.location, "s3");
    assert.equal(last.kind, "recurring");
    assert.ok((last.keys ?? 0) >= 20, `${last.keys} keys`);
    const { code, report, run: text } = await status();
    assert.equal(code, ExitCode.ok, text.stdout);
    assert.deepEqual(report.verifyFailed, []);
    assert.ok(report.scheduledVerify?.next, "the next verify is planned");
    const human = await ok(["etcd", "snapshot-status"]);
    // A later slot may have run on another node by now: the line names whichever node ran the last one.
    assert.match(
      human.stdout,
      /Scheduled verify: last \S+ seed from s3 on etcd-node\d: passed \(revision \d+, \d+ keys\)/,
    );
    // Recorded by the node that ran it, in its history and in etcd for every node.
    const verifier = report.nodes.find((n) => n.node === last.node);
    assert.ok(verifier && !("error" in verifier));
    assert.equal(verifier.lastVerify?.kind, "recurring");
    const etcd = await sb.etcd(1);
    const stored = JSON.parse((await etcd.get(LAST_VERIFY_KEY)) ?? "{}") as { node?: string; result?: string };
    assert.ok(stored.node && stored.result, "etcd holds the cluster's last scheduled verify");
    await waitFor("verify.succeeded at the webhook", async () => events("verify.succeeded").length > 0);
    assert.equal(events("verify.succeeded")[0]?.location, "s3");
    for (let i = 0; i < 3; i++) assert.equal(await metric(i, "lifeboat_snapshot_verify_failed"), 0);
  });

  test("one node per slot: the verifies of a few slots are spread over the nodes, each slot run once", async () => {
    const before = await Promise.all([0, 1, 2].map(verifiesOn));
    await sleep(10_000);
    const after = await Promise.all([0, 1, 2].map(verifiesOn));
    const runs = after.reduce((a, b) => a + b, 0) - before.reduce((a, b) => a + b, 0);
    // 10 s of 3 s slots: 3 or 4 slots, each verified by exactly one node (a second node would double the count).
    assert.ok(runs >= 2 && runs <= 4, `${runs} verifies in 10 s of 3 s slots`);
  });

  test("a snapshot-verify and a snapshot-save asked for meanwhile succeed: the scheduled verify gives way", async () => {
    for (let i = 0; i < 3; i++) {
      const run = jsonOf<{ ok: boolean }>(await ok(["--output", "json", "etcd", "snapshot-verify", "--name", "seed"]));
      assert.equal(run.ok, true);
    }
    await ok(["etcd", "snapshot-save", "--name", "during-verifies"]);
    await waitFor("a scheduled verify of during-verifies", async () => {
      const v = await lastVerify();
      return v?.name === "during-verifies" && v.result === "success";
    });
  });

  test("a snapshot broken on the S3 server's disk: the next verify fails (exit 6, metric, webhook), cluster untouched", async () => {
    const newest = "during-verifies";
    await corruptOnS3Disk(`${newest}.zip`);
    const failed = await waitFor("a failed scheduled verify", async () => {
      const v = await lastVerify();
      return v?.name === newest && v.result === "failure" ? v : undefined;
    });
    assert.match(failed.reason ?? "", /sha256/);
    // Slots every 3 s would go on failing on whichever node wins them: one slot an hour freezes the picture.
    // A verify already going when the push lands still finishes (a few seconds at most here).
    await setVerify({ every: "1h" });
    await sleep(5000);
    const { code, report, run: text } = await status();
    assert.equal(code, ExitCode.stale, text.stdout);
    const last = report.scheduledVerify?.last;
    assert.ok(last?.result === "failure", JSON.stringify(last));
    const failedNode: string = last.node;
    assert.deepEqual(report.verifyFailed, [failedNode], "reported once, by the node that ran the last one");
    const human = await lifeboat(["etcd", "snapshot-status"]);
    assert.equal(human.code, ExitCode.stale);
    assert.match(human.stdout, new RegExp(`${failedNode}: the last scheduled verify FAILED: .* ${newest}: .*sha256`));
    for (let i = 0; i < 3; i++) {
      const expected = sb.info.nodes[i]!.name === failedNode ? 1 : 0;
      assert.equal(await metric(i, "lifeboat_snapshot_verify_failed"), expected, sb.info.nodes[i]!.name);
    }
    const hooked = await waitFor("verify.failed at the webhook", async () => events("verify.failed")[0]);
    assert.equal(hooked.name, newest);
    assert.match(hooked.reason ?? "", /sha256/);
    // The cluster is untouched and no secret reached the webhook. (Verifies keep running every 3 s here, so what
    // they leave behind is checked once they are stopped, in the last test.)
    const etcd = await sb.etcd(2);
    assert.equal(await etcd.get("/registry/secrets/default/s7"), `${SECRET}-7`);
    assert.ok(!JSON.stringify(hook.received).includes(SECRET));
  });

  test("a new good snapshot clears the failure: exit 0, metric 0 everywhere", async () => {
    await setVerify({ every: "3s" });
    await ok(["etcd", "snapshot-save", "--name", "fixed"]);
    await waitFor("a scheduled verify of fixed", async () => {
      const v = await lastVerify();
      return v?.name === "fixed" && v.result === "success";
    });
    const { code, report, run: text } = await status();
    assert.equal(code, ExitCode.ok, text.stdout);
    assert.deepEqual(report.verifyFailed, []);
    for (let i = 0; i < 3; i++) assert.equal(await metric(i, "lifeboat_snapshot_verify_failed"), 0);
  });

  test("after_snapshots: the uploader verifies every 2nd recurring snapshot", async () => {
    await editConfig((doc) => {
      doc.lifeboat!.schedule = { interval: "24h", stale_after: "48h", verify: { after_snapshots: 2 } };
    });
    const push = await ok(["etcd", "schedule", "push", "--interval", "2s", "--jitter", "0s"]);
    assert.match(push.stdout, /after every 2 recurring snapshots/);
    const v = await waitFor("a scheduled verify of a recurring snapshot", async () => {
      const last = await lastVerify();
      return last && /_etcd$/.test(last.name) ? last : undefined;
    });
    assert.equal(v.result, "success", v.reason);
    const { report } = await status();
    assert.equal(report.scheduledVerify?.next, null, "no timer: verifies follow the snapshots");
  });

  test("without verify in cluster.yml, a push stops the verifies", async () => {
    await editConfig((doc) => {
      doc.lifeboat!.schedule = { interval: "24h", stale_after: "48h" };
    });
    await ok(["etcd", "schedule", "push", "--jitter", "0s"]);
    await sleep(1000);
    const before = (await lastVerify())?.finishedAt;
    await sleep(7000);
    assert.equal((await lastVerify())?.finishedAt, before);
    assert.equal((await status()).report.scheduledVerify?.next ?? null, null);
    assert.deepEqual(await leftovers(), []);
  });
});
