/**
 * Planning a prune or a deletion from listed copies (pure), and carrying it out on a real directory: manifest
 * before archive, nothing outside the plan touched.
 */
import assert from "node:assert/strict";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import type { CatalogEntry } from "../src/snapshot/catalog.js";
import type { Manifest } from "../src/snapshot/manifest.js";
import { planDelete } from "../src/snapshot/prune-delete.js";
import { deletionKeys, executePrune, planPrune, removeCopy, retentionInputOf } from "../src/snapshot/prune.js";
import { LocalStore } from "../src/store/local.js";

const HOUR = 3_600_000;
const NOW = new Date("2026-11-27T12:00:00Z");

function entry(
  name: string,
  opts: {
    hoursAgo?: number;
    kind?: Manifest["kind"];
    cluster?: string;
    status?: CatalogEntry["status"];
    location?: string;
  } = {},
): CatalogEntry {
  const status = opts.status ?? "ok";
  const base: CatalogEntry = {
    name,
    location: opts.location ?? "node:a",
    format: "zip",
    key: `${name}.zip`,
    size: 100,
    modified: NOW.toISOString(),
    status,
  };
  if (status === "no-manifest") return base;
  const manifest = {
    name,
    kind: opts.kind ?? "recurring",
    clusterId: opts.cluster ?? "c1",
    createdAt: new Date(NOW.getTime() - (opts.hoursAgo ?? 0) * HOUR).toISOString(),
  } as Manifest;
  return { ...base, manifest };
}

describe("what retention sees of a listed copy", () => {
  it("takes kind, cluster and time from the manifest, and the kind of a manifest-less copy from its name", () => {
    assert.deepEqual(retentionInputOf(entry("x", { hoursAgo: 2, kind: "one-time" })), {
      name: "x",
      location: "node:a",
      kind: "one-time",
      verified: true,
      clusterId: "c1",
      created: new Date(NOW.getTime() - 2 * HOUR),
    });
    assert.equal(retentionInputOf(entry("2026-01-01T00:00:00Z_etcd", { status: "no-manifest" })).kind, "recurring");
    assert.equal(retentionInputOf(entry("rke_etcd_snapshot_x", { status: "no-manifest" })).kind, "one-time");
    assert.equal(retentionInputOf(entry("b", { status: "broken" })).verified, false);
  });
});

describe("planPrune", () => {
  it("plans one location under a window, scoped to one cluster, every item with its reasons", () => {
    const entries = [
      entry("old", { hoursAgo: 100 }),
      entry("new", { hoursAgo: 1 }),
      entry("theirs", { hoursAgo: 100, cluster: "c2" }),
      entry("rke", { status: "no-manifest" }),
      entry("elsewhere", { hoursAgo: 100, location: "s3" }),
    ];
    const plan = planPrune("node:a", entries, { type: "window", windowMs: 72 * HOUR, clusterId: "c1" }, NOW);
    assert.deepEqual(
      plan.remove.map((i) => i.name),
      ["old"],
    );
    assert.deepEqual(
      plan.keep.map((i) => i.name),
      ["new", "theirs", "rke"],
      "only this location's copies are planned",
    );
    assert.match(plan.remove[0]!.reasons[0]!, /older than 72h window/);
    assert.match(plan.keep.find((i) => i.name === "theirs")!.reasons[0]!, /other cluster/);
  });

  it("deletes a manifest before its archive, and only the archive of a copy without manifest", () => {
    assert.deepEqual(deletionKeys({ name: "a", key: "a.zip", status: "ok" }), ["a.manifest.json", "a.zip"]);
    assert.deepEqual(deletionKeys({ name: "a", key: "a.zip", status: "broken" }), ["a.manifest.json", "a.zip"]);
    assert.deepEqual(deletionKeys({ name: "db", key: "db", status: "no-manifest" }), ["db"]);
  });
});

describe("executePrune and removeCopy on a directory", () => {
  const dirs: string[] = [];
  after(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));
  /** A LocalStore over a new folder holding `files`. */
  const storeWith = async (files: string[]) => {
    const dir = await mkdtemp(join(tmpdir(), "lifeboat-prune-"));
    dirs.push(dir);
    for (const f of files) await writeFile(join(dir, f), "x");
    return { dir, local: new LocalStore(dir) };
  };

  it("removes what the plan removes, manifest first, and leaves the rest", async () => {
    const { dir, local } = await storeWith(["old.zip", "old.manifest.json", "new.zip", "new.manifest.json", "raw-db"]);
    const order: string[] = [];
    const recording = Object.assign(Object.create(local) as LocalStore, {
      remove: (key: string) => (order.push(key), local.remove(key)),
    });
    const plan = planPrune(
      "node:a",
      [entry("old", { hoursAgo: 100 }), entry("new"), entry("raw-db", { status: "no-manifest" })],
      { type: "count", keep: 1, includeOneTime: true, clusterId: "c1" },
      NOW,
    );
    assert.deepEqual(
      plan.remove.map((i) => i.name),
      ["old"],
    );
    const result = await executePrune(recording, plan);
    assert.deepEqual(result, { removed: ["old"], failed: [] });
    assert.deepEqual(order, ["old.manifest.json", "old.zip"]);
    assert.deepEqual((await readdir(dir)).sort(), ["new.manifest.json", "new.zip", "raw-db"]);
  });

  it("removeCopy: the manifest before the archive, and the archive stays when the manifest cannot go", async () => {
    const { dir, local } = await storeWith(["a.zip", "a.manifest.json", "b.zip", "b.manifest.json"]);
    assert.deepEqual(await removeCopy(local, { name: "a", key: "a.zip" }), ["a.manifest.json", "a.zip"]);
    const stuck = Object.assign(Object.create(local) as LocalStore, {
      remove: (key: string) =>
        key.endsWith(".manifest.json") ? Promise.reject(new Error("EACCES")) : local.remove(key),
    });
    await assert.rejects(removeCopy(stuck, { name: "b", key: "b.zip" }), /EACCES/);
    assert.deepEqual((await readdir(dir)).sort(), ["b.manifest.json", "b.zip"]);
  });
});

describe("planDelete", () => {
  const entries = [
    entry("a", { location: "node:a" }),
    entry("b", { location: "node:a" }),
    entry("a", { location: "node:b" }),
    entry("x", { location: "node:b", cluster: "c2" }),
    entry("a", { location: "s3" }),
    entry("broken", { location: "s3", status: "broken" }),
  ];

  it("deletes a name wherever it is, as long as each location keeps a good copy of that cluster", () => {
    const plan = planDelete(entries, ["b"], false);
    assert.deepEqual(
      plan.remove.map((i) => [i.name, i.location]),
      [["b", "node:a"]],
    );
    assert.deepEqual(plan.refused, []);
  });

  it("refuses the last good copy of a location (another cluster's copy does not count) unless forced", () => {
    const plan = planDelete(entries, ["a", "nope"], false);
    assert.deepEqual(
      plan.refused.map((r) => r.location),
      ["node:b", "s3"],
    );
    assert.deepEqual(plan.missing, ["nope"]);
    const forced = planDelete(entries, ["a"], true);
    assert.deepEqual(
      forced.remove.map((i) => i.location),
      ["node:a", "node:b", "s3"],
    );
    assert.match(forced.remove.find((i) => i.location === "s3")!.reasons[0]!, /--force: the last good snapshot of s3/);
    assert.equal(forced.remove.find((i) => i.location === "node:a")!.reasons[0], "deleted on request");
  });

  it("lets a broken copy go without --force", () => {
    assert.deepEqual(
      planDelete(entries, ["broken"], false).remove.map((i) => i.name),
      ["broken"],
    );
  });
});
