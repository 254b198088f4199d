/**
 * `snapshot-prune` and `snapshot-delete` across the nodes of a real sandbox and its S3 server. Old snapshots are
 * real archives planted under old names and manifest times (nobody waits 72 hours): retention must remove exactly
 * the ones older than RKE's window (6 × 12 h), say why for every copy, keep other clusters' and one-time copies,
 * change nothing on a dry run, and deletion by name must refuse to take a location's last good snapshot unless
 * forced.
 */
import assert from "node:assert/strict";
import { access, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { DeleteReport } from "../src/cli/snapshot-delete.js";
import type { PruneReport } from "../src/cli/snapshot-prune.js";
import { formatInstant } from "../src/retention/index.js";
import { listCatalog } from "../src/snapshot/catalog.js";
import { parseManifest, serializeManifest, type Manifest } from "../src/snapshot/manifest.js";
import type { Store } from "../src/store/store.js";
import { jsonOf, type CliRun } from "./helpers/cli.js";
import { sandboxS3, startTestSandbox, type TestSandbox } from "./helpers/sandbox.js";

const HOUR = 3_600_000;
let sb: TestSandbox;
let s3: Store;
const now = Math.floor(Date.now() / 1000) * 1000;
const at = (hoursAgo: number) => new Date(now - hoursAgo * HOUR);
const rke = (hoursAgo: number) => `${formatInstant(at(hoursAgo))}_etcd`;

/** Recurring unless said otherwise; `cluster` "other" plants another cluster's copy. */
const PLANTED = {
  expired80: { name: rke(80), hoursAgo: 80 },
  expired73: { name: rke(73), hoursAgo: 73 },
  recent10: { name: rke(10), hoursAgo: 10 },
  recent1: { name: rke(1), hoursAgo: 1 },
  foreign: { name: rke(100), hoursAgo: 100, cluster: "other" },
  manual: { name: "manual-before-upgrade", hoursAgo: 100, kind: "one-time" as const },
};
const LOCATIONS = ["node:etcd-node1", "node:etcd-node2", "s3"];

async function lifeboat(args: string[], expectCode = 0): Promise<CliRun> {
  const run = await sb.cli(["--output", "json", ...args, "--config", sb.config]);
  assert.equal(run.code, expectCode, `lifeboat ${args.join(" ")}:\n${run.stdout}\n${run.stderr}`);
  return run;
}

const nodeDir = (i: number) => join(sb.dir, "nodes", `node${i}`, "snapshots");
const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

/** Which names have a complete copy (manifest and archive) in each location. */
async function present(): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const i of [1, 2]) {
    const names: string[] = [];
    for (const name of ["seed", ...Object.values(PLANTED).map((p) => p.name)]) {
      const files = await Promise.all([`${name}.zip`, `${name}.manifest.json`].map((f) => exists(join(nodeDir(i), f))));
      assert.equal(files[0], files[1], `node${i} ${name}: manifest and archive go together`);
      if (files[0]) names.push(name);
    }
    out[`node:etcd-node${i}`] = names.sort();
  }
  out.s3 = (await listCatalog(s3, "s3"))
    .filter((e) => e.status === "ok")
    .map((e) => e.name)
    .sort();
  return out;
}

before(async () => {
  sb = await startTestSandbox({ nodes: 2 });
  s3 = sandboxS3(sb.info);
  await lifeboat(["etcd", "snapshot-save", "--name", "seed"]);
  const zip = await readFile(join(nodeDir(1), "seed.zip"));
  const seed = parseManifest(await readFile(join(nodeDir(1), "seed.manifest.json"), "utf8"));
  assert.ok(seed.ok);
  for (const p of Object.values(PLANTED)) {
    const manifest: Manifest = {
      ...seed.manifest,
      name: p.name,
      kind: "kind" in p ? p.kind : "recurring",
      clusterId: "cluster" in p ? "0badc0ffee" : seed.manifest.clusterId,
      createdAt: at(p.hoursAgo).toISOString(),
      archive: { ...seed.manifest.archive, file: `${p.name}.zip` },
    };
    const text = serializeManifest(manifest);
    for (const i of [1, 2]) {
      await writeFile(join(nodeDir(i), `${p.name}.zip`), zip, { mode: 0o600 });
      await writeFile(join(nodeDir(i), `${p.name}.manifest.json`), text, { mode: 0o600 });
    }
    await s3.put(`${p.name}.zip`, zip);
    await s3.put(`${p.name}.manifest.json`, Buffer.from(text));
  }
});

after(async () => {
  await s3?.close();
  await sb?.down();
});

describe("retention and deletion across nodes and S3", { concurrency: false }, () => {
  const everything = ["seed", ...Object.values(PLANTED).map((p) => p.name)].sort();

  test("the dry run names exactly the expired snapshots, with reasons, and removes nothing", async () => {
    const text = await sb.cli(["etcd", "snapshot-prune", "--dry-run", "--config", sb.config]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, new RegExp(`${PLANTED.expired80.name}\\s+node:etcd-node1\\s+would remove`));
    assert.match(text.stdout, /Dry run: would remove 6 snapshot copies/);

    const report = jsonOf<PruneReport>(await lifeboat(["etcd", "snapshot-prune", "--dry-run"]));
    assert.equal(report.dryRun, true);
    assert.deepEqual(report.locations.map((l) => l.location).sort(), LOCATIONS);
    for (const l of report.locations) {
      assert.equal(l.error, undefined);
      assert.equal(l.result, undefined, "a dry run applies nothing");
      const remove = l.plan!.remove.map((i) => i.name).sort();
      assert.deepEqual(remove, [PLANTED.expired73.name, PLANTED.expired80.name].sort(), l.location);
      for (const item of l.plan!.remove)
        assert.match(item.reasons[0] ?? "", /^older than 72h window \(created .*, cutoff .*\)$/);
      const why = (name: string) => l.plan!.keep.find((i) => i.name === name)?.reasons.join("; ") ?? "";
      assert.match(why(PLANTED.recent10.name), /within 72h window/);
      assert.match(why(PLANTED.recent1.name), /within 72h window/);
      assert.match(why(PLANTED.foreign.name), /other cluster \(snapshot: 0badc0ffee/);
      assert.match(why(PLANTED.manual.name), /one-time snapshot/);
      assert.match(why("seed"), /one-time snapshot.*newest verified snapshot \(always kept\)/);
    }
    assert.deepEqual(await present(), Object.fromEntries(LOCATIONS.map((l) => [l, everything])), "nothing changed");
  });

  test("the prune removes exactly those, on every node and in S3", async () => {
    const report = jsonOf<PruneReport>(await lifeboat(["etcd", "snapshot-prune"]));
    const expired = [PLANTED.expired73.name, PLANTED.expired80.name].sort();
    for (const l of report.locations) assert.deepEqual([...(l.result?.removed ?? [])].sort(), expired, l.location);
    const left = everything.filter((n) => !expired.includes(n));
    assert.deepEqual(await present(), Object.fromEntries(LOCATIONS.map((l) => [l, left])));

    const withOneTime = jsonOf<PruneReport>(await lifeboat(["etcd", "snapshot-prune", "--include-one-time"]));
    for (const l of withOneTime.locations) assert.deepEqual(l.result?.removed, [PLANTED.manual.name], l.location);
  });

  test("snapshot-delete removes a name everywhere, and refuses the last good copy without --force", async () => {
    const deleted = jsonOf<DeleteReport>(await lifeboat(["etcd", "snapshot-delete", PLANTED.recent10.name]));
    assert.deepEqual(deleted.deleted.map((d) => d.location).sort(), LOCATIONS);
    assert.ok(deleted.deleted.every((d) => d.reason === "deleted on request"));
    const expected = ["seed", PLANTED.recent1.name, PLANTED.foreign.name].sort();
    assert.deepEqual(await present(), Object.fromEntries(LOCATIONS.map((l) => [l, expected])));

    const refused = await lifeboat(["etcd", "snapshot-delete", "seed", PLANTED.recent1.name], 2);
    assert.match(
      refused.stderr,
      /nothing was deleted: .*would delete the last good snapshot of node:etcd-node1; add --force/,
    );
    assert.deepEqual(
      await present(),
      Object.fromEntries(LOCATIONS.map((l) => [l, expected])),
      "refused means untouched",
    );

    const forced = jsonOf<DeleteReport>(
      await lifeboat(["etcd", "snapshot-delete", "seed", PLANTED.recent1.name, "--force"]),
    );
    assert.equal(forced.deleted.length, 6);
    assert.ok(forced.deleted.some((d) => /--force: the last good snapshot of s3/.test(d.reason)));
    assert.deepEqual(await present(), Object.fromEntries(LOCATIONS.map((l) => [l, [PLANTED.foreign.name]])));

    const missing = await lifeboat(["etcd", "snapshot-delete", "no-such-snapshot"], 2);
    assert.match(missing.stderr, /no snapshot named no-such-snapshot/);
  });
});
