/**
 * A save aborted while the health gate waits between retries (RKE's 4 × 15 s) ends at once: a stopping agent must not
 * sit out the pauses, and no snapshot is requested from the member afterwards.
 */
import assert from "node:assert/strict";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { saveSnapshot, type SnapshotSource } from "../src/snapshot/save.js";
import { LocalStore } from "../src/store/local.js";
import { silentLogger } from "../src/util/log.js";

test("an abort during the health gate's pause ends the save at once", { timeout: 20_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "lifeboat-save-abort-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  let snapshots = 0;
  const source: SnapshotSource = {
    health: async () => ({ reachable: true, hasLeader: false, alarms: [] }),
    status: async () => ({ memberId: "1", clusterId: "2", revision: 3, dbSize: 4, version: "3.5.0" }),
    snapshot: () => {
      snapshots++;
      throw new Error("no snapshot may be requested after the abort");
    },
    count: () => Promise.reject(new Error("no count may be asked after the abort")),
    hashKV: () => Promise.reject(new Error("no hash may be asked after the abort")),
  };
  const controller = new AbortController();
  const started = Date.now();
  const saving = saveSnapshot(
    {
      name: "gated",
      kind: "one-time",
      node: "etcd-a",
      compression: "deflate",
      retries: 4,
      retryPauseMs: 15_000,
      toolVersion: "test",
      signal: controller.signal,
    },
    {
      source,
      local: new LocalStore(dir),
      log: silentLogger,
      clock: () => new Date(),
      sleep: (ms, signal) => sleep(ms, undefined, signal ? { signal } : {}),
    },
  );
  setTimeout(() => controller.abort(new Error("the agent is stopping")), 100);
  await assert.rejects(saving, { name: "AbortError" });
  assert.ok(Date.now() - started < 5_000, `the save took ${Date.now() - started} ms to end`);
  assert.equal(snapshots, 0);
  assert.deepEqual(await readdir(dir), []);
});
