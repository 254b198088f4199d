/**
 * What `lifeboat etcd schedule push` sends, from real cluster.yml text: RKE's interval and retention rules (backup_config
 * and the legacy keys), Lifeboat's cron, `--interval`, `snapshot: false`, S3 and webhook settings.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ScheduleSpec } from "../src/schedule/spec.js";
import { buildSchedulePush, clusterRetention } from "../src/fleet/schedule.js";
import { parseClusterConfig } from "../src/config/cluster.js";
import { UserError } from "../src/util/errors.js";

const HOUR = 3_600_000;

function config(etcd: string, lifeboat = ""): ReturnType<typeof parseClusterConfig>["config"] {
  const text = `nodes:
  - address: 10.0.0.1
    role: [etcd]
services:
  etcd:
${etcd
  .split("\n")
  .map((l) => `    ${l}`)
  .join("\n")}
${lifeboat}`;
  return parseClusterConfig(text, "cluster.yml").config;
}

describe("the pushed schedule", () => {
  it("follows backup_config: interval_hours, and a window of retention × interval_hours", () => {
    const push = buildSchedulePush(
      config("backup_config:\n  interval_hours: 6\n  retention: 4"),
      Buffer.from("state"),
      {},
    );
    assert.deepEqual(push.schedule?.every, { type: "interval", ms: 6 * HOUR });
    assert.deepEqual(push.schedule?.retention, { type: "window", windowMs: 24 * HOUR });
    assert.equal(push.schedule?.stateFile, Buffer.from("state").toString("base64"));
    assert.equal(push.schedule?.s3, undefined);
    assert.equal(push.schedule?.jitterMs, 5000);
    assert.equal(ScheduleSpec.safeParse(push.schedule).success, true, "the agent accepts it");
  });

  it("follows RKE's legacy creation and retention durations, which may be seconds", () => {
    const push = buildSchedulePush(config('creation: "30s"\nretention: "2h"'), undefined, {});
    assert.deepEqual(push.schedule?.every, { type: "interval", ms: 30_000 });
    assert.deepEqual(push.schedule?.retention, { type: "window", windowMs: 2 * HOUR });
    assert.equal(push.schedule?.stateFile, undefined);
  });

  it("takes lifeboat.schedule.cron, and --interval over both, counting retention in the new intervals", () => {
    const c = config(
      "backup_config:\n  retention: 3",
      'lifeboat:\n  schedule:\n    cron: "0 */6 * * *"\n  cluster_id: abc',
    );
    const cron = buildSchedulePush(c, undefined, {});
    assert.deepEqual(cron.schedule?.every, { type: "cron", expression: "0 */6 * * *" });
    assert.deepEqual(cron.schedule?.retention, { type: "window", windowMs: 36 * HOUR, clusterId: "abc" });
    const fast = buildSchedulePush(c, undefined, { interval: "15m", jitter: "0s" });
    assert.deepEqual(fast.schedule?.every, { type: "interval", ms: 15 * 60_000 });
    assert.deepEqual(fast.schedule?.retention, { type: "window", windowMs: 45 * 60_000, clusterId: "abc" });
    assert.equal(fast.schedule?.jitterMs, 0);
  });

  it("removes the schedule with snapshot: false, keeping the notifications", () => {
    const hook =
      "lifeboat:\n  notifications:\n    webhook_url: https://hooks.example/x\n    headers: {X-Token: t0ps3cr3t}";
    const push = buildSchedulePush(config("snapshot: false", hook), undefined, {});
    assert.equal(push.schedule, null);
    assert.deepEqual(push.notifications, {
      webhookUrl: "https://hooks.example/x",
      headers: { "X-Token": "t0ps3cr3t" },
      onSuccess: false,
    });
  });

  it("carries S3 settings and snapshot options", () => {
    const s3 =
      "backup_config:\n  s3backupconfig:\n    bucket_name: b\n    endpoint: http://127.0.0.1:9000\n    folder: f\n    access_key: AK\n    secret_key: SK";
    const push = buildSchedulePush(
      config(s3, "lifeboat:\n  snapshot:\n    compression: none\n    retries: 1"),
      undefined,
      {},
    );
    assert.deepEqual(push.schedule?.s3, {
      endpoint: "http://127.0.0.1:9000",
      bucket: "b",
      folder: "f",
      accessKey: "AK",
      secretKey: "SK",
      addressing: "auto",
    });
    assert.equal(push.schedule?.compression, "store");
    assert.equal(push.schedule?.retries, 1);
    assert.equal(push.schedule?.timeoutSeconds, 300);
  });

  it("refuses an interval that is not whole seconds", () => {
    const c = config("snapshot: true");
    for (const interval of ["1.5s", "500ms", "soon", "0s"]) {
      assert.throws(() => buildSchedulePush(c, undefined, { interval }), UserError, interval);
    }
  });

  it("gives snapshot-prune the same policy, with --include-one-time", () => {
    assert.deepEqual(clusterRetention(config("snapshot: true"), { includeOneTime: true }), {
      type: "window",
      windowMs: 72 * HOUR,
      includeOneTime: true,
    });
  });
});
