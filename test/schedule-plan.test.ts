/**
 * The pure half of the scheduler: cron expressions, slots, when the next run is due (no reset on restart or
 * re-push, one catch-up for missed slots, no hammering after a failure) and RKE's recurring names.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseCron } from "../src/schedule/cron.js";
import { jitterBound, planNextRun, recurringName, slotAfter, slotAtOrBefore } from "../src/schedule/plan.js";
import { mergePush, ScheduleSpec, type Every } from "../src/schedule/spec.js";
import { UserError } from "../src/util/errors.js";

const at = (iso: string) => new Date(iso);
const iso = (d: Date | undefined) => d?.toISOString();
const HOUR = 3_600_000;
const twelveHours: Every = { type: "interval", ms: 12 * HOUR };

describe("cron expressions (UTC)", () => {
  it("finds the next and previous firing instants of RKE2's default schedule", () => {
    const cron = parseCron("0 */12 * * *");
    assert.equal(iso(cron.next(at("2026-11-27T10:15:00Z"))), "2026-11-27T12:00:00.000Z");
    assert.equal(iso(cron.next(at("2026-11-27T12:00:00Z"))), "2026-11-28T00:00:00.000Z", "strictly after");
    assert.equal(iso(cron.previous(at("2026-11-27T12:00:00Z"))), "2026-11-27T12:00:00.000Z", "at or before");
    assert.equal(iso(cron.previous(at("2026-11-27T11:59:59Z"))), "2026-11-27T00:00:00.000Z");
  });

  it("reads names, ranges, steps and lists", () => {
    const weekdays = parseCron("30 2 * * MON-FRI");
    assert.equal(iso(weekdays.next(at("2026-11-27T03:00:00Z"))), "2026-11-30T02:30:00.000Z", "Friday 03:00 -> Monday");
    assert.equal(iso(parseCron("0 0 1 jan *").next(at("2026-11-27T00:00:00Z"))), "2027-01-01T00:00:00.000Z");
    assert.equal(iso(parseCron("5,35 */6 * * *").next(at("2026-11-27T06:05:00Z"))), "2026-11-27T06:35:00.000Z");
    assert.equal(iso(parseCron("10-20/5 1 * * ?").next(at("2026-11-27T01:11:00Z"))), "2026-11-27T01:15:00.000Z");
    assert.equal(
      iso(parseCron("0 12 * * 7").next(at("2026-11-27T00:00:00Z"))),
      "2026-11-29T12:00:00.000Z",
      "7 is Sunday",
    );
  });

  it("fires on a day matching either restricted day field (Vixie cron)", () => {
    const cron = parseCron("0 0 13 * FRI");
    assert.equal(iso(cron.next(at("2026-11-27T00:00:00Z"))), "2026-12-04T00:00:00.000Z", "the next Friday");
    assert.equal(iso(cron.next(at("2026-12-11T00:00:00Z"))), "2026-12-13T00:00:00.000Z", "the 13th, a Sunday");
  });

  it("treats a day field starting with a star as unrestricted, and `?` as any (not croner's current value)", () => {
    // Odd days that are Mondays: 30 November is even, 7 December odd.
    assert.equal(iso(parseCron("0 0 */2 * MON").next(at("2026-11-27T00:00:00Z"))), "2026-12-07T00:00:00.000Z");
    assert.equal(iso(parseCron("0 0 ? * *").next(at("2026-11-27T10:00:00Z"))), "2026-11-28T00:00:00.000Z");
    assert.equal(iso(parseCron("0 0 * * ?").next(at("2026-11-27T10:00:00Z"))), "2026-11-28T00:00:00.000Z");
    assert.equal(iso(parseCron("5/20 * * * *").next(at("2026-11-27T10:06:00Z"))), "2026-11-27T10:25:00.000Z", "a/n");
    assert.equal(iso(parseCron("0 */12 * * *").previous(at("2026-11-27T12:00:30Z"))), "2026-11-27T12:00:00.000Z");
  });

  it("finds 29 February years ahead", () => {
    assert.equal(iso(parseCron("0 0 29 2 *").next(at("2026-11-27T00:00:00Z"))), "2028-02-29T00:00:00.000Z");
  });

  it("refuses malformed expressions and ones that never fire, naming the field", () => {
    assert.throws(
      () => parseCron("61 * * * *"),
      (e: Error) => e instanceof UserError && /minute "61"/.test(e.message),
    );
    assert.throws(() => parseCron("* * *"), /expected 5 fields/);
    assert.throws(() => parseCron("0 0 * * FUNDAY"), /day of week/);
    assert.throws(() => parseCron("0 0 30 2 *"), /never fires/);
    assert.throws(() => parseCron("*/0 * * * *"), /minute "\*\/0": .*stepping/);
    assert.throws(() => parseCron("0 25 * * *"), /hour "25"/);
    assert.throws(() => parseCron("0 0 5-1 * *"), /day of month "5-1"/);
    assert.throws(() => parseCron("0 0 * 13 *"), /month "13"/);
    assert.throws(() => parseCron("0 0 * * * *"), /expected 5 fields, got 6/);
  });

  it("is checked when a schedule is pushed", () => {
    const base = { retention: { type: "count", keep: 3 } };
    assert.equal(ScheduleSpec.safeParse({ ...base, every: { type: "cron", expression: "0 0 30 2 *" } }).success, false);
    assert.equal(ScheduleSpec.safeParse({ ...base, every: { type: "interval", ms: 1500 } }).success, false);
    assert.equal(ScheduleSpec.safeParse({ ...base, every: { type: "interval", ms: 30_000 } }).success, true);
  });
});

describe("slots", () => {
  it("aligns intervals to the Unix epoch, so every node computes the same slots", () => {
    assert.equal(iso(slotAfter(twelveHours, at("2026-11-27T10:15:00Z"))), "2026-11-27T12:00:00.000Z");
    assert.equal(iso(slotAfter(twelveHours, at("2026-11-27T12:00:00Z"))), "2026-11-28T00:00:00.000Z");
    assert.equal(iso(slotAtOrBefore(twelveHours, at("2026-11-27T12:00:00Z"))), "2026-11-27T12:00:00.000Z");
    assert.equal(
      iso(slotAfter({ type: "interval", ms: 30_000 }, at("2026-11-27T10:15:10Z"))),
      "2026-11-27T10:15:30.000Z",
    );
  });

  it("bounds the jitter by a tenth of the period", () => {
    assert.equal(jitterBound(5000, 12 * HOUR), 5000);
    assert.equal(jitterBound(5000, 10_000), 1000);
    assert.equal(jitterBound(0, HOUR), 0);
  });
});

describe("planning the next run", () => {
  const since = at("2026-11-27T10:15:00Z");

  it("waits for the first slot after the push when no recurring snapshot exists", () => {
    const plan = planNextRun({ every: twelveHours, since, now: at("2026-11-27T10:15:01Z") });
    assert.deepEqual(plan, { slot: at("2026-11-27T12:00:00Z"), at: at("2026-11-27T12:00:00Z"), catchUp: false });
  });

  it("plans from the last success, not from the process start (a restart does not reset the timer)", () => {
    const plan = planNextRun({
      every: twelveHours,
      since,
      lastSuccess: at("2026-11-27T12:00:02.500Z"),
      now: at("2026-11-27T13:00:00Z"),
    });
    assert.deepEqual(plan, { slot: at("2026-11-28T00:00:00Z"), at: at("2026-11-28T00:00:00Z"), catchUp: false });
  });

  it("catches up once, at start, for a slot missed while the agent was down, then returns to the grid", () => {
    const now = at("2026-11-28T13:30:00Z");
    const plan = planNextRun({ every: twelveHours, since, lastSuccess: at("2026-11-27T12:00:01Z"), now });
    assert.deepEqual(plan, { slot: at("2026-11-28T12:00:00Z"), at: now, catchUp: true }, "the latest missed slot");
    const after = planNextRun({ every: twelveHours, since, lastSuccess: now, lastSlot: plan.slot, now });
    assert.deepEqual(after, { slot: at("2026-11-29T00:00:00Z"), at: at("2026-11-29T00:00:00Z"), catchUp: false });
  });

  it("does not retry a failed slot before the next one (no hammering a broken member)", () => {
    const plan = planNextRun({
      every: twelveHours,
      since,
      lastSuccess: at("2026-11-27T00:00:01Z"),
      lastSlot: at("2026-11-27T12:00:00Z"),
      now: at("2026-11-27T12:00:20Z"),
    });
    assert.deepEqual(plan, { slot: at("2026-11-28T00:00:00Z"), at: at("2026-11-28T00:00:00Z"), catchUp: false });
  });

  it("plans cron schedules the same way", () => {
    const every: Every = { type: "cron", expression: "0 */6 * * *" };
    const plan = planNextRun({
      every,
      since,
      lastSuccess: at("2026-11-27T06:00:01Z"),
      now: at("2026-11-27T19:00:00Z"),
    });
    assert.deepEqual(plan, { slot: at("2026-11-27T18:00:00Z"), at: at("2026-11-27T19:00:00Z"), catchUp: true });
  });

  it("keeps the first push time across re-pushes, so pushing never resets the timer", () => {
    const spec = ScheduleSpec.parse({ every: twelveHours, retention: { type: "count", keep: 3 } });
    const first = mergePush(undefined, { schedule: spec, notifications: null }, since);
    const again = mergePush(first, { schedule: spec, notifications: null }, at("2026-11-27T11:00:00Z"));
    assert.equal(again?.since, since.toISOString());
    assert.equal(
      mergePush(again, { schedule: null, notifications: null }, since),
      undefined,
      "snapshot: false removes it",
    );
    const off = mergePush(
      again,
      { schedule: null, notifications: { webhookUrl: "http://127.0.0.1/x", headers: {}, onSuccess: false } },
      since,
    );
    const back = mergePush(off, { schedule: spec, notifications: null }, at("2026-11-28T00:00:00Z"));
    assert.equal(back?.since, "2026-11-28T00:00:00.000Z", "a schedule turned off and on again starts afresh");
  });
});

describe("recurring names", () => {
  it("uses RKE's <RFC3339 UTC>_etcd: the slot on time, the start time for a catch-up", () => {
    const now = at("2026-11-28T13:30:07.250Z");
    assert.equal(recurringName({ slot: at("2026-11-28T12:00:00Z"), catchUp: false }, now), "2026-11-28T12:00:00Z_etcd");
    assert.equal(recurringName({ slot: at("2026-11-28T12:00:00Z"), catchUp: true }, now), "2026-11-28T13:30:07Z_etcd");
  });
});
