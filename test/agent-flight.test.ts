/** The node's single flight and the restore session that holds it (src/snapshot/flight.ts, src/agent/restore-session.ts). */
import assert from "node:assert/strict";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { SaveFlight } from "../src/snapshot/flight.js";
import { RestoreSessions } from "../src/agent/restore-session.js";
import { HttpError } from "../src/agent/http.js";
import { insideDir } from "../src/util/fs.js";

function sessions(flight: SaveFlight, leaseMs = 60_000) {
  const log: string[] = [];
  const s = new RestoreSessions({
    flight,
    pauseSchedule: async (reason) => void log.push(`pause: ${reason}`),
    resumeSchedule: () => void log.push("resume"),
    removeLeftovers: async (reason) => void log.push(`clean: ${reason}`),
    clock: () => new Date(),
    leaseMs,
    onExpired: (info) => void log.push(`expired ${info.id}`),
  });
  return { s, log };
}

test("flight: a one-time save waits (bounded) for a recurring one and gets the flight when it ends", async () => {
  const flight = new SaveFlight();
  const release = flight.tryAcquire("2026-12-01T10:00:00Z_etcd", "recurring")!;
  const waiting = flight.acquire("manual", "one-time", { waitMs: 5_000, mayWait: (h) => h.kind === "recurring" });
  await sleep(20);
  assert.equal(flight.current, "2026-12-01T10:00:00Z_etcd");
  release();
  const got = await waiting;
  assert.ok(got, "claimed once the recurring save released it");
  assert.equal(flight.current, "manual");
  got();
  assert.equal(flight.current, undefined);
});

test("flight: nobody waits on a restore, and a wait is bounded", async () => {
  const flight = new SaveFlight();
  flight.tryAcquire("restore of a", "restore");
  const t0 = Date.now();
  assert.equal(
    await flight.acquire("m", "one-time", { waitMs: 5_000, mayWait: (h) => h.kind === "recurring" }),
    undefined,
  );
  assert.ok(Date.now() - t0 < 1_000, "refused at once");
  const flight2 = new SaveFlight();
  flight2.tryAcquire("slow", "recurring");
  assert.equal(await flight2.acquire("m", "one-time", { waitMs: 50, mayWait: () => true }), undefined);
});

test("flight: an old release never frees a later holder", () => {
  const flight = new SaveFlight();
  const first = flight.tryAcquire("a")!;
  first();
  flight.tryAcquire("b");
  first();
  assert.equal(flight.current, "b");
});

test("session: a restore holds the flight and pauses the schedule; release gives both back and cleans up", async () => {
  const flight = new SaveFlight();
  const { s, log } = sessions(flight);
  await s.open("restore-0123456789", "snap1", "restore");
  assert.equal(flight.held?.kind, "restore");
  assert.ok(log.includes("pause: a restore of snap1 is in progress"));
  assert.equal(s.require("restore-0123456789", "snap1").name, "snap1");
  assert.throws(
    () => s.require("restore-other00", "snap1"),
    (e: unknown) => e instanceof HttpError && e.status === 409,
  );
  await assert.rejects(s.open("restore-other00", "snap1", "restore"), /in progress/);
  assert.equal(await s.close("restore-0123456789", "done"), true);
  assert.equal(flight.current, undefined);
  assert.equal(log.at(-1), "resume");
  assert.ok(log.some((l) => l.startsWith("clean: session restore-0123456789 ended")));
  assert.equal(await s.close("restore-0123456789", "again"), false, "a repeated release is a no-op");
});

test("session: a verify holds no flight, so backups go on", async () => {
  const flight = new SaveFlight();
  const { s, log } = sessions(flight);
  await s.open("verify-0123456789", "snap1", "verify");
  assert.equal(flight.current, undefined);
  assert.ok(!log.some((l) => l.startsWith("pause")));
  assert.ok(flight.tryAcquire("a save"), "a save may run during a verify");
});

test("session: a one-time save in progress refuses a restore (409); a recurring one is cancelled for it", async () => {
  const flight = new SaveFlight();
  const release = flight.tryAcquire("manual", "one-time")!;
  const { s } = sessions(flight);
  await assert.rejects(s.open("restore-0123456789", "snap1", "restore"), /manual is being saved/);
  release();
  const recurring = flight.tryAcquire("2026-12-01T10:00:00Z_etcd", "recurring")!;
  const paused = new RestoreSessions({
    flight,
    pauseSchedule: async () => recurring(),
    resumeSchedule: () => undefined,
    removeLeftovers: async () => undefined,
    clock: () => new Date(),
    leaseMs: 60_000,
    onExpired: () => undefined,
  });
  await paused.open("restore-0123456789", "snap1", "restore");
  assert.equal(flight.held?.kind, "restore");
});

test("session: without renewals the lease runs out, the flight comes back and the files go", async () => {
  const flight = new SaveFlight();
  const { s, log } = sessions(flight, 150);
  await s.open("restore-0123456789", "snap1", "restore");
  await sleep(100);
  await s.open("restore-0123456789", "snap1", "restore");
  await sleep(100);
  assert.equal(flight.held?.kind, "restore", "a renewal pushed the expiry out");
  await sleep(200);
  assert.equal(flight.current, undefined);
  assert.ok(log.includes("expired restore-0123456789"));
  assert.equal(s.current, undefined);
});

test("insideDir: names stay inside their folder", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "lifeboat-inside-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, "ok"), "x");
  assert.equal(insideDir(dir, "ok"), join(dir, "ok"));
  for (const bad of ["..", "../x", "/etc/passwd", "a/b", "", ".", "a/../../x"]) {
    assert.throws(() => insideDir(dir, bad), /is not a name inside/, bad);
  }
  assert.deepEqual(await readdir(dir), ["ok"]);
});
