/**
 * The restore-cleanup plan (pure) and its listing and removal on a real temporary folder: keep the newest N data
 * directories, refuse while a restore is pending, ignore names that only look like ours, and never remove anything
 * outside the two folders or the live data directory.
 */
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  applyCleanup,
  listLeftovers,
  planCleanup,
  unsafeReason,
  type LeftoverEntry,
  type LeftoverKind,
  type LeftoverListing,
} from "../src/restore/leftovers.js";

const DATA = "/var/lib/etcd";
const RESTORE = "/opt/rke/etcd-snapshots-restore";
const NOW = new Date("2026-11-27T12:00:00Z");

const entry = (path: string, kind: LeftoverKind, stamp?: string): LeftoverEntry => ({
  path,
  kind,
  size: 4096,
  modified: "2026-11-20T00:00:00.000Z",
  ...(stamp ? { stamp } : {}),
});
const old = (stamp: string) => entry(`${DATA}.old-${stamp}`, "old-data", stamp);
const failed = (stamp: string) => entry(`${DATA}.failed-${stamp}`, "failed-data", stamp);
const listing = (entries: LeftoverEntry[], pending: LeftoverListing["pendingRollback"] = null): LeftoverListing => ({
  dataDir: DATA,
  restoreDir: RESTORE,
  entries,
  pendingRollback: pending,
});
const actions = (l: LeftoverListing, keep: number, busy?: string) =>
  Object.fromEntries(planCleanup(l, { keep, ...(busy ? { busy } : {}) }, NOW).items.map((i) => [i.path, i.action]));

describe("planCleanup", () => {
  // Listed out of order on purpose: the plan ranks by the stamp, .old- and .failed- together.
  const dirs = [old("20261125T080000Z"), failed("20261127T090000Z"), old("20261120T080000Z"), old("20261126T080000Z")];

  test("keeps the newest N data directories, by stamp, .old- and .failed- in one pool", () => {
    assert.deepEqual(actions(listing(dirs), 1), {
      [`${DATA}.failed-20261127T090000Z`]: "keep",
      [`${DATA}.old-20261126T080000Z`]: "remove",
      [`${DATA}.old-20261125T080000Z`]: "remove",
      [`${DATA}.old-20261120T080000Z`]: "remove",
    });
    const two = actions(listing(dirs), 2);
    assert.deepEqual(
      Object.keys(two)
        .filter((p) => two[p] === "keep")
        .sort(),
      [`${DATA}.failed-20261127T090000Z`, `${DATA}.old-20261126T080000Z`],
    );
    assert.ok(
      Object.values(actions(listing(dirs), 0)).every((a) => a === "remove"),
      "--keep 0 removes all",
    );
    assert.ok(Object.values(actions(listing(dirs), 10)).every((a) => a === "keep"));
  });

  test("gives every item a reason, a size and an age from its stamp", () => {
    const plan = planCleanup(listing(dirs), { keep: 1 }, NOW);
    const newest = plan.items.find((i) => i.path.endsWith("failed-20261127T090000Z"))!;
    assert.equal(newest.reason, "one of the 1 newest old data directories (--keep 1)");
    assert.equal(newest.ageSeconds, 3 * 3600);
    const older = plan.items.find((i) => i.path.endsWith("old-20261120T080000Z"))!;
    assert.equal(older.reason, "older than the 1 newest old data directories kept (--keep 1)");
    assert.equal(plan.refused, undefined);
  });

  test("removes restore files, ranks restore records apart, and keeps what it does not know", () => {
    const l = listing([
      old("20261126T080000Z"),
      entry(`${RESTORE}/snap1`, "snapshot"),
      entry(`${RESTORE}/download`, "download"),
      entry(`${DATA}.restore-20261127T100000Z`, "staging", "20261127T100000Z"),
      entry(`${RESTORE}/verify-abc123`, "verify"),
      entry(`${RESTORE}/.snap1.0a1b2c3d.part`, "partial"),
      entry(`${RESTORE}/restored-20261126T080000Z.json`, "record", "20261126T080000Z"),
      entry(`${RESTORE}/restored-20261120T080000Z.json`, "record", "20261120T080000Z"),
      entry(`${RESTORE}/notes.txt`, "unknown"),
    ]);
    assert.deepEqual(actions(l, 1), {
      [`${DATA}.old-20261126T080000Z`]: "keep",
      [`${RESTORE}/snap1`]: "remove",
      [`${RESTORE}/download`]: "remove",
      [`${DATA}.restore-20261127T100000Z`]: "remove",
      [`${RESTORE}/verify-abc123`]: "remove",
      [`${RESTORE}/.snap1.0a1b2c3d.part`]: "remove",
      [`${RESTORE}/restored-20261126T080000Z.json`]: "keep",
      [`${RESTORE}/restored-20261120T080000Z.json`]: "remove",
      [`${RESTORE}/notes.txt`]: "keep",
    });
  });

  test("refuses everything while a rollback record is pending, even an unreadable one, or the node is busy", () => {
    const l = [old("20261120T080000Z"), old("20261126T080000Z"), entry(`${RESTORE}/snap1`, "snapshot")];
    for (const pending of [{ name: "snap1", stamp: "20261127T110000Z" }, { error: "rollback.json does not parse" }]) {
      const plan = planCleanup(listing(l, pending), { keep: 0 }, NOW);
      assert.match(plan.refused ?? "", /a restore is in progress or awaiting rollback .*rollback\.json/);
      assert.ok(plan.items.every((i) => i.action === "keep"));
      assert.ok(plan.items.every((i) => i.reason.startsWith("not removed: a restore is in progress")));
    }
    const busy = planCleanup(listing(l), { keep: 0, busy: "busy with restore of snap1" }, NOW);
    assert.equal(busy.refused, "busy with restore of snap1");
    assert.ok(busy.items.every((i) => i.action === "keep"));
  });

  test("never removes the live data directory, its parent, or anything outside the two folders", () => {
    const crafted = [
      entry(DATA, "old-data"),
      entry("/var/lib", "old-data"),
      entry("/var/lib/etcd2.old-20261120T080000Z", "old-data", "20261120T080000Z"),
      entry("/var/lib/other/etcd.old-20261120T080000Z", "old-data", "20261120T080000Z"),
      entry(`${DATA}.old-20261120T080000Z`, "staging", "20261120T080000Z"),
      entry(`${DATA}.oldish`, "old-data"),
      entry(`${RESTORE}/../../../etc/passwd`, "snapshot"),
      entry(`${RESTORE}/download/inner`, "snapshot"),
      entry(`${RESTORE}/rollback.json`, "record"),
      entry(RESTORE, "download"),
      entry("/opt/rke", "download"),
    ];
    for (const e of crafted) assert.ok(unsafeReason(listing([]), e), `${e.path} (${e.kind}) must be refused`);
    assert.ok(Object.values(actions(listing(crafted), 0)).every((a) => a === "keep"));
    assert.equal(unsafeReason(listing([]), old("20261120T080000Z")), undefined);
    assert.equal(unsafeReason(listing([]), entry(`${RESTORE}/..snap`, "snapshot")), undefined);
    // A restore directory inside the live data directory still never exposes the data directory itself.
    assert.match(unsafeReason({ dataDir: DATA, restoreDir: `${DATA}/restore` }, entry(DATA, "snapshot")) ?? "", /live/);
  });
});

describe("listLeftovers and applyCleanup on a real folder", () => {
  let root: string;
  let dataDir: string;
  let restoreDir: string;
  const snapshotBytes = Buffer.alloc(4096 + 32, 7);

  before(async () => {
    root = await mkdtemp(join(tmpdir(), "lifeboat-leftovers-"));
    dataDir = join(root, "etcd-data");
    restoreDir = join(root, "restore");
    for (const dir of [
      join(dataDir, "member"),
      join(root, "etcd-data.old-20261120T080000Z", "member"),
      join(root, "etcd-data.old-20261126T080000Z", "member"),
      join(root, "etcd-data.failed-20261125T080000Z"),
      join(root, "etcd-data.restore-20261127T100000Z"),
      // Names that only look like ours.
      join(root, "etcd-data.oldish"),
      join(root, "etcd-data.old-"),
      join(root, "etcd-data.old-2026.bak"),
      join(root, "etcd-data2.old-20261120T080000Z"),
      join(root, "other.failed-20261120T080000Z"),
      join(restoreDir, "download"),
      join(restoreDir, "keepme"),
    ])
      await mkdir(dir, { recursive: true });
    await writeFile(join(dataDir, "member", "db"), "live");
    await writeFile(join(root, "etcd-data.old-20261120T080000Z", "member", "db"), Buffer.alloc(1000));
    await writeFile(join(root, "etcd-data.old-20261126T080000Z", "member", "db"), Buffer.alloc(300));
    await mkdir(join(root, "elsewhere"));
    await symlink(join(root, "elsewhere"), join(root, "etcd-data.old-20261127T000000Z"));
    await writeFile(join(restoreDir, "snap1"), snapshotBytes);
    await writeFile(join(restoreDir, "download", "snap1.zip"), "zip");
    await writeFile(join(restoreDir, "restored-20261126T080000Z.json"), "{}");
    await writeFile(join(restoreDir, "notes.txt"), "hello");
  });
  after(() => rm(root, { recursive: true, force: true }));

  test("lists exactly the siblings named <basename>.<kind>-<stamp> and classifies the restore directory", async () => {
    const l = await listLeftovers({ dataDir, restoreDir });
    const kinds = Object.fromEntries(l.entries.map((e) => [e.path.slice(root.length + 1), e.kind]));
    assert.deepEqual(kinds, {
      "etcd-data.failed-20261125T080000Z": "failed-data",
      "etcd-data.old-20261120T080000Z": "old-data",
      "etcd-data.old-20261126T080000Z": "old-data",
      "etcd-data.old-20261127T000000Z": "old-data",
      "etcd-data.restore-20261127T100000Z": "staging",
      "restore/download": "download",
      "restore/keepme": "unknown",
      "restore/notes.txt": "unknown",
      "restore/restored-20261126T080000Z.json": "record",
      "restore/snap1": "snapshot",
    });
    const size = (p: string) => l.entries.find((e) => e.path === join(root, p))?.size;
    assert.equal(size("etcd-data.old-20261120T080000Z"), 1000, "directory sizes are summed");
    assert.equal(size("restore/snap1"), snapshotBytes.length);
    assert.equal(l.entries.find((e) => e.path.endsWith("T000000Z"))?.symlink, true);
    assert.equal(l.pendingRollback, null);
  });

  test("a pending rollback record refuses the node and removes nothing", async () => {
    const before = await readdir(root, { recursive: true });
    await writeFile(
      join(restoreDir, "rollback.json"),
      JSON.stringify({ stamp: "S", name: "snap1", dataDir, swappedAt: "x" }),
    );
    try {
      const plan = planCleanup(await listLeftovers({ dataDir, restoreDir }), { keep: 0 }, NOW);
      assert.match(plan.refused ?? "", /restore of snap1 at S/);
      assert.deepEqual(await applyCleanup(plan), { removed: [], failed: [] });
      assert.deepEqual((await readdir(root, { recursive: true })).sort(), [...before, "restore/rollback.json"].sort());
    } finally {
      await rm(join(restoreDir, "rollback.json"));
    }
  });

  test("a rollback record that appears after planning stops the removal", async () => {
    const plan = planCleanup(await listLeftovers({ dataDir, restoreDir }), { keep: 0 }, NOW);
    await writeFile(join(restoreDir, "rollback.json"), "{}");
    try {
      const result = await applyCleanup(plan);
      assert.deepEqual(result.removed, []);
      assert.ok(result.failed.length > 0 && result.failed.every((f) => /a restore started/.test(f.error)));
      assert.ok((await readdir(root)).includes("etcd-data.old-20261120T080000Z"));
    } finally {
      await rm(join(restoreDir, "rollback.json"));
    }
  });

  test("a tampered plan cannot reach outside the folders", async () => {
    const outside = join(root, "elsewhere", "precious");
    await writeFile(outside, "x");
    const plan = planCleanup(await listLeftovers({ dataDir, restoreDir }), { keep: 0 }, NOW);
    const tampered = { ...plan.items[0]!, action: "remove" as const, reason: "tampered" };
    plan.items = [
      { ...tampered, path: outside, kind: "snapshot" },
      { ...tampered, path: dataDir, kind: "old-data" },
    ];
    const result = await applyCleanup(plan);
    assert.deepEqual(result.removed, []);
    assert.equal(result.failed.length, 2);
    assert.deepEqual(await readdir(join(root, "elsewhere")), ["precious"]);
    assert.deepEqual(await readdir(dataDir), ["member"]);
  });

  test("removes all but the newest data directory and every stale restore file; leaves the rest", async () => {
    const plan = planCleanup(await listLeftovers({ dataDir, restoreDir }), { keep: 1 }, NOW);
    const result = await applyCleanup(plan);
    assert.deepEqual(result.failed, []);
    assert.deepEqual((await readdir(root)).sort(), [
      "elsewhere",
      "etcd-data",
      "etcd-data.old-",
      "etcd-data.old-2026.bak",
      "etcd-data.old-20261126T080000Z",
      "etcd-data.old-20261127T000000Z",
      "etcd-data.oldish",
      "etcd-data2.old-20261120T080000Z",
      "other.failed-20261120T080000Z",
      "restore",
    ]);
    assert.deepEqual((await readdir(restoreDir)).sort(), ["keepme", "notes.txt", "restored-20261126T080000Z.json"]);
    assert.deepEqual(await readdir(join(dataDir, "member")), ["db"], "the live data directory is untouched");
  });
});
