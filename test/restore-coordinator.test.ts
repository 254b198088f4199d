/**
 * The restore coordinator and --rollback (src/restore/coordinator.ts, rollback.ts) in-process against fake nodes
 * (test/helpers/restore-fakes.ts): every branch that decides whether the running cluster is untouched, rolled back,
 * or left for --rollback, without etcd.
 */
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { readFile } from "node:fs/promises";
import { test } from "node:test";
import { exitCodeFor } from "../src/cli/main.js";
import { runRestore, type RestoreInput } from "../src/restore/coordinator.js";
import { runRollback } from "../src/restore/rollback.js";
import type { Signals } from "../src/restore/sessions.js";
import { ChecksumMismatchError, ExitCode } from "../src/util/errors.js";
import { fakeFleet, MEMBERS, NEW_ID, OLD_ID, OTHER_SHA, SHA, type Fleet } from "./helpers/restore-fakes.js";

const input = (over: Partial<RestoreInput> = {}): RestoreInput => ({
  name: "snap1",
  members: MEMBERS,
  healthTimeoutMs: 60_000,
  ...over,
});

const steps = (f: Fleet, step: string) => f.log.filter((l) => l.endsWith(`:${step}`)).map((l) => l.split(":")[0]);

function assertUntouched(f: Fleet) {
  assert.deepEqual(steps(f, "stop"), [], "no member was stopped");
  assert.deepEqual(steps(f, "apply"), []);
  for (const n of f.nodes) {
    assert.equal(n.member, "running");
    assert.equal(n.data, "old");
  }
  assertReleased(f);
}

function assertReleased(f: Fleet) {
  for (const n of f.nodes) {
    const opened = n.sessions.filter((s) => s.startsWith("open")).length;
    if (opened) assert.ok(n.sessions.at(-1)?.startsWith("release"), `${n.name} released`);
  }
}

function assertRolledBack(f: Fleet) {
  for (const n of f.nodes) {
    assert.equal(n.data, "old", `${n.name} has its old data back`);
    assert.equal(n.member, "running", `${n.name} was started again`);
  }
  assert.deepEqual(steps(f, "rollback").sort(), ["etcd-a", "etcd-b", "etcd-c"]);
  assertReleased(f);
}

async function withFleet(options: Parameters<typeof fakeFleet>[0], fn: (f: Fleet) => Promise<void>, state = {}) {
  const f = await fakeFleet(options, state);
  try {
    await fn(f);
  } finally {
    await f.cleanup();
  }
}

test("restore: stops the leader first, rebuilds every node, records the restore, releases every node", () =>
  withFleet({}, async (f) => {
    assert.equal(await runRestore(input(), f.deps), ExitCode.ok);
    assert.deepEqual(steps(f, "stop"), ["etcd-b", "etcd-a", "etcd-c"]);
    for (const n of f.nodes) assert.deepEqual([n.member, n.data], ["running", "new"]);
    const state = JSON.parse(await readFile(f.statePath, "utf8")) as { lifeboat: { restores: object[] } };
    assert.equal(state.lifeboat.restores.length, 1);
    assert.deepEqual(
      { ...state.lifeboat.restores[0] },
      { ...state.lifeboat.restores[0], snapshot: "snap1", sha256: SHA, clusterId: NEW_ID, previousClusterId: OLD_ID },
    );
    assert.ok(f.log.includes("push lineage"));
    assert.ok(f.lines.some((l) => l.startsWith("Finished restoring snapshot [snap1]")));
    assertReleased(f);
  }));

test("restore --dry-run: prints the digest, the stop order and the state-file decision; holds nothing", () =>
  withFleet({}, async (f) => {
    assert.equal(await runRestore(input({ dryRun: true }), f.deps), ExitCode.ok);
    const text = f.lines.join("\n");
    assert.match(text, new RegExp(`digest: +sha256:${SHA}`));
    assert.match(text, /stop order: +etcd-b, etcd-a, etcd-c/);
    assert.match(text, new RegExp(`state file: +the archive's when it has one.*${f.statePath}\\.from-snapshot`));
    assert.match(text, new RegExp(`cluster ID: +a new one, not ${OLD_ID}`));
    assert.ok(!f.log.includes("confirm"));
    for (const n of f.nodes) assert.deepEqual(n.sessions, []);
  }));

test("restore: etcd tools of another minor series than the member are refused in the plan (exit 2), nothing held", () =>
  withFleet({ "etcd-b": { toolVersion: "3.4.23" } }, async (f) => {
    const err = await runRestore(input(), f.deps).catch((e: unknown) => e);
    assert.equal(exitCodeFor(err), ExitCode.usage);
    assert.match(String(err), /etcd-b: its etcd tools are etcdutl 3\.4\.23 but its member runs etcd 3\.5\.30/);
    assert.match(String(err), /lifeboat\.etcd\.tools_dir at etcd 3\.5 tools/);
    assert.doesNotMatch(String(err), /etcd-a|etcd-c/, "only the node whose tools do not match is named");
    assert.ok(!f.log.includes("confirm"), "refused before the confirmation");
    for (const n of f.nodes) assert.deepEqual(n.sessions, [], `${n.name} was never held`);
    assertUntouched(f);
    const dry = await runRestore(input({ dryRun: true }), f.deps).catch((e: unknown) => e);
    assert.equal(exitCodeFor(dry), ExitCode.usage, "--dry-run refuses the same plan");
  }));

test("restore: a member that does not answer has no version to compare: the plan goes ahead and says so", () =>
  withFleet({ "etcd-c": { toolVersion: "3.4.23", memberVersion: null } }, async (f) => {
    assert.equal(await runRestore(input({ dryRun: true }), f.deps), ExitCode.ok);
    assert.ok(
      f.lines.some((l) => /etcd-c .*etcdutl 3\.4\.23, member version unknown/.test(l)),
      f.lines.join("\n"),
    );
  }));

test("restore: a fetch that fails leaves the running cluster untouched", () =>
  withFleet({ "etcd-c": { fails: ["fetch"] } }, async (f) => {
    await assert.rejects(runRestore(input(), f.deps), /fetch failed on etcd-c.*the running cluster is untouched/);
    assertUntouched(f);
  }));

test("restore: a copy with another digest is an integrity failure (exit 4), untouched", () =>
  withFleet({ "etcd-c": { sha256: OTHER_SHA } }, async (f) => {
    const err = await runRestore(input(), f.deps).catch((e: unknown) => e);
    assert.ok(err instanceof ChecksumMismatchError);
    assert.equal(exitCodeFor(err), ExitCode.integrity);
    assert.match(err.message, new RegExp(`etcd-c has sha256:${OTHER_SHA}.*untouched`));
    assertUntouched(f);
  }));

test("restore: a prepared file whose digest is not the plan's is refused as the serving node's failure, untouched", () =>
  withFleet({ "etcd-a": { sha256: OTHER_SHA } }, async (f) => {
    const err = await runRestore(input(), f.deps).catch((e: unknown) => e);
    assert.equal(exitCodeFor(err), ExitCode.integrity);
    assert.match(String(err), new RegExp(`prepared on etcd-a has sha256:${OTHER_SHA}, the plan expects sha256:${SHA}`));
    // The peers fetch while the serving node prepares; they are told the manifest's digest, so theirs is checked too.
    assert.deepEqual(steps(f, "fetch").sort(), ["etcd-b", "etcd-c"]);
    assertUntouched(f);
  }));

test("restore: a prepare that fails while the peers fetch is the error reported, not theirs; untouched", () =>
  withFleet({ "etcd-a": { fails: ["prepare"] }, "etcd-b": { fails: ["fetch"] } }, async (f) => {
    const err = await runRestore(input(), f.deps).catch((e: unknown) => e);
    assert.match(String(err), /prepare failed on etcd-a; the running cluster is untouched/);
    assert.doesNotMatch(String(err), /fetch failed/);
    assertUntouched(f);
  }));

test("restore: a stop that fails on one node rolls every node back (exit 5, names the node)", () =>
  withFleet({ "etcd-a": { fails: ["stop"] } }, async (f) => {
    const err = await runRestore(input(), f.deps).catch((e: unknown) => e);
    assert.equal(exitCodeFor(err), ExitCode.restoreFailed);
    assert.match(String(err), /restore failed: etcd-a: stop failed on etcd-a; rolled back/);
    assert.deepEqual(steps(f, "stop"), ["etcd-b", "etcd-a", "etcd-c"], "the rest still stopped");
    assertRolledBack(f);
  }));

test("restore: an apply that fails on one node rolls every node back and starts them", () =>
  withFleet({ "etcd-c": { fails: ["apply"] } }, async (f) => {
    const err = await runRestore(input(), f.deps).catch((e: unknown) => e);
    assert.equal(exitCodeFor(err), ExitCode.restoreFailed);
    assert.match(String(err), /etcd-c: apply failed on etcd-c; rolled back: every node has its old data/);
    assertRolledBack(f);
  }));

test("restore: a start that hangs past the timeout fails naming the node, and everything is rolled back", () =>
  withFleet({ "etcd-c": { hangs: ["start"] } }, async (f) => {
    const err = await runRestore(input({ healthTimeoutMs: 50 }), f.deps).catch((e: unknown) => e);
    assert.equal(exitCodeFor(err), ExitCode.restoreFailed);
    assert.match(String(err), /did not start within 0\.05 s \(still starting: etcd-c\)/);
    assertRolledBack(f);
  }));

test("restore: a cluster that never becomes healthy fails at the deadline (fake clock) and is rolled back", () =>
  withFleet({ "etcd-b": { neverHealthy: true } }, async (f) => {
    const err = await runRestore(input({ healthTimeoutMs: 5_000 }), f.deps).catch((e: unknown) => e);
    assert.equal(exitCodeFor(err), ExitCode.restoreFailed);
    assert.match(String(err), /not healthy within 5 s: etcd-b has no leader/);
    assertRolledBack(f);
  }));

test("restore: a rollback that itself fails on one node says which (exit 5, run --rollback)", () =>
  withFleet({ "etcd-a": { fails: ["apply"] }, "etcd-b": { fails: ["rollback"] } }, async (f) => {
    const err = await runRestore(input(), f.deps).catch((e: unknown) => e);
    assert.equal(exitCodeFor(err), ExitCode.restoreFailed);
    assert.match(String(err), /rollback incomplete \(etcd-b: rollback failed on etcd-b\).*snapshot-restore --rollback/);
    assertReleased(f);
  }));

test("restore: a failing post-restore hook is a partial success (exit 3)", () =>
  withFleet({ "etcd-a": { hookCodes: [0, 1] } }, async (f) => {
    assert.equal(await runRestore(input(), f.deps), ExitCode.partial);
    assert.ok(f.lines.includes("hook on etcd-a: `hook` exited 1"));
    for (const n of f.nodes) assert.equal(n.data, "new");
  }));

/** Signals delivered by the test; `exits` records the exit codes asked for. */
function fakeSignals() {
  const emitter = new EventEmitter();
  const exits: number[] = [];
  const signals: Signals = {
    on: (s, h) => emitter.on(s, h),
    off: (s, h) => emitter.off(s, h),
    exit: (code) => void exits.push(code),
  };
  return { signals, exits, send: (s: NodeJS.Signals) => emitter.emit(s, s) };
}

async function until(cond: () => boolean) {
  for (let i = 0; i < 1000 && !cond(); i++) await new Promise((r) => setImmediate(r));
  assert.ok(cond(), "condition reached");
}

test("restore: Ctrl-C before the stop releases every node and exits 130, nothing changed", () =>
  withFleet({ "etcd-a": { hangs: ["prepare"] } }, async (f) => {
    const s = fakeSignals();
    void runRestore(input(), { ...f.deps, signals: s.signals });
    await until(() => f.log.includes("etcd-a:prepare"));
    s.send("SIGINT");
    await until(() => s.exits.length > 0);
    assert.deepEqual(s.exits, [130]);
    assert.ok(f.notes.some((n) => /SIGINT: stopping; releasing the nodes \(nothing was changed\)/.test(n)));
    assertUntouched(f);
  }));

test("restore: Ctrl-C while members are down only warns; a second one exits", () =>
  withFleet({ "etcd-c": { hangs: ["apply"] } }, async (f) => {
    const s = fakeSignals();
    void runRestore(input(), { ...f.deps, signals: s.signals });
    await until(() => f.log.includes("etcd-c:apply"));
    s.send("SIGINT");
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(s.exits, [], "the first signal does not stop a rebuild");
    assert.ok(f.notes.some((n) => /being rebuilt.*--rollback/.test(n)));
    s.send("SIGINT");
    await until(() => s.exits.length > 0);
    assert.deepEqual(s.exits, [130]);
  }));

const record = (stamp: string) => ({
  stamp,
  name: "snap1",
  dataDir: "/data/x",
  oldDataDir: "/data/x.old",
  swappedAt: "2026-11-27T10:00:00Z",
});

test("rollback: a restore pending on some nodes is rolled back there only", () =>
  withFleet({ "etcd-b": { pendingRollback: record("S1") } }, async (f) => {
    f.nodes[1]!.data = "new";
    assert.equal(await runRollback({ healthTimeoutMs: 1000 }, f.deps), ExitCode.ok);
    assert.deepEqual(steps(f, "rollback"), ["etcd-b"]);
    assert.deepEqual(steps(f, "start"), ["etcd-b"]);
    assert.deepEqual(f.nodes[0]!.sessions, [], "a node with nothing pending is not held");
    assert.equal(f.nodes[1]!.data, "old");
    assertReleased(f);
  }));

test("rollback: with nothing pending, undoes the last restore on every node and records the undo", () => {
  const last = { ...record("S2"), oldDataDirExists: true };
  const state = {
    lifeboat: { restores: [{ snapshot: "snap1", at: "2026-11-27T10:00:00Z", stamp: "S2", clusterId: NEW_ID }] },
  };
  return withFleet(
    { "etcd-a": { lastRestored: last }, "etcd-b": { lastRestored: last }, "etcd-c": { lastRestored: last } },
    async (f) => {
      for (const n of f.nodes) n.data = "new";
      assert.equal(await runRollback({ healthTimeoutMs: 1000 }, f.deps), ExitCode.ok);
      assert.deepEqual(steps(f, "stop"), ["etcd-a", "etcd-b", "etcd-c"]);
      assert.equal(f.log.filter((l) => l.endsWith("rollback to S2")).length, 3);
      const written = JSON.parse(await readFile(f.statePath, "utf8")) as { lifeboat: { restores: object[] } };
      assert.deepEqual(written.lifeboat.restores.at(-1), {
        ...written.lifeboat.restores.at(-1),
        undoes: "S2",
        clusterId: OLD_ID,
      });
      assertRolledBack(f);
    },
    state,
  );
});

test("rollback: refuses with nothing to put back (exit 2), nothing held", () =>
  withFleet({}, async (f) => {
    const err = await runRollback({ healthTimeoutMs: 1000 }, f.deps).catch((e: unknown) => e);
    assert.equal(exitCodeFor(err), ExitCode.usage);
    assert.match(String(err), /nothing to roll back: .*records no restore/);
    assert.ok(!f.log.includes("confirm"));
    for (const n of f.nodes) assert.deepEqual(n.sessions, []);
  }));

test("rollback: refuses when a node no longer has the old data, naming it; nothing stopped", () => {
  const last = { ...record("S3"), oldDataDirExists: true };
  const state = { lifeboat: { restores: [{ snapshot: "snap1", at: "T", stamp: "S3" }] } };
  return withFleet(
    {
      "etcd-a": { lastRestored: last },
      "etcd-b": { lastRestored: last },
      "etcd-c": { lastRestored: { ...last, oldDataDir: "/data/etcd-c.old-S3", oldDataDirExists: false } },
    },
    async (f) => {
      const err = await runRollback({ healthTimeoutMs: 1000 }, f.deps).catch((e: unknown) => e);
      assert.equal(exitCodeFor(err), ExitCode.usage);
      assert.match(String(err), /etcd-c no longer has \/data\/etcd-c\.old-S3\. Nothing was stopped\./);
      assertUntouched(f);
    },
    state,
  );
});

test("rollback: a node whose rollback fails is named, exit 5", () =>
  withFleet({ "etcd-a": { pendingRollback: record("S4"), fails: ["rollback"] } }, async (f) => {
    assert.equal(await runRollback({ healthTimeoutMs: 1000 }, f.deps), ExitCode.restoreFailed);
    assert.ok(f.lines.some((l) => /rollback incomplete \(etcd-a: rollback failed on etcd-a\)/.test(l)));
    assertReleased(f);
  }));
