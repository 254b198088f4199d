import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { availableEtcdSeries, findEtcdTools } from "../src/etcd/binaries.js";
import { supportsBumpRevision } from "../src/etcd/restore-tool.js";
import { UserError } from "../src/util/errors.js";

let empty: string;
before(async () => {
  empty = await mkdtemp(join(tmpdir(), "lifeboat-etcd-bin-"));
});
after(() => rm(empty, { recursive: true, force: true }));

/** The environment without any of the variables that steer the search. */
function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const { LIFEBOAT_ETCD_DIR: _dir, PATH: _path, ...rest } = process.env;
  return { ...rest, ...extra };
}

test("both release lines the project supports are installed (npm run etcd:install)", async () => {
  const series = await availableEtcdSeries();
  assert.ok(series.includes("3.4") && series.includes("3.5"), `found ${series.join(", ") || "none"}`);
});

test("each series has its tools and its version; etcdutl only from 3.5", async () => {
  const v34 = await findEtcdTools({ series: "3.4" });
  assert.match(v34.version, /^3\.4\.\d+$/);
  assert.equal(v34.series, "3.4");
  assert.equal(v34.etcdutl, undefined);
  assert.ok(v34.etcd.startsWith(v34.dir) && v34.etcdctl.startsWith(v34.dir));

  const v35 = await findEtcdTools({ series: "3.5" });
  assert.match(v35.version, /^3\.5\.\d+$/);
  assert.equal(v35.etcdutl, join(v35.dir, "etcdutl"));
});

test("without a series the newest cached one wins; LIFEBOAT_ETCD_DIR and PATH are honoured", async () => {
  const v34 = await findEtcdTools({ series: "3.4" });
  assert.equal((await findEtcdTools({ env: cleanEnv() })).series, "3.5");
  assert.equal((await findEtcdTools({ env: cleanEnv({ LIFEBOAT_ETCD_DIR: v34.dir }) })).version, v34.version);
  const onPath = await findEtcdTools({ env: cleanEnv({ LIFEBOAT_CACHE: empty, PATH: `/nonexistent:${v34.dir}` }) });
  assert.equal(onPath.dir, v34.dir);
  assert.equal((await findEtcdTools({ dir: v34.dir })).series, "3.4");
});

test("nothing found is a UserError that says how to install etcd", async () => {
  await assert.rejects(findEtcdTools({ dir: empty }), (err: unknown) => {
    assert.ok(err instanceof UserError);
    assert.match(err.message, /npm run etcd:install/);
    assert.ok(err.message.includes(empty));
    return true;
  });
  await assert.rejects(findEtcdTools({ env: cleanEnv({ LIFEBOAT_CACHE: empty }) }), UserError);
  await assert.rejects(findEtcdTools({ series: "9.9" }), /no etcd 9\.9 found/);
  const v35 = await findEtcdTools({ series: "3.5" });
  await assert.rejects(findEtcdTools({ dir: v35.dir, series: "3.4" }), UserError);
});

test("bump-revision support is read from the restore command's help", async () => {
  const v34 = await findEtcdTools({ series: "3.4" });
  const v35 = await findEtcdTools({ series: "3.5" });
  assert.equal(await supportsBumpRevision(v34), false);
  const patch = Number(v35.version.split(".")[2]);
  assert.ok(patch >= 30, `this test expects etcd 3.5.30 or later, found ${v35.version}`);
  assert.equal(await supportsBumpRevision(v35), true);
});
