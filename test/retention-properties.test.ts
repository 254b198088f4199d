import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { NEWEST_VERIFIED, NO_TIME, ONE_TIME, applyRetention, formatInstant } from "../src/retention/index.js";
import type { RetentionDecision, RetentionInput, RetentionPolicy, RetentionScope } from "../src/retention/index.js";

const CASES = 400;
const SEED = 0x5eed_2026;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const LOCATIONS = ["node:etcd-a", "node:etcd-b", "node:etcd-c", "s3"];
const CLUSTERS = ["c-1", "c-2", undefined];

/** mulberry32: small, seedable, good enough to spread test cases. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Case {
  readonly now: Date;
  readonly policy: RetentionPolicy;
  readonly inputs: readonly RetentionInput[];
  /** The creation time each input was generated with (undefined: none is recoverable). */
  readonly truth: ReadonlyMap<RetentionInput, Date | undefined>;
}

function generate(rand: () => number): Case {
  const int = (lo: number, hi: number): number => lo + Math.floor(rand() * (hi - lo + 1));
  const pick = <T>(xs: readonly T[]): T => xs[int(0, xs.length - 1)] as T;
  const now = new Date(Date.UTC(2026, 10, 26) + int(0, 30 * DAY));
  const truth = new Map<RetentionInput, Date | undefined>();
  const inputs = Array.from({ length: int(0, 40) }, (_, i) => {
    const future = rand() < 0.05;
    const time = new Date(Math.floor((now.getTime() + (future ? int(1, DAY) : -int(0, 60 * DAY))) / 1000) * 1000);
    const source = rand();
    const clusterId = pick(CLUSTERS);
    const base = {
      location: pick(LOCATIONS),
      kind: rand() < 0.2 ? ("one-time" as const) : ("recurring" as const),
      verified: rand() < 0.7,
      ...(clusterId === undefined ? {} : { clusterId }),
    };
    const input: RetentionInput =
      source < 0.6
        ? { ...base, name: `snap-${i}`, created: time }
        : source < 0.85
          ? { ...base, name: `${formatInstant(time)}_etcd${rand() < 0.5 ? ".zip" : ""}` }
          : { ...base, name: `rke_etcd_snapshot_${i}` };
    truth.set(input, source < 0.85 ? time : undefined);
    return Object.freeze(input);
  });
  return { now, policy: randomPolicy(int, rand), inputs, truth };
}

function randomPolicy(int: (lo: number, hi: number) => number, rand: () => number): RetentionPolicy {
  const scope: RetentionScope = {
    ...(rand() < 0.5 ? { clusterId: "c-1" } : {}),
    ...(rand() < 0.5 ? { includeOneTime: rand() < 0.5 } : {}),
  };
  const type = int(0, 2);
  if (type === 0) return { type: "window", windowMs: int(1, 10 * 24) * HOUR, ...scope };
  if (type === 1) return { type: "count", keep: int(1, 8), ...scope };
  const tier = (): number | undefined => (rand() < 0.5 ? int(0, 5) : undefined);
  const tiers = { last: tier(), hourly: tier(), daily: tier(), weekly: tier(), monthly: tier(), yearly: tier() };
  const within = rand() < 0.3 ? int(1, 20 * 24) * HOUR : undefined;
  const set = Object.fromEntries(Object.entries({ ...tiers, within }).filter(([, v]) => v !== undefined));
  const anyTier = Object.values(set).some((v) => v !== undefined && v > 0);
  return { type: "tiered", ...set, ...(anyTier ? {} : { daily: 1 }), ...scope };
}

const inScope = (c: Case, input: RetentionInput): boolean =>
  c.policy.clusterId === undefined || input.clusterId === c.policy.clusterId;
const kept = (d: RetentionDecision, input: RetentionInput): boolean => d.keep.some((e) => e.input === input);
const reasons = (d: RetentionDecision, input: RetentionInput): readonly string[] =>
  [...d.keep, ...d.remove].find((e) => e.input === input)?.reasons ?? [];

function checkPartition(c: Case, d: RetentionDecision): void {
  const seen = new Map<RetentionInput, number>();
  for (const e of [...d.keep, ...d.remove]) seen.set(e.input, (seen.get(e.input) ?? 0) + 1);
  assert.equal(d.keep.length + d.remove.length, c.inputs.length);
  for (const input of c.inputs) assert.equal(seen.get(input), 1, `${input.name} appears once`);
  for (const list of [d.keep, d.remove]) {
    const order = list.map((e) => c.inputs.indexOf(e.input));
    assert.deepEqual(
      order,
      [...order].sort((a, b) => a - b),
      "input order",
    );
    for (const e of list) assert.ok(e.reasons.length > 0 && e.reasons.every((r) => r.length > 0), "reasons");
  }
}

function checkNewestVerified(c: Case, d: RetentionDecision): void {
  const groups = new Map<string, RetentionInput[]>();
  for (const input of c.inputs) {
    if (!input.verified || c.truth.get(input) === undefined) continue;
    const key = `${input.location} ${input.clusterId ?? "-"}`;
    groups.set(key, [...(groups.get(key) ?? []), input]);
  }
  for (const [key, group] of groups) {
    const newest = Math.max(...group.map((i) => c.truth.get(i)?.getTime() ?? -Infinity));
    const candidates = group.filter((i) => c.truth.get(i)?.getTime() === newest);
    const marked = (i: RetentionInput): boolean => !inScope(c, i) || reasons(d, i).includes(NEWEST_VERIFIED);
    assert.ok(
      candidates.some((i) => kept(d, i) && marked(i)),
      `newest verified kept in ${key}`,
    );
  }
  for (const e of [...d.keep, ...d.remove]) {
    if (e.reasons.includes(NEWEST_VERIFIED)) assert.ok(e.input.verified, "only verified inputs are the newest");
  }
}

function checkScope(c: Case, d: RetentionDecision): void {
  for (const input of c.inputs) {
    const r = reasons(d, input);
    if (!inScope(c, input)) {
      assert.ok(kept(d, input), "other cluster kept");
      assert.match(r[0] ?? "", /^other cluster \(/);
    } else if (input.kind === "one-time" && c.policy.includeOneTime !== true) {
      assert.ok(kept(d, input), "one-time kept");
      assert.equal(r[0], ONE_TIME);
    } else if (c.truth.get(input) === undefined) {
      assert.ok(kept(d, input), "undated kept");
      assert.deepEqual(r, [NO_TIME]);
    }
  }
}

/** Policy-specific bounds that do not reimplement the policy. */
function checkPolicyBounds(c: Case, d: RetentionDecision): void {
  const policy = c.policy;
  if (policy.type === "window") {
    const cutoff = c.now.getTime() - policy.windowMs;
    for (const e of d.remove) assert.ok((c.truth.get(e.input)?.getTime() ?? Infinity) < cutoff, "removed is old");
  }
  if (policy.type === "count") {
    for (const e of d.remove) {
      const t = c.truth.get(e.input)?.getTime() ?? -Infinity;
      const newer = d.keep.filter(
        (k) =>
          k.input.location === e.input.location &&
          k.input.clusterId === e.input.clusterId &&
          k.reasons.some((r) => r.startsWith("one of the newest")) &&
          (c.truth.get(k.input)?.getTime() ?? -Infinity) >= t,
      );
      assert.equal(newer.length, policy.keep, "a removed snapshot has exactly `keep` newer ones kept by count");
    }
  }
}

/** Each location decided alone gives the same verdicts as all locations together. */
function checkLocationsIndependent(c: Case, d: RetentionDecision): void {
  for (const location of LOCATIONS) {
    const subset = c.inputs.filter((i) => i.location === location);
    const alone = applyRetention(subset, c.policy, c.now);
    for (const input of subset) {
      assert.equal(kept(alone, input), kept(d, input), `${location}: same verdict`);
      assert.deepEqual(reasons(alone, input), reasons(d, input), `${location}: same reasons`);
    }
  }
}

void describe(`retention properties over ${CASES} random cases (seed ${SEED})`, () => {
  const rand = prng(SEED);
  const cases = Array.from({ length: CASES }, () => generate(rand));

  void it("partition: every input once, in input order, with reasons", () => {
    for (const c of cases) checkPartition(c, applyRetention(c.inputs, c.policy, c.now));
  });

  void it("the newest verified snapshot of every location and cluster is kept", () => {
    for (const c of cases) checkNewestVerified(c, applyRetention(c.inputs, c.policy, c.now));
  });

  void it("other clusters, one-time (by default) and undated inputs are untouched", () => {
    for (const c of cases) checkScope(c, applyRetention(c.inputs, c.policy, c.now));
  });

  void it("window removes only what is older than the cutoff; count keeps exactly N newer than any removal", () => {
    for (const c of cases) checkPolicyBounds(c, applyRetention(c.inputs, c.policy, c.now));
  });

  void it("locations are decided independently", () => {
    for (const c of cases) checkLocationsIndependent(c, applyRetention(c.inputs, c.policy, c.now));
  });

  void it("a tiered `last: N` decides exactly like `count: N`", () => {
    for (const c of cases) {
      if (c.policy.type !== "count") continue;
      const { type: _type, keep, ...scope } = c.policy;
      const asTiered = applyRetention(c.inputs, { type: "tiered", last: keep, ...scope }, c.now);
      const asCount = applyRetention(c.inputs, c.policy, c.now);
      assert.deepEqual(
        asTiered.remove.map((e) => e.input),
        asCount.remove.map((e) => e.input),
      );
    }
  });

  void it("the cases exercise every branch the properties talk about", () => {
    const decisions = cases.map((c) => applyRetention(c.inputs, c.policy, c.now));
    const all = decisions.flatMap((d) => [...d.keep, ...d.remove].map((e) => e.reasons.join(" | ")));
    for (const fragment of ["other cluster", ONE_TIME, NO_TIME, "the policy alone would remove it", "oldest "]) {
      assert.ok(
        all.some((r) => r.includes(fragment)),
        fragment,
      );
    }
    assert.ok(decisions.filter((d) => d.remove.length > 0).length > CASES / 3, "enough removals");
  });
});
