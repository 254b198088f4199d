import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConfigError } from "../src/util/errors.js";
import { NEWEST_VERIFIED, NO_TIME, ONE_TIME, applyRetention, formatInstant } from "../src/retention/index.js";
import type { RetentionDecision, RetentionEntry, RetentionInput, RetentionPolicy } from "../src/retention/index.js";

const NOW = new Date("2026-11-26T12:00:00Z");
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const hoursAgo = (h: number): Date => new Date(NOW.getTime() - h * HOUR);

function snap(created: Date, extra: Partial<RetentionInput> = {}): RetentionInput {
  const name = extra.name ?? `${formatInstant(created)}_etcd`;
  return { name, location: "node:etcd-a", kind: "recurring", verified: true, created, ...extra };
}
const inputs = (entries: readonly RetentionEntry[]): RetentionInput[] => entries.map((e) => e.input);
const entryOf = (d: RetentionDecision, input: RetentionInput): RetentionEntry =>
  [...d.keep, ...d.remove].find((e) => e.input === input) ?? assert.fail(`${input.name} not in decision`);
const isKept = (d: RetentionDecision, input: RetentionInput): boolean => d.keep.some((e) => e.input === input);

/** One policy of each type, each of which would remove a snapshot 30 days old on its own. */
const POLICIES: readonly RetentionPolicy[] = [
  { type: "window", windowMs: 72 * HOUR },
  { type: "count", keep: 1 },
  { type: "tiered", daily: 1 },
  { type: "tiered", within: DAY },
];

void describe("invariants, under every policy", () => {
  for (const policy of POLICIES) {
    const label = JSON.stringify(policy);

    void it(`an empty input gives an empty decision: ${label}`, () => {
      assert.deepEqual(applyRetention([], policy, NOW), { keep: [], remove: [] });
    });

    void it(`the newest verified snapshot is kept even when the policy would remove it: ${label}`, () => {
      const newestUnverified = snap(hoursAgo(1), { verified: false });
      const lastGood = snap(hoursAgo(30 * 24));
      const older = snap(hoursAgo(31 * 24));
      const d = applyRetention([newestUnverified, lastGood, older], policy, NOW);
      assert.ok(isKept(d, lastGood));
      assert.equal(entryOf(d, lastGood).reasons[0], NEWEST_VERIFIED);
      assert.match(entryOf(d, lastGood).reasons[1] ?? "", /^the policy alone would remove it: /);
      assert.deepEqual(inputs(d.remove), [older]);
    });

    void it(`every node and S3 keep their own newest verified snapshot: ${label}`, () => {
      const locations = ["node:etcd-a", "node:etcd-b", "node:etcd-c", "s3"];
      const list = locations.flatMap((location, i) => [
        snap(hoursAgo(40 * 24 + i), { location }),
        snap(hoursAgo(45 * 24 + i), { location }),
      ]);
      const d = applyRetention(list, policy, NOW);
      assert.deepEqual(
        inputs(d.keep),
        list.filter((_, i) => i % 2 === 0),
      );
      for (const e of d.keep) assert.ok(e.reasons.includes(NEWEST_VERIFIED), e.input.location);
    });

    void it(`unverified snapshots never count as the newest: ${label}`, () => {
      const unverified = [1, 2, 3].map((d) => snap(hoursAgo(d * 24 * 30), { verified: false }));
      const d = applyRetention(unverified, policy, NOW);
      assert.ok(!d.keep.some((e) => e.reasons.includes(NEWEST_VERIFIED)));
      assert.ok(d.remove.length >= 2, "only the policy can keep an unverified snapshot");
    });

    void it(`other clusters are never touched, nor guessed by name: ${label}`, () => {
      const scoped = { ...policy, clusterId: "c-1" } as RetentionPolicy;
      const mine = [snap(hoursAgo(1), { clusterId: "c-1" }), snap(hoursAgo(900), { clusterId: "c-1" })];
      const theirs = snap(hoursAgo(900), { clusterId: "c-2" });
      const unknown = snap(hoursAgo(900), { name: "c-1-rl-abcde_2024-01-01T00:00:00Z" });
      const d = applyRetention([...mine, theirs, unknown], scoped, NOW);
      assert.deepEqual(inputs(d.remove), [mine[1]]);
      assert.deepEqual(entryOf(d, theirs).reasons, ["other cluster (snapshot: c-2; policy: c-1)"]);
      assert.deepEqual(entryOf(d, unknown).reasons, ["other cluster (snapshot has no cluster ID; policy: c-1)"]);
    });

    void it(`one-time snapshots are kept unless included: ${label}`, () => {
      const oneTime = snap(hoursAgo(900), { kind: "one-time", name: "rke_etcd_snapshot_2024", verified: false });
      const list = [snap(hoursAgo(1)), oneTime];
      const d = applyRetention(list, policy, NOW);
      assert.deepEqual(entryOf(d, oneTime).reasons, [ONE_TIME]);
      const included = applyRetention(list, { ...policy, includeOneTime: true }, NOW);
      assert.deepEqual(inputs(included.remove), [oneTime]);
    });

    void it(`inputs without a creation time are kept: ${label}`, () => {
      const undated = {
        name: "pki.bundle.tar.gz",
        location: "node:etcd-a",
        kind: "recurring",
        verified: false,
      } as const;
      const d = applyRetention([undated, snap(hoursAgo(1))], policy, NOW);
      assert.deepEqual(entryOf(d, undated).reasons, [NO_TIME]);
    });
  }
});

void describe("groups and scope", () => {
  void it("without a cluster ID in the policy, each recorded cluster is its own group", () => {
    const a = [1, 2, 3].map((h) => snap(hoursAgo(h), { clusterId: "c-a", verified: false }));
    const b = [4, 5, 6].map((h) => snap(hoursAgo(h), { clusterId: "c-b", verified: false }));
    const legacy = [7, 8, 9].map((h) => snap(hoursAgo(h), { verified: false }));
    const d = applyRetention([...a, ...b, ...legacy], { type: "count", keep: 2 }, NOW);
    assert.deepEqual(inputs(d.remove), [a[2], b[2], legacy[2]]);
  });

  void it("a newest verified one-time snapshot is marked as such and protects nothing else", () => {
    const oneTime = snap(hoursAgo(1), { kind: "one-time", name: "before-upgrade" });
    const recurring = snap(hoursAgo(500));
    const d = applyRetention([oneTime, recurring], { type: "window", windowMs: 72 * HOUR }, NOW);
    assert.deepEqual(entryOf(d, oneTime).reasons, [ONE_TIME, NEWEST_VERIFIED]);
    assert.deepEqual(inputs(d.remove), [recurring]);
  });

  void it("included one-time snapshots count like recurring ones", () => {
    const oneTime = snap(hoursAgo(1), { kind: "one-time", name: "manual", verified: false });
    const list = [oneTime, snap(hoursAgo(2)), snap(hoursAgo(3))];
    const d = applyRetention(list, { type: "count", keep: 2, includeOneTime: true }, NOW);
    assert.deepEqual(inputs(d.keep), list.slice(0, 2));
    assert.deepEqual(inputs(d.remove), [list[2]]);
  });

  void it("the manifest's time wins over the name's; an invalid manifest date falls back to the name", () => {
    const fromManifest = snap(hoursAgo(1), { name: "2020-01-01T00:00:00Z_etcd", verified: false });
    const invalid = snap(new Date(Number.NaN), { name: `${formatInstant(hoursAgo(500))}_etcd`, verified: false });
    const recent = snap(hoursAgo(2));
    const d = applyRetention([fromManifest, invalid, recent], { type: "window", windowMs: DAY }, NOW);
    assert.deepEqual(inputs(d.keep), [fromManifest, recent]);
    assert.deepEqual(inputs(d.remove), [invalid]);
  });
});

void describe("the decision itself", () => {
  void it("holds the very objects given, each once, in input order", () => {
    const list = [5, 100, 2, 200, 1, 300].map((h) => snap(hoursAgo(h)));
    const twin = { ...list[0]! };
    const d = applyRetention([...list, twin], { type: "window", windowMs: 72 * HOUR }, NOW);
    assert.deepEqual(inputs(d.keep), [list[0], list[2], list[4], twin]);
    assert.deepEqual(inputs(d.remove), [list[1], list[3], list[5]]);
    assert.ok(d.remove.every((e) => list.includes(e.input)));
  });

  void it("does not change its inputs and gives the same answer twice", () => {
    const list = [1, 50, 100].map((h) => Object.freeze(snap(hoursAgo(h))));
    const before = JSON.stringify(list);
    const first = applyRetention(list, { type: "count", keep: 1 }, NOW);
    assert.equal(JSON.stringify(list), before);
    assert.deepEqual(applyRetention(list, { type: "count", keep: 1 }, NOW), first);
  });

  void it("rejects invalid policies with a ConfigError naming the field", () => {
    const cases: [unknown, string][] = [
      [{ type: "window", windowMs: 0 }, "policy.windowMs"],
      [{ type: "count", keep: 0 }, "policy.keep"],
      [{ type: "count", keep: 2.5 }, "policy.keep"],
      [{ type: "tiered", daily: -1 }, "policy.daily"],
      [{ type: "tiered" }, "policy"],
      [{ type: "tiered", daily: 0, weekly: 0 }, "policy"],
      [{ type: "tiered", keepDaily: 3 }, "policy"],
      [{ type: "count", keep: 1, clusterId: "" }, "policy.clusterId"],
      [{ type: "everything" }, "policy.type"],
    ];
    for (const [policy, path] of cases) {
      assert.throws(
        () => applyRetention([snap(hoursAgo(1))], policy as RetentionPolicy, NOW),
        (err: unknown) => err instanceof ConfigError && err.issues.some((i) => i.path === path),
        JSON.stringify(policy),
      );
    }
  });

  void it("rejects an invalid clock", () => {
    assert.throws(() => applyRetention([], { type: "count", keep: 1 }, new Date("nope")), RangeError);
  });
});
