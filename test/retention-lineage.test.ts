/**
 * Retention across restores: a restore gives etcd a new cluster ID, and the policy's `lineage` (the cluster IDs this
 * cluster has had, from the state file) makes the copies taken before it age out like the cluster's own, while truly
 * other clusters' copies stay and every location keeps its newest verified copy.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { applyRetention, formatInstant, retentionPolicyFromConfig } from "../src/retention/index.js";
import type { RetentionDecision, RetentionEntry, RetentionInput, RetentionPolicy } from "../src/retention/index.js";
import { ConfigError } from "../src/util/errors.js";

const NOW = new Date("2026-11-26T12:00:00Z");
const HOUR = 3_600_000;
const hoursAgo = (h: number): Date => new Date(NOW.getTime() - h * HOUR);

/** A recurring, verified copy on node etcd-a of cluster `clusterId`, named the RKE way. */
function snap(h: number, clusterId: string, extra: Partial<RetentionInput> = {}): RetentionInput {
  const created = hoursAgo(h);
  return {
    name: `${formatInstant(created)}_etcd`,
    location: "node:etcd-a",
    kind: "recurring",
    verified: true,
    created,
    clusterId,
    ...extra,
  };
}
const names = (entries: readonly RetentionEntry[]): string[] => entries.map((e) => e.input.name);
const of = (inputs: readonly RetentionInput[]): string[] => inputs.map((i) => i.name);
const reasonsOf = (d: RetentionDecision, input: RetentionInput): readonly string[] =>
  [...d.keep, ...d.remove].find((e) => e.input === input)?.reasons ?? assert.fail(`${input.name} not in decision`);

const window72h = { type: "window", windowMs: 72 * HOUR } as const;

void describe("retention across a restore (lineage)", () => {
  const before = [snap(200, "old"), snap(150, "old"), snap(100, "old")];
  const after = [snap(1, "new"), snap(10, "new")];

  void it("without a lineage, every copy from before the restore is another cluster's and is kept forever", () => {
    const d = applyRetention([...before, ...after], { ...window72h, clusterId: "new" }, NOW);
    assert.deepEqual(names(d.remove), []);
    for (const s of before) assert.match(reasonsOf(d, s)[0] ?? "", /^other cluster \(snapshot: old; policy: new\)$/);
  });

  void it("with the lineage, they are pruned by the policy like the cluster's own, and say why", () => {
    const d = applyRetention([...before, ...after], { ...window72h, clusterId: "new", lineage: ["old", "new"] }, NOW);
    assert.deepEqual(names(d.remove), of(before));
    assert.deepEqual(names(d.keep), of(after));
    assert.deepEqual(reasonsOf(d, before[0]!), [
      `older than 72h window (created ${formatInstant(hoursAgo(200))}, cutoff ${formatInstant(hoursAgo(72))})`,
      "cluster old is in this cluster's lineage (its cluster ID before or after a restore)",
    ]);
    assert.deepEqual(reasonsOf(d, after[0]!), [
      `within 72h window (created ${formatInstant(hoursAgo(1))})`,
      "newest verified snapshot (always kept)",
    ]);
  });

  void it("counts the lineage as one group: a count policy keeps N in total across its cluster IDs", () => {
    const list = [snap(1, "c3"), snap(2, "c2"), snap(3, "c2"), snap(4, "c1"), snap(5, "c1")];
    const d = applyRetention(list, { type: "count", keep: 3, clusterId: "c3", lineage: ["c1", "c2", "c3"] }, NOW);
    assert.deepEqual(names(d.keep), of(list.slice(0, 3)));
    assert.deepEqual(names(d.remove), of(list.slice(3)));
  });

  void it("keeps a truly other cluster's copies, naming the lineage it was checked against", () => {
    const foreign = snap(300, "0badc0ffee");
    const d = applyRetention([foreign, ...before, ...after], { ...window72h, clusterId: "new", lineage: ["old"] }, NOW);
    assert.deepEqual(reasonsOf(d, foreign), ["other cluster (snapshot: 0badc0ffee; policy: new; lineage: old)"]);
    assert.deepEqual(names(d.remove), of(before), "lineage: ['old'] also joins the policy's own cluster ID");
  });

  void it("never removes a location's newest verified copy, even when it is from before the restore", () => {
    const unverifiedAfter = snap(1, "new", { verified: false, location: "node:etcd-b" });
    const onB = before.map((s) => ({ ...s, location: "node:etcd-b" }));
    const d = applyRetention([unverifiedAfter, ...onB], { ...window72h, clusterId: "new", lineage: ["old"] }, NOW);
    assert.deepEqual(names(d.keep), of([unverifiedAfter, onB[2]!]));
    assert.equal(reasonsOf(d, onB[2]!)[0], "newest verified snapshot (always kept)");
    assert.deepEqual(names(d.remove), of(onB.slice(0, 2)));
  });

  void it("protects one newest verified copy per location for the whole lineage, not one per cluster ID", () => {
    const d = applyRetention([...before, ...after], { type: "count", keep: 1, lineage: ["old", "new"] }, NOW);
    assert.deepEqual(names(d.keep), of(after).slice(0, 1));
    assert.deepEqual(names(d.remove), [...of(before), ...of(after).slice(1)]);
  });

  void it("keeps one-time copies from before the restore unless --include-one-time", () => {
    const manual = snap(500, "old", { name: "before-upgrade", kind: "one-time" });
    const policy: RetentionPolicy = { ...window72h, clusterId: "new", lineage: ["old"] };
    assert.deepEqual(names(applyRetention([manual, ...after], policy, NOW).keep), of([manual, ...after]));
    const included = applyRetention([manual, ...after], { ...policy, includeOneTime: true }, NOW);
    assert.deepEqual(names(included.remove), ["before-upgrade"]);
  });
});

void describe("lineage in the policy", () => {
  it("comes from the configuration, and an empty one is left out", () => {
    const base = { retentionCount: 6, intervalHours: 12, clusterId: "new" };
    assert.deepEqual(retentionPolicyFromConfig({ ...base, lineage: ["old", "new"] }), {
      type: "window",
      windowMs: 72 * HOUR,
      clusterId: "new",
      lineage: ["old", "new"],
    });
    assert.deepEqual(retentionPolicyFromConfig({ ...base, lineage: [] }), {
      type: "window",
      windowMs: 72 * HOUR,
      clusterId: "new",
    });
  });

  it("rejects an empty cluster ID, naming the field", () => {
    assert.throws(
      () => applyRetention([], { ...window72h, lineage: ["old", ""] }, NOW),
      (err: unknown) => err instanceof ConfigError && /policy\.lineage\[1\]/.test(err.message),
    );
  });
});
