/**
 * A peer's fetch of the prepared file (src/restore/steps.ts fetchFromPeer) and its progress (src/restore/progress.ts):
 * a stream that breaks mid-way leaves no file and a failed phase, and the executor never stops a member after it.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { after, test } from "node:test";
import { distributeAndCompare } from "../src/restore/apply.js";
import { RestoreProgressTracker, watchProgress } from "../src/restore/progress.js";
import { fetchFromPeer, type NodeDeps, type PeerDownload } from "../src/restore/steps.js";
import { fakePlan, FakeNode, MEMBERS, SHA } from "./helpers/restore-fakes.js";

const dir = await mkdtemp(join(tmpdir(), "lifeboat-peer-fetch-"));
after(() => rm(dir, { recursive: true, force: true }));

/** A whole etcd snapshot as far as the trailer check goes: pages of data, then their sha256. */
const db = randomBytes(64 * 1024);
const snapshot = Buffer.concat([db, createHash("sha256").update(db).digest()]);
const sha256 = createHash("sha256").update(snapshot).digest("hex");

function deps(restoreDir: string, progress: RestoreProgressTracker): Pick<NodeDeps, "config" | "progress"> {
  return {
    config: {
      node: "etcd-b",
      restoreDir,
      snapshotDir: join(restoreDir, "snapshots"),
      postRestore: [],
      etcd: { dataDir: join(restoreDir, "data"), peerUrl: "https://127.0.0.1:2380" },
    },
    progress,
  };
}

/** A peer that sends the first `cut` bytes in small chunks, then fails like a reset connection (or ends, without). */
function peer(cut?: number): PeerDownload {
  return async () => {
    const bytes = cut === undefined ? snapshot : snapshot.subarray(0, cut);
    async function* chunks() {
      for (let at = 0; at < bytes.length; at += 4096) yield bytes.subarray(at, at + 4096);
      if (cut !== undefined) throw new Error("connection reset by peer (simulated)");
    }
    return { body: Readable.from(chunks()), size: snapshot.length, close: () => undefined };
  };
}

test("peer fetch: a stream that breaks mid-way commits nothing and its phase ends failed", async () => {
  const restoreDir = join(dir, "broken");
  const tracker = new RestoreProgressTracker();
  tracker.begin("s1");
  const step = { name: "snap1", peer: "127.0.0.1:7443", sha256 };
  await assert.rejects(
    fetchFromPeer(step, peer(snapshot.length / 2), deps(restoreDir, tracker)),
    /connection reset by peer \(simulated\)/,
  );
  assert.deepEqual(await readdir(restoreDir), [], "no file and no temp file left");
  const [fetch] = tracker.view("s1").phases;
  assert.equal(fetch?.phase, "fetch");
  assert.equal(fetch?.ok, false);
  assert.equal(fetch?.total, snapshot.length);
  assert.ok(fetch.done !== null && fetch.done > 0 && fetch.done < snapshot.length, `done ${fetch.done}`);
});

test("peer fetch: a whole stream is committed, hashed as it was written, its phase done of its total", async () => {
  const restoreDir = join(dir, "whole");
  const tracker = new RestoreProgressTracker();
  tracker.begin("s2");
  const digest = await fetchFromPeer(
    { name: "snap1", peer: "127.0.0.1:7443", sha256 },
    peer(),
    deps(restoreDir, tracker),
  );
  assert.equal(digest.sha256, sha256);
  assert.deepEqual(await readdir(restoreDir), ["snap1"]);
  const [fetch] = tracker.view("s2").phases;
  assert.equal(fetch?.ok, true);
  assert.equal(fetch?.done, snapshot.length);
  assert.equal(fetch?.total, snapshot.length);
  assert.deepEqual(tracker.view("another").phases, [], "another session sees none of it");
  // The coordinator's watcher turns the phases into one ended task per node.
  const lines: string[] = [];
  const watch = watchProgress([{ name: "etcd-b", progress: async () => tracker.view("s2") }], {
    update: (task, u) => lines.push(`${task} ${u.step} ${u.done}/${u.total}`),
    end: (task, ok, done) => lines.push(`${task} end ${ok} ${done}`),
  });
  await watch.stop();
  assert.deepEqual(lines, [`etcd-b fetch ${snapshot.length}/${snapshot.length}`, `etcd-b end true ${snapshot.length}`]);
});

test("executor: a peer fetch that fails stops no member and says the running cluster is untouched", async () => {
  const log: string[] = [];
  const nodes = MEMBERS.map((m) => new FakeNode(m.name, log, m.name === "etcd-b" ? { fails: ["fetch"] } : {}));
  const plan = fakePlan();
  await assert.rejects(
    distributeAndCompare(plan, SHA, {
      nodes: nodes.map((n) => n.node()),
      phase: () => undefined,
      sleep: async () => undefined,
      healthTimeoutMs: 1000,
    }),
    /fetch failed on etcd-b; the running cluster is untouched/,
  );
  assert.ok(!log.some((l) => l.endsWith(":stop") || l.endsWith(":apply")), log.join(", "));
  assert.ok(nodes.every((n) => n.member === "running" && n.data === "old"));
});
