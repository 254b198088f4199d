import assert from "node:assert/strict";
import { test } from "node:test";
import { buildRestorePlan, DEFAULT_BUMP, formatPlan, type PlanInput, type Preflight } from "../src/restore/plan.js";
import { ExitCode, UserError } from "../src/util/errors.js";

const members = ["a", "b", "c"].map((n, i) => ({
  name: `etcd-${n}`,
  agent: `127.0.0.${i + 2}:7443`,
  peerUrl: `https://127.0.0.${i + 2}:2380`,
  clientUrl: `https://127.0.0.${i + 2}:2379`,
  dataDir: `/var/lib/etcd-${n}`,
  postRestore: n === "a" ? ["systemctl restart kube-apiserver"] : [],
}));

const preflight = (supports: boolean, tool: Preflight["tool"] = "etcdutl"): Preflight[] =>
  members.map((m) => ({
    node: m.name,
    mode: "managed",
    tool,
    toolVersion: "3.5.30",
    memberVersion: "3.5.30",
    supportsBumpRevision: supports,
    dataDirExists: true,
  }));

const base = (over: Partial<PlanInput> = {}): PlanInput => ({
  name: "snap1",
  source: { kind: "s3", location: "s3://b/f (http://127.0.0.9:9000)", key: "snap1.zip" },
  members,
  preflight: preflight(true),
  snapshot: { sha256: "a".repeat(64), revision: 1000, size: 20512 },
  currentRevision: 5000,
  stateSource: "archive",
  statePath: "/etc/lifeboat/cluster.rkestate",
  now: new Date("2026-11-27T10:15:02.123Z"),
  ...over,
});

test("plan: every member gets the same initial cluster, a new token, and a staging and old dir beside its data dir", () => {
  const plan = buildRestorePlan(base());
  assert.equal(
    plan.initialCluster,
    "etcd-a=https://127.0.0.2:2380,etcd-b=https://127.0.0.3:2380,etcd-c=https://127.0.0.4:2380",
  );
  assert.match(plan.initialClusterToken, /^lifeboat-20261127t101502z-[0-9a-f]{8}$/);
  assert.notEqual(plan.initialClusterToken, "etcd-cluster-1");
  assert.equal(plan.stamp, "20261127T101502Z");
  assert.deepEqual(
    plan.members.map((m) => [m.stagingDir, m.oldDataDir]),
    ["a", "b", "c"].map((n) => [
      `/var/lib/etcd-${n}.restore-20261127T101502Z`,
      `/var/lib/etcd-${n}.old-20261127T101502Z`,
    ]),
  );
  assert.equal(plan.server, "etcd-a", "from S3, the first node in cluster.yml order serves");
});

test("plan: a local source is served by the node that holds it", () => {
  const plan = buildRestorePlan(base({ source: { kind: "node", node: "etcd-c", key: "snap1.zip" } }));
  assert.equal(plan.server, "etcd-c");
});

test("plan: bump = revision gap plus a margin when the running cluster reported its revision", () => {
  const plan = buildRestorePlan(base());
  assert.equal(plan.bump.amount, 4000 + 10_000);
  assert.equal(plan.bump.markCompacted, true);
  assert.match(plan.bump.reason, /revision 5000 and the snapshot at 1000/);
  const big = buildRestorePlan(base({ currentRevision: 1_001_000 }));
  assert.equal(big.bump.amount, 1_000_000 + 100_000, "the margin grows with the gap (10%)");
});

test("plan: bump falls back to etcd's documented amount when no member answered", () => {
  const plan = buildRestorePlan(base({ currentRevision: undefined }));
  assert.equal(plan.bump.amount, DEFAULT_BUMP);
  assert.match(plan.bump.reason, /recovery guide/);
});

test("plan: bump is off when any member's tool lacks --bump-revision, or with --bump-revision 0", () => {
  const old = preflight(true);
  old[1] = { ...old[1]!, tool: "etcdctl", toolVersion: "3.4.23", memberVersion: "3.4.23", supportsBumpRevision: false };
  const plan = buildRestorePlan(base({ preflight: old }));
  assert.equal(plan.bump.amount, 0);
  assert.equal(plan.bump.markCompacted, false);
  assert.match(plan.bump.reason, /cannot raise the revision on etcd-b \(etcdctl 3\.4\.23 has no --bump-revision\)/);
  assert.doesNotMatch(plan.bump.reason, /etcd-a|etcd-c/, "only the node that cannot bump is named");
  assert.deepEqual(
    plan.members.map((m) => m.supportsBumpRevision),
    [true, false, true],
  );
  assert.match(formatPlan(plan).join("\n"), /etcd-b .*etcdctl 3\.4\.23, no --bump-revision, member etcd 3\.4\.23/);
  assert.equal(buildRestorePlan(base({ bumpOverride: 0 })).bump.amount, 0);
  assert.equal(buildRestorePlan(base({ bumpOverride: 777 })).bump.amount, 777);
});

test("plan: the printed plan names source, digest, token, every member, its tool and hooks", () => {
  const text = formatPlan(buildRestorePlan(base({ leader: "etcd-b", previousClusterId: "c1" }))).join("\n");
  for (const needle of [
    "snap1.zip",
    `sha256:${"a".repeat(64)}`,
    "etcd-b",
    "etcdutl 3.5.30",
    "systemctl restart kube-apiserver",
    "kept as",
    "stop order:      etcd-b, etcd-a, etcd-c",
    "replaces /etc/lifeboat/cluster.rkestate",
    "/etc/lifeboat/cluster.rkestate.from-snapshot",
    "cluster ID:      a new one, not c1",
  ]) {
    assert.ok(text.includes(needle), `plan text lacks ${needle}`);
  }
});

test("plan: the leader is stopped first; without one the cluster.yml order stands; --use-local-state says so", () => {
  assert.deepEqual(buildRestorePlan(base({ leader: "etcd-c" })).stopOrder, ["etcd-c", "etcd-a", "etcd-b"]);
  assert.deepEqual(buildRestorePlan(base()).stopOrder, ["etcd-a", "etcd-b", "etcd-c"]);
  assert.match(buildRestorePlan(base({ stateSource: "local" })).stateFile, /--use-local-state/);
});

test("plan: refuses a node whose etcd tools are of another minor series than its member, naming each one", () => {
  const mixed = preflight(true);
  mixed[0] = { ...mixed[0]!, tool: "etcdctl", toolVersion: "3.4.23", supportsBumpRevision: false };
  mixed[2] = { ...mixed[2]!, toolVersion: "3.6.1" };
  assert.throws(
    () => buildRestorePlan(base({ preflight: mixed })),
    (err: unknown) => {
      assert.ok(err instanceof UserError);
      assert.equal(err.exitCode, ExitCode.usage);
      assert.match(err.message, /2 nodes' etcd tools do not match the member/);
      assert.match(err.message, /etcd-a: its etcd tools are etcdctl 3\.4\.23 but its member runs etcd 3\.5\.30/);
      assert.match(err.message, /etcd-c: its etcd tools are etcdutl 3\.6\.1 but its member runs etcd 3\.5\.30/);
      assert.match(err.message, /tools_dir/);
      assert.doesNotMatch(err.message, /etcd-b/);
      return true;
    },
  );
  const patch = preflight(true).map((p) => ({ ...p, toolVersion: "3.5.21" }));
  assert.doesNotThrow(() => buildRestorePlan(base({ preflight: patch })), "another patch release is the same series");
  const down = mixed.map((p) => ({ ...p, memberVersion: null }));
  assert.doesNotThrow(
    () => buildRestorePlan(base({ preflight: down })),
    "a member that did not answer is not compared",
  );
});

test("plan: refuses a member without preflight", () => {
  assert.throws(() => buildRestorePlan(base({ preflight: preflight(true).slice(0, 2) })), /no preflight for etcd-c/);
});

test("plan: with every member down, what manifests and restore records know is a lower bound: etcd's default applies", () => {
  const plan = buildRestorePlan(
    base({ currentRevision: undefined, knownRevision: { revision: 90_000, from: "s3: newest" } }),
  );
  assert.equal(
    plan.bump.amount,
    DEFAULT_BUMP,
    "an unknown current revision is never taken as 0 or as the newest manifest's",
  );
  assert.match(plan.bump.reason, /no running member reported its revision/);
  assert.match(plan.bump.reason, /90000, from s3: newest/);
});

test("plan: with every member down, a known gap larger than etcd's default wins, with its margin", () => {
  const known = DEFAULT_BUMP * 2;
  const plan = buildRestorePlan(base({ currentRevision: undefined, knownRevision: { revision: known, from: "x" } }));
  const gap = known - 1000;
  assert.equal(plan.bump.amount, gap + Math.ceil(gap / 10));
});

test("plan: a live revision lower than one known elsewhere uses the higher (watchers never see it go backwards)", () => {
  const plan = buildRestorePlan(base({ currentRevision: 5000, knownRevision: { revision: 50_000, from: "state" } }));
  assert.equal(plan.bump.amount, 49_000 + 10_000);
});
