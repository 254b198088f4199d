/**
 * What a manifest says a snapshot holds (src/snapshot/contents.ts), against real etcd: the revision is pinned only
 * when it is exactly the snapshot's, also while a writer keeps the member busy, and a verify restores the snapshot
 * into a throwaway etcd and finds the same key count and HashKV; a recorded hash that differs is caught.
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { extractSnapshot } from "../src/archive/rke.js";
import { availableEtcdSeries, findEtcdTools } from "../src/etcd/binaries.js";
import { verifySnapshotOnLoopback } from "../src/restore/verify.js";
import { parseManifest } from "../src/snapshot/manifest.js";
import { saveSnapshot } from "../src/snapshot/save.js";
import { LocalStore } from "../src/store/local.js";
import { silentLogger } from "../src/util/log.js";
import { startEtcdCluster } from "./helpers/etcd-cluster.js";

for (const series of await availableEtcdSeries()) {
  test(`etcd ${series}: contents are pinned to the snapshot's revision, also under writes, and a verify matches them`, async (t) => {
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
      { ...quiet.contents, hash: 0 },
      { revision: quiet.etcd.revision, keys: 50, hash: 0, compactRevision: -1 },
    );
    const report = await verify("quiet", quiet.contents);
    assert.equal(report.ok, true, report.reason);
    assert.deepEqual(report.checked, ["revision", "keys", "hash"]);
    assert.equal(report.kvHash, quiet.contents?.hash);

    // A recorded hash that the restored data does not give is a failed verify, with the reason.
    const wrong = await verify("quiet", { ...quiet.contents!, hash: (quiet.contents!.hash + 1) >>> 0 });
    assert.equal(wrong.ok, false);
    assert.match(wrong.reason ?? "", /HashKV at revision \d+ is \d+, the live member's was \d+/);
    const fewer = await verify("quiet", { ...quiet.contents!, keys: 49 });
    assert.equal(fewer.ok, false);
    assert.match(fewer.reason ?? "", /50 keys restored, the live member had 49/);

    // A writer keeps the member busy: every save records either nothing or the exact contents, never a guess.
    let writing = true;
    let written = 0;
    const writer = (async () => {
      while (writing) {
        await client.put(`/registry/events/e${written % 200}`, `w${written}`);
        written++;
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    const pinned: string[] = [];
    try {
      for (let i = 0; i < 4; i++) {
        const saved = (await save(`busy${i}`)).manifest;
        const onDisk = parseManifest(await readFile(local.pathOf(`busy${i}.manifest.json`), "utf8"));
        assert.ok(onDisk.ok);
        assert.deepEqual(onDisk.manifest.contents, saved.contents);
        if (saved.contents) pinned.push(`busy${i}`);
        const busy = await verify(`busy${i}`, saved.contents);
        assert.equal(busy.ok, true, `busy${i}: ${busy.reason}`);
        if (saved.contents) assert.deepEqual(busy.checked, ["revision", "keys", "hash"]);
      }
    } finally {
      writing = false;
      await writer;
    }
    assert.ok(written > 20, `the writer wrote during the saves (${written})`);
    assert.ok(pinned.length > 0, "with a write every few ms, the revision is pinned within the attempts");
  });
}
