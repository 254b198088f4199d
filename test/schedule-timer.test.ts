/**
 * The scheduler's timer with an injected clock and timers: hours of schedule run in milliseconds. The run itself
 * is the test's recorder (the real run is covered against a live cluster in schedule-sandbox.test.ts).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setImmediate as tick } from "node:timers/promises";
import { Scheduler, type ScheduleJob, type Timers } from "../src/schedule/scheduler.js";
import { ScheduleSpec } from "../src/schedule/spec.js";
import { silentLogger } from "../src/util/log.js";

const HOUR = 3_600_000;

/** A clock that only moves when told, and timers that fire when the clock passes them. */
class FakeTime implements Timers {
  private seq = 0;
  private readonly pending = new Map<number, { at: number; fn: () => void }>();
  constructor(public now: number) {}

  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.pending.set(id, { at: this.now + ms, fn });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.pending.delete(handle as number);
  }

  /** Moves the clock forward by `ms`, firing every due timer in order and letting promises settle after each. */
  async advance(ms: number): Promise<void> {
    const end = this.now + ms;
    for (;;) {
      await settle();
      const due = [...this.pending.entries()]
        .filter(([, t]) => t.at <= end)
        .sort((a, b) => a[1].at - b[1].at || a[0] - b[0]);
      const first = due[0];
      if (!first) break;
      this.pending.delete(first[0]);
      this.now = Math.max(this.now, first[1].at);
      first[1].fn();
    }
    this.now = end;
    await settle();
  }
}

async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await tick();
}

interface Harness {
  time: FakeTime;
  scheduler: Scheduler;
  runs: { name: string; slot: string; catchUp: boolean; at: string }[];
  skips: { name: string; reason: string }[];
}

function harness(opts: {
  start: string;
  lastSuccess?: string;
  random?: number;
  run?: (job: ScheduleJob) => Promise<void>;
}): Harness {
  const time = new FakeTime(Date.parse(opts.start));
  const runs: Harness["runs"] = [];
  const skips: Harness["skips"] = [];
  const scheduler = new Scheduler({
    clock: () => new Date(time.now),
    timers: time,
    random: () => opts.random ?? 0,
    log: silentLogger,
    lastSuccess: () => Promise.resolve(opts.lastSuccess ? new Date(opts.lastSuccess) : undefined),
    run: async (job) => {
      runs.push({
        name: job.name,
        slot: job.slot.toISOString(),
        catchUp: job.catchUp,
        at: new Date(time.now).toISOString(),
      });
      await opts.run?.(job);
    },
    skipped: (job, reason) => skips.push({ name: job.name, reason }),
  });
  return { time, scheduler, runs, skips };
}

const hourly = (jitterMs = 0) =>
  ScheduleSpec.parse({ every: { type: "interval", ms: HOUR }, jitterMs, retention: { type: "count", keep: 3 } });

describe("scheduler timer", () => {
  it("runs at every slot with RKE names, starting one slot after the push", async () => {
    const h = harness({ start: "2026-11-27T10:15:00Z" });
    await h.scheduler.configure({ spec: hourly(), since: new Date(h.time.now) });
    assert.equal(h.scheduler.status().nextRun?.at, "2026-11-27T11:00:00.000Z");
    await h.time.advance(3 * HOUR);
    assert.deepEqual(
      h.runs.map((r) => [r.name, r.at, r.catchUp]),
      [
        ["2026-11-27T11:00:00Z_etcd", "2026-11-27T11:00:00.000Z", false],
        ["2026-11-27T12:00:00Z_etcd", "2026-11-27T12:00:00.000Z", false],
        ["2026-11-27T13:00:00Z_etcd", "2026-11-27T13:00:00.000Z", false],
      ],
    );
    await h.scheduler.stop();
  });

  it("catches up at once for a slot missed while the agent was down, then keeps to the grid", async () => {
    const h = harness({ start: "2026-11-27T10:15:00Z", lastSuccess: "2026-11-27T08:00:01Z" });
    await h.scheduler.configure({ spec: hourly(), since: new Date("2026-11-20T00:00:00Z") });
    await h.time.advance(HOUR);
    assert.deepEqual(
      h.runs.map((r) => [r.name, r.slot, r.catchUp]),
      [
        ["2026-11-27T10:15:00Z_etcd", "2026-11-27T10:00:00.000Z", true],
        ["2026-11-27T11:00:00Z_etcd", "2026-11-27T11:00:00.000Z", false],
      ],
    );
    await h.scheduler.stop();
  });

  it("a pause cancels the run going now, skips slots with its reason, and resume picks up the grid again", async () => {
    let cancelled = "";
    const h = harness({
      start: "2026-11-27T10:15:00Z",
      // A run that would go on retrying its health check until cancelled.
      run: (job) =>
        new Promise<void>((resolve) =>
          job.signal.addEventListener("abort", () => {
            cancelled = String((job.signal.reason as Error).message);
            resolve();
          }),
        ),
    });
    await h.scheduler.configure({ spec: hourly(), since: new Date(h.time.now) });
    await h.time.advance(HOUR);
    assert.equal(h.scheduler.status().running, "2026-11-27T11:00:00Z_etcd");
    await h.scheduler.pause("a restore of snap1 is in progress");
    assert.equal(cancelled, "cancelled: a restore of snap1 is in progress");
    assert.equal(h.scheduler.status().running, undefined);
    assert.equal(h.scheduler.status().paused, "a restore of snap1 is in progress");
    await h.time.advance(HOUR);
    assert.deepEqual(h.skips, [
      { name: "2026-11-27T12:00:00Z_etcd", reason: "paused: a restore of snap1 is in progress" },
    ]);
    assert.equal(h.runs.length, 1);
    h.scheduler.resume();
    await h.time.advance(HOUR);
    assert.equal(h.runs.length, 2);
    assert.equal(h.runs[1]?.name, "2026-11-27T13:00:00Z_etcd");
    await h.scheduler.stop();
  });

  it("does not catch up when the last success is recent (a restart does not add a run)", async () => {
    const h = harness({ start: "2026-11-27T10:15:00Z", lastSuccess: "2026-11-27T10:00:01Z" });
    await h.scheduler.configure({ spec: hourly(), since: new Date("2026-11-20T00:00:00Z") });
    await h.time.advance(30 * 60_000);
    assert.deepEqual(h.runs, []);
    assert.equal(h.scheduler.status().nextRun?.at, "2026-11-27T11:00:00.000Z");
    await h.scheduler.stop();
  });

  it("skips, and says why, the slots that come while the previous run is still going", async () => {
    let finish: () => void = () => undefined;
    const blocked = new Promise<void>((resolve) => (finish = resolve));
    const h = harness({
      start: "2026-11-27T10:15:00Z",
      run: (job) => (job.name.includes("T11:") ? blocked : Promise.resolve()),
    });
    await h.scheduler.configure({ spec: hourly(), since: new Date(h.time.now) });
    await h.time.advance(HOUR + 50 * 60_000);
    assert.equal(h.scheduler.status().running, "2026-11-27T11:00:00Z_etcd");
    assert.deepEqual(h.skips, [
      { name: "2026-11-27T12:00:00Z_etcd", reason: "the previous run (2026-11-27T11:00:00Z_etcd) is still going" },
    ]);
    finish();
    await h.time.advance(HOUR);
    assert.deepEqual(
      h.runs.map((r) => r.name),
      ["2026-11-27T11:00:00Z_etcd", "2026-11-27T13:00:00Z_etcd"],
      "no queued-up run for the skipped slot",
    );
    await h.scheduler.stop();
  });

  it("adds jitter within its bound, and keeps the slot's name", async () => {
    const h = harness({ start: "2026-11-27T10:15:00Z", random: 0.5 });
    await h.scheduler.configure({ spec: hourly(10 * 60_000), since: new Date(h.time.now) });
    await h.time.advance(HOUR);
    assert.deepEqual(
      h.runs.map((r) => [r.name, r.at]),
      [["2026-11-27T11:00:00Z_etcd", "2026-11-27T11:03:00.000Z"]],
      "half of min(10 min, a tenth of an hour)",
    );
    await h.scheduler.stop();
  });

  it("stops when the schedule is removed, and aborts a run in progress when it stops", async () => {
    let signal: AbortSignal | undefined;
    const h = harness({
      start: "2026-11-27T10:15:00Z",
      run: (job) =>
        new Promise<void>((resolve) => {
          signal = job.signal;
          job.signal.addEventListener("abort", () => resolve());
        }),
    });
    await h.scheduler.configure({ spec: hourly(), since: new Date(h.time.now) });
    await h.time.advance(HOUR);
    assert.equal(h.runs.length, 1);
    await h.scheduler.stop();
    assert.equal(signal?.aborted, true);
    await h.time.advance(5 * HOUR);
    assert.equal(h.runs.length, 1, "no run after stop");

    const off = harness({ start: "2026-11-27T10:15:00Z" });
    await off.scheduler.configure({ spec: hourly(), since: new Date(off.time.now) });
    await off.scheduler.configure(undefined);
    await off.time.advance(5 * HOUR);
    assert.deepEqual(off.runs, []);
    assert.equal(off.scheduler.status().enabled, false);
  });

  it("notices a wall-clock jump within a minute", async () => {
    const h = harness({ start: "2026-11-27T10:15:00Z" });
    await h.scheduler.configure({ spec: hourly(), since: new Date(h.time.now) });
    h.time.now = Date.parse("2026-11-27T12:30:00Z");
    await h.time.advance(60_000);
    assert.deepEqual(
      h.runs.map((r) => [r.name, r.slot, r.catchUp]),
      [["2026-11-27T12:30:00Z_etcd", "2026-11-27T12:00:00.000Z", true]],
      "one catch-up for the latest passed slot, not one run per missed slot",
    );
    assert.equal(h.scheduler.status().nextRun?.at, "2026-11-27T13:00:00.000Z");
    await h.scheduler.stop();
  });
});
