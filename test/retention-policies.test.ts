import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { applyRetention, formatInstant } from "../src/retention/index.js";
import type { RetentionDecision, RetentionEntry, RetentionInput, RetentionPolicy } from "../src/retention/index.js";

const NOW = new Date("2026-11-26T12:00:00Z");
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const at = (iso: string): Date => new Date(iso);
const hoursAgo = (h: number): Date => new Date(NOW.getTime() - h * HOUR);
const rkeName = (d: Date): string => `${formatInstant(d)}_etcd`;

/** A recurring, verified snapshot on node etcd-a named the RKE way; `extra` overrides any field. */
function snap(created: Date, extra: Partial<RetentionInput> = {}): RetentionInput {
  return { name: rkeName(created), location: "node:etcd-a", kind: "recurring", verified: true, created, ...extra };
}
const names = (entries: readonly RetentionEntry[]): string[] => entries.map((e) => e.input.name);
const reasonsOf = (d: RetentionDecision, name: string): readonly string[] =>
  [...d.keep, ...d.remove].find((e) => e.input.name === name)?.reasons ?? assert.fail(`${name} not in decision`);

void describe("window policy (RKE's age window)", () => {
  const window72h: RetentionPolicy = { type: "window", windowMs: 72 * HOUR };

  void it("keeps what is at or after now − window and removes what is strictly older", () => {
    const list = [0, 12, 24, 36, 48, 60, 72, 84, 96].map((h) => snap(hoursAgo(h)));
    const d = applyRetention(list, window72h, NOW);
    assert.deepEqual(
      d.keep.map((e) => e.input),
      list.slice(0, 7),
    );
    assert.deepEqual(
      d.remove.map((e) => e.input),
      list.slice(7),
    );
  });

  void it("treats the cutoff as RKE does: exactly at the cutoff stays, one millisecond earlier goes", () => {
    const cutoff = NOW.getTime() - 72 * HOUR;
    const onCutoff = snap(new Date(cutoff), { name: "on-cutoff", verified: false });
    const justBefore = snap(new Date(cutoff - 1), { name: "just-before", verified: false });
    const d = applyRetention([onCutoff, justBefore, snap(NOW)], window72h, NOW);
    assert.deepEqual(names(d.keep), ["on-cutoff", rkeName(NOW)]);
    assert.deepEqual(names(d.remove), ["just-before"]);
  });

  void it("states the window, the creation time and the cutoff in its reasons", () => {
    const d = applyRetention(
      [snap(at("2026-11-26T10:00:00Z")), snap(at("2026-11-22T09:00:00Z"), { verified: false })],
      window72h,
      NOW,
    );
    assert.deepEqual(reasonsOf(d, "2026-11-26T10:00:00Z_etcd"), [
      "within 72h window (created 2026-11-26T10:00:00Z)",
      "newest verified snapshot (always kept)",
    ]);
    assert.deepEqual(reasonsOf(d, "2026-11-22T09:00:00Z_etcd"), [
      "older than 72h window (created 2026-11-22T09:00:00Z, cutoff 2026-11-23T12:00:00Z)",
    ]);
  });

  void it("keeps snapshots dated after now (clock skew) as inside the window", () => {
    const future = snap(new Date(NOW.getTime() + HOUR), { verified: false });
    const d = applyRetention([future], window72h, NOW);
    assert.deepEqual(
      d.keep.map((e) => e.input),
      [future],
    );
  });

  void it("writes odd windows the way operators do", () => {
    const d = applyRetention(
      [snap(hoursAgo(200), { verified: false })],
      { type: "window", windowMs: 90 * 60_000 },
      NOW,
    );
    assert.match(reasonsOf(d, rkeName(hoursAgo(200)))[0] ?? "", /^older than 1h30m window/);
  });
});

void describe("count policy", () => {
  void it("keeps the newest N of each location whatever the input order", () => {
    const list = [5, 1, 7, 3, 0, 2, 6, 4].map((h) => snap(hoursAgo(h)));
    const d = applyRetention(list, { type: "count", keep: 3 }, NOW);
    assert.deepEqual(names(d.keep).sort(), [0, 1, 2].map((h) => rkeName(hoursAgo(h))).sort());
    assert.equal(d.remove.length, 5);
  });

  void it("keeps N on every node, not N in total (rancher/rancher#43872)", () => {
    const nodes = ["node:etcd-a", "node:etcd-b", "node:etcd-c"];
    const list = nodes.flatMap((location) =>
      [0, 12, 24, 36, 48, 60, 72, 84].map((h) => snap(hoursAgo(h), { location })),
    );
    const d = applyRetention(list, { type: "count", keep: 6 }, NOW);
    for (const location of nodes) {
      assert.equal(d.keep.filter((e) => e.input.location === location).length, 6, location);
      assert.equal(d.remove.filter((e) => e.input.location === location).length, 2, location);
    }
  });

  void it("gives the rank in its reasons", () => {
    const list = [0, 1, 2].map((h) => snap(hoursAgo(h), { verified: h === 0 }));
    const d = applyRetention(list, { type: "count", keep: 2 }, NOW);
    assert.deepEqual(reasonsOf(d, rkeName(hoursAgo(1))), ["one of the newest 2 (#2, created 2026-11-26T11:00:00Z)"]);
    assert.deepEqual(reasonsOf(d, rkeName(hoursAgo(2))), ["beyond the newest 2 (#3, created 2026-11-26T10:00:00Z)"]);
  });

  void it("breaks ties in time by name, so the outcome does not depend on input order", () => {
    const t = hoursAgo(1);
    const a = snap(t, { name: "a", verified: false });
    const b = snap(t, { name: "b", verified: false });
    for (const list of [
      [a, b],
      [b, a],
    ]) {
      const d = applyRetention(list, { type: "count", keep: 1 }, NOW);
      assert.deepEqual(names(d.keep), ["b"]);
      assert.deepEqual(names(d.remove), ["a"]);
    }
  });
});

void describe("tiered policy (restic-style)", () => {
  /** One snapshot every `stepHours` going back `days` from `newest`, newest first. */
  const series = (newest: Date, days: number, stepHours: number): RetentionInput[] =>
    Array.from({ length: (days * 24) / stepHours }, (_, i) => snap(new Date(newest.getTime() - i * stepHours * HOUR)));

  void it("keeps the newest snapshot of each of the last N days", () => {
    const list = series(at("2026-11-26T18:00:00Z"), 5, 6);
    const d = applyRetention(list, { type: "tiered", daily: 3 }, NOW);
    assert.deepEqual(names(d.keep), [
      "2026-11-26T18:00:00Z_etcd",
      "2026-11-25T18:00:00Z_etcd",
      "2026-11-24T18:00:00Z_etcd",
    ]);
    assert.deepEqual(reasonsOf(d, "2026-11-25T18:00:00Z_etcd"), ["daily snapshot 2026-11-25"]);
    assert.deepEqual(reasonsOf(d, "2026-11-26T12:00:00Z_etcd"), ["matches no tier (daily 3)"]);
  });

  void it("counts only periods that hold a snapshot (a gap does not use up a day)", () => {
    const list = [at("2026-11-26T01:00:00Z"), at("2026-11-20T01:00:00Z"), at("2026-11-10T01:00:00Z")].map((t) =>
      snap(t),
    );
    const d = applyRetention(list, { type: "tiered", daily: 2 }, NOW);
    assert.deepEqual(names(d.keep), ["2026-11-26T01:00:00Z_etcd", "2026-11-20T01:00:00Z_etcd"]);
  });

  void it("uses UTC hours and days regardless of the offset in the name", () => {
    // 23:30 at +02:00 is 21:30 UTC on the same day; 01:30 at +02:00 is the previous UTC day.
    const late = { name: "2026-11-25T23:30:00+02:00_etcd", location: "s3", kind: "recurring", verified: true } as const;
    const early = {
      name: "2026-11-26T01:30:00+02:00_etcd",
      location: "s3",
      kind: "recurring",
      verified: true,
    } as const;
    const d = applyRetention([late, early], { type: "tiered", daily: 5, hourly: 5 }, NOW);
    assert.deepEqual(reasonsOf(d, early.name), [
      "hourly snapshot 2026-11-25T23",
      "daily snapshot 2026-11-25",
      "newest verified snapshot (always kept)",
    ]);
    assert.deepEqual(reasonsOf(d, late.name), ["hourly snapshot 2026-11-25T21", "oldest daily snapshot 2026-11-25"]);
  });

  void it("names ISO weeks, including weeks that belong to the neighbouring year", () => {
    const list = [
      at("2026-01-01T00:00:00Z"), // Thursday: 2026-W01
      at("2025-12-29T00:00:00Z"), // Monday of the same week
      at("2025-12-28T00:00:00Z"), // Sunday: 2025-W52
      at("2021-01-03T00:00:00Z"), // Sunday: 2020-W53
    ].map((t) => snap(t, { verified: false }));
    const d = applyRetention(list, { type: "tiered", weekly: 10 }, NOW);
    assert.deepEqual(reasonsOf(d, "2026-01-01T00:00:00Z_etcd"), ["weekly snapshot 2026-W01"]);
    assert.deepEqual(reasonsOf(d, "2025-12-29T00:00:00Z_etcd"), ["matches no tier (weekly 10)"]);
    assert.deepEqual(reasonsOf(d, "2025-12-28T00:00:00Z_etcd"), ["weekly snapshot 2025-W52"]);
    assert.deepEqual(reasonsOf(d, "2021-01-03T00:00:00Z_etcd"), ["weekly snapshot 2020-W53"]);
  });

  void it("keeps the oldest snapshot when a tier still has room (restic's rule), and only then", () => {
    const twoPerDay = series(at("2026-11-26T12:00:00Z"), 3, 12);
    const roomy = applyRetention(twoPerDay, { type: "tiered", daily: 10 }, NOW);
    assert.deepEqual(reasonsOf(roomy, "2026-11-24T00:00:00Z_etcd"), ["oldest daily snapshot 2026-11-24"]);
    const full = applyRetention(twoPerDay, { type: "tiered", daily: 3 }, NOW);
    assert.deepEqual(reasonsOf(full, "2026-11-24T00:00:00Z_etcd"), ["matches no tier (daily 3)"]);
  });

  void it("keeps monthly and yearly tiers across a long history", () => {
    const list = series(at("2026-11-26T00:00:00Z"), 800, 24);
    const d = applyRetention(list, { type: "tiered", monthly: 3, yearly: 3 }, NOW);
    assert.deepEqual(names(d.keep), [
      "2026-11-26T00:00:00Z_etcd",
      "2026-10-31T00:00:00Z_etcd",
      "2026-09-30T00:00:00Z_etcd",
      "2025-12-31T00:00:00Z_etcd",
      "2024-12-31T00:00:00Z_etcd",
    ]);
    assert.deepEqual(reasonsOf(d, "2026-11-26T00:00:00Z_etcd"), [
      "monthly snapshot 2026-11",
      "yearly snapshot 2026",
      "newest verified snapshot (always kept)",
    ]);
  });

  void it("keeps the last N regardless of periods", () => {
    const d = applyRetention(series(at("2026-11-26T11:00:00Z"), 1, 1), { type: "tiered", last: 3 }, NOW);
    assert.deepEqual(names(d.keep), [
      "2026-11-26T11:00:00Z_etcd",
      "2026-11-26T10:00:00Z_etcd",
      "2026-11-26T09:00:00Z_etcd",
    ]);
    assert.deepEqual(reasonsOf(d, "2026-11-26T09:00:00Z_etcd"), ["one of the last 3 (#3)"]);
  });

  void it("measures `within` from the newest snapshot, so a stalled schedule does not erase the last stretch", () => {
    const stale = series(at("2026-11-16T12:00:00Z"), 6, 12);
    const d = applyRetention(stale, { type: "tiered", within: 2 * DAY }, NOW);
    assert.equal(d.keep.length, 5);
    assert.deepEqual(reasonsOf(d, "2026-11-14T12:00:00Z_etcd"), [
      "within 48h of the newest snapshot (2026-11-16T12:00:00Z)",
    ]);
    assert.deepEqual(reasonsOf(d, "2026-11-14T00:00:00Z_etcd"), ["matches no tier (within 48h)"]);
  });

  void it("measures `within` from the newest snapshot that is not in the future", () => {
    const future = snap(new Date(NOW.getTime() + 10 * DAY), { verified: false });
    const d = applyRetention([future, snap(hoursAgo(12)), snap(hoursAgo(40))], { type: "tiered", within: DAY }, NOW);
    assert.deepEqual(names(d.keep), [future.name, rkeName(hoursAgo(12))]);
    assert.deepEqual(names(d.remove), [rkeName(hoursAgo(40))]);
  });

  void it("lists every tier that keeps a snapshot, and all tiers when none does", () => {
    const list = series(at("2026-11-26T12:00:00Z"), 10, 12);
    const policy: RetentionPolicy = { type: "tiered", last: 1, daily: 2, weekly: 1, within: 6 * HOUR };
    const d = applyRetention(list, policy, NOW);
    assert.deepEqual(reasonsOf(d, "2026-11-26T12:00:00Z_etcd"), [
      "within 6h of the newest snapshot (2026-11-26T12:00:00Z)",
      "one of the last 1 (#1)",
      "daily snapshot 2026-11-26",
      "weekly snapshot 2026-W48",
      "newest verified snapshot (always kept)",
    ]);
    assert.deepEqual(reasonsOf(d, "2026-11-20T12:00:00Z_etcd"), [
      "matches no tier (last 1, daily 2, weekly 1, within 6h)",
    ]);
  });
});
