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

const cached = (series: string) => findEtcdTools({ series, developerCache: true });

test("each series has its tools and its version; etcdutl only from 3.5", async () => {
  const v34 = await cached("3.4");
  assert.match(v34.version, /^3\.4\.\d+$/);
  assert.equal(v34.series, "3.4");
  assert.equal(v34.etcdutl, undefined);
  assert.ok(v34.etcd.startsWith(v34.dir) && v34.etcdctl.startsWith(v34.dir));

  const v35 = await cached("3.5");
  assert.match(v35.version, /^3\.5\.\d+$/);
  assert.equal(v35.etcdutl, join(v35.dir, "etcdutl"));
});

test("the developer cache only when named (the newest series wins); LIFEBOAT_ETCD_DIR and PATH are honoured", async () => {
  const v34 = await cached("3.4");
  assert.equal((await findEtcdTools({ env: cleanEnv(), developerCache: true })).series, "3.5");
  await assert.rejects(findEtcdTools({ env: cleanEnv(), besideProgram: undefined }), UserError, "no cache by default");
  assert.equal((await findEtcdTools({ env: cleanEnv({ LIFEBOAT_ETCD_DIR: v34.dir }) })).version, v34.version);
  const onPath = await findEtcdTools({ env: cleanEnv({ LIFEBOAT_CACHE: empty, PATH: `/nonexistent:${v34.dir}` }) });
  assert.equal(onPath.dir, v34.dir);
  assert.equal((await findEtcdTools({ dir: v34.dir })).series, "3.4");
});

test("the agent's order: tools_dir alone, else LIFEBOAT_ETCD_DIR, beside the program, PATH", async () => {
  const v34 = await cached("3.4");
  const v35 = await cached("3.5");
  const env = cleanEnv({ PATH: v34.dir });
  assert.equal((await findEtcdTools({ env, besideProgram: v35.dir })).dir, v35.dir, "beside the program before PATH");
  assert.equal((await findEtcdTools({ env, besideProgram: empty })).dir, v34.dir, "an empty folder is passed over");
  const explicit = cleanEnv({ LIFEBOAT_ETCD_DIR: v34.dir, PATH: v35.dir });
  assert.equal((await findEtcdTools({ env: explicit, besideProgram: v35.dir })).dir, v34.dir);
  await assert.rejects(findEtcdTools({ env, dir: empty }), /configured tools_dir/, "a configured dir is used alone");
});

test("nothing found is a UserError naming every place looked and how to fix it", async () => {
  await assert.rejects(findEtcdTools({ dir: empty }), (err: unknown) => {
    assert.ok(err instanceof UserError);
    assert.ok(err.message.includes(`the configured tools_dir (${empty})`), err.message);
    assert.match(err.message, /lifeboat\.etcd\.tools_dir/);
    return true;
  });
  const env = cleanEnv({ LIFEBOAT_ETCD_DIR: join(empty, "a"), LIFEBOAT_CACHE: empty, PATH: `/nonexistent:${empty}` });
  await assert.rejects(
    findEtcdTools({ env, besideProgram: join(empty, "b"), developerCache: true }),
    (err: unknown) => {
      assert.ok(err instanceof UserError);
      for (const place of [
        `LIFEBOAT_ETCD_DIR (${join(empty, "a")})`,
        `beside the program (${join(empty, "b")})`,
        `PATH (/nonexistent, ${empty})`,
      ])
        assert.ok(err.message.includes(place), `${place} in: ${err.message}`);
      assert.match(err.message, /npm run etcd:install/);
      return true;
    },
  );
  await assert.rejects(
    findEtcdTools({ series: "9.9", developerCache: true }),
    /no etcd 9\.9 \(etcd and etcdctl\) found/,
  );
  const v35 = await cached("3.5");
  await assert.rejects(findEtcdTools({ dir: v35.dir, series: "3.4" }), (err: unknown) => {
    assert.ok(err instanceof UserError);
    assert.ok(err.message.includes(`${v35.dir} has etcd ${v35.version}`), err.message);
    return true;
  });
});

test("bump-revision support is read from the restore command's help", async () => {
  const v34 = await cached("3.4");
  const v35 = await cached("3.5");
  assert.equal(await supportsBumpRevision(v34), false);
  const patch = Number(v35.version.split(".")[2]);
  assert.ok(patch >= 30, `this test expects etcd 3.5.30 or later, found ${v35.version}`);
  assert.equal(await supportsBumpRevision(v35), true);
});
