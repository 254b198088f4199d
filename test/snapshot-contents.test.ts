/**
 * What a manifest says a snapshot holds (src/snapshot/contents.ts), against real etcd: a verify restores the snapshot
 * into a throwaway etcd and finds the same key count and HashKV at the recorded revision, also when a writer kept the
 * member busy through the save (the snapshot then holds later revisions too); recorded values that differ are caught.
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { extractSnapshot } from "../src/archive/rke.js";
import { availableEtcdSeries, findEtcdTools } from "../src/etcd/binaries.js";
import { verifySnapshotOnLoopback } from "../src/restore/verify.js";
import { measureContents } from "../src/snapshot/contents.js";
import { parseManifest } from "../src/snapshot/manifest.js";
import { saveSnapshot } from "../src/snapshot/save.js";
import { LocalStore } from "../src/store/local.js";
import { silentLogger } from "../src/util/log.js";
import { startEtcdCluster } from "./helpers/etcd-cluster.js";

for (const series of await availableEtcdSeries()) {
  test(`etcd ${series}: contents recorded at the stream's revision match a verify, also under writes`, async (t) => {
    const dir = await mkdtemp(join(tmpdir(), "lifeboat-contents-"));
    const cluster = await startEtcdCluster({ members: 1, series, dir: join(dir, "etcd") });
    t.after(async () => {
      await cluster.stop();
      await rm(dir, { recursive: true, force: true });
    });
    const client = await cluster.client(cluster.members[0]!, 30_000);
    const tools = await findEtcdTools({ series, developerCache: true });
    for (let i = 0; i < 50; i++) await client.put(`/registry/pods/p${i}`, `v${i}`);
    const local = new LocalStore(join(dir, "snapshots"));
    const save = (name: string) =>
      saveSnapshot(
        {
          name,
          kind: "one-time",
          node: "etcd-a",
          compression: "deflate",
          retries: 0,
          retryPauseMs: 0,
          toolVersion: "test",
        },
        { source: client, local, log: silentLogger, clock: () => new Date(), sleep: () => Promise.resolve() },
      );
    const verify = async (name: string, expected: Parameters<typeof verifySnapshotOnLoopback>[0]["expected"]) => {
      const path = join(dir, `${name}.db`);
      await extractSnapshot(local.pathOf(`${name}.zip`), name, path);
      return verifySnapshotOnLoopback({ snapshotPath: path, tools, workDir: dir, log: silentLogger, expected });
    };

    // A quiet member: the contents are exact.
    const quiet = (await save("quiet")).manifest;
    assert.deepEqual(
      { ...quiet.contents, hashKV: 0 },
      { revision: quiet.etcd.revision, keys: 50, hashKV: 0, compactRevision: -1 },
    );
    const report = await verify("quiet", quiet.contents);
    assert.equal(report.ok, true, report.reason);
    assert.deepEqual(report.checked, ["revision", "keys", "hash"]);
    assert.equal(report.hashKV, quiet.contents?.hashKV);

    // A recorded hash that the restored data does not give is a failed verify, with the reason.
    const wrong = await verify("quiet", { ...quiet.contents!, hashKV: (quiet.contents!.hashKV + 1) >>> 0 });
    assert.equal(wrong.ok, false);
    assert.match(wrong.reason ?? "", /HashKV at revision \d+ is \d+, the live member's was \d+/);
    const fewer = await verify("quiet", { ...quiet.contents!, keys: 49 });
    assert.equal(fewer.ok, false);
    assert.match(fewer.reason ?? "", /50 keys restored at revision \d+, the live member had 49/);

    // A snapshot that holds later writes than the recorded revision (what a save under writes gets: the stream
    // begins after the revision is read) restores to the same keys and hash at that revision.
    const earlier = await measureContents(client, quiet.etcd.revision, silentLogger);
    assert.ok(earlier);
    for (let i = 0; i < 30; i++) await client.put(`/registry/pods/p${i}`, `changed${i}`);
    await client.put("/registry/pods/new", "n");
    await save("later");
    const later = await verify("later", earlier);
    assert.equal(later.ok, true, later.reason);
    assert.deepEqual(later.checked, ["revision", "keys", "hash"]);
    assert.equal(later.revision, quiet.etcd.revision + 31, "the snapshot holds 31 more writes");
    assert.equal(later.keys, 51, "the newest revision has one key more than the recorded one");
    assert.equal(later.hashKV, quiet.contents?.hashKV, "the hash at the recorded revision is unchanged");

    // A writer keeps the member busy through the saves: each records its contents, and each restores to them.
    let writing = true;
    let written = 0;
    const writer = (async () => {
      while (writing) {
        await client.put(`/registry/events/e${written % 200}`, `w${written}`);
        written++;
      }
    })();
    try {
      for (let i = 0; i < 3; i++) {
        const saved = (await save(`busy${i}`)).manifest;
        const onDisk = parseManifest(await readFile(local.pathOf(`busy${i}.manifest.json`), "utf8"));
        assert.ok(onDisk.ok);
        assert.deepEqual(onDisk.manifest.contents, saved.contents);
        assert.ok(saved.contents, `busy${i} records its contents`);
        const busy = await verify(`busy${i}`, saved.contents);
        assert.equal(busy.ok, true, `busy${i}: ${busy.reason}`);
        assert.deepEqual(busy.checked, ["revision", "keys", "hash"]);
      }
    } finally {
      writing = false;
      await writer;
    }
    assert.ok(written > 20, `the writer wrote during the saves (${written})`);
  });
}
