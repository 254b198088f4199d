/**
 * A peer's fetch of the prepared file (src/restore/steps.ts fetchFromPeer) and its progress (src/restore/progress.ts):
 * a stream that breaks mid-way leaves no file and a failed phase, and the executor never stops a member after it.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { Readable } from "node:stream";
import { after, test } from "node:test";
import { writeSnapshotArchive } from "../src/archive/rke.js";
import { distribute } from "../src/restore/apply.js";
import { RestoreProgressTracker, watchProgress } from "../src/restore/progress.js";
import { fetchFromPeer, type NodeDeps, type PeerDownload } from "../src/restore/steps.js";
import { ArchiveError, ChecksumMismatchError } from "../src/util/errors.js";
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

/** Every file under `dir`, folders left out. */
async function filesIn(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => !e.isDirectory())
    .map((e) => join(relative(dir, e.parentPath), e.name))
    .sort();
}

/** A peer that sends the first `cut` bytes in small chunks, then fails like a reset connection (or ends, without). */
function peer(cut?: number): PeerDownload {
  return async () => {
    const bytes = cut === undefined ? snapshot : snapshot.subarray(0, cut);
    async function* chunks() {
      for (let at = 0; at < bytes.length; at += 4096) {
        yield bytes.subarray(at, at + 4096);
        // As a network does: the receiver's extraction gets to run between chunks.
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
      if (cut !== undefined) throw new Error("connection reset by peer (simulated)");
    }
    return { body: Readable.from(chunks()), size: snapshot.length, close: () => undefined };
  };
}

test("peer fetch: a stream that breaks mid-way commits nothing and its phase ends failed", async () => {
  const restoreDir = join(dir, "broken");
  const tracker = new RestoreProgressTracker();
  tracker.begin("s1");
  const step = { name: "snap1", peer: "127.0.0.1:7443", sha256, size: snapshot.length };
  await assert.rejects(
    fetchFromPeer(step, peer(snapshot.length / 2), deps(restoreDir, tracker)),
    /connection reset by peer \(simulated\)/,
  );
  assert.deepEqual(await filesIn(restoreDir), [], "no file and no temp file left");
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
  assert.deepEqual(await filesIn(restoreDir), ["snap1"], "the snapshot, and not the received copy it came out of");
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

/** Our archive of the snapshot, as the serving node serves it while it still downloads. */
async function archiveOf(): Promise<Buffer> {
  const { output, done } = writeSnapshotArchive({ name: "snap1", snapshot: Readable.from([snapshot]) });
  const chunks: Buffer[] = [];
  for await (const chunk of output as AsyncIterable<Buffer>) chunks.push(chunk);
  await done;
  return Buffer.concat(chunks);
}

function serving(bytes: Buffer): PeerDownload {
  return async () => {
    async function* chunks() {
      for (let at = 0; at < bytes.length; at += 4096) yield bytes.subarray(at, at + 4096);
    }
    return { body: Readable.from(chunks()), close: () => undefined };
  };
}

test("peer fetch: the archive is inflated as it arrives; only the snapshot is kept, its digest checked", async () => {
  const restoreDir = join(dir, "archive");
  const tracker = new RestoreProgressTracker();
  tracker.begin("s3");
  const zip = await archiveOf();
  const step = { name: "snap1", peer: "127.0.0.1:7443", sha256, size: snapshot.length };
  const digest = await fetchFromPeer(step, serving(zip), deps(restoreDir, tracker));
  assert.equal(digest.sha256, sha256);
  assert.deepEqual(await filesIn(restoreDir), ["snap1"]);
  assert.ok((await readFile(join(restoreDir, "snap1"))).equals(snapshot));
  const [fetch] = tracker.view("s3").phases;
  assert.deepEqual([fetch?.ok, fetch?.done, fetch?.total], [true, snapshot.length, snapshot.length]);
});

test("peer fetch: an archive that ends early without an error, or holds another digest, is refused, nothing kept", async () => {
  const zip = await archiveOf();
  const tracker = new RestoreProgressTracker();
  const short = join(dir, "short");
  await assert.rejects(
    fetchFromPeer(
      { name: "snap1", peer: "127.0.0.1:7443" },
      serving(zip.subarray(0, zip.length - 100)),
      deps(short, tracker),
    ),
    ArchiveError,
  );
  assert.deepEqual(await filesIn(short), []);
  const other = join(dir, "other");
  await assert.rejects(
    fetchFromPeer(
      { name: "snap1", peer: "127.0.0.1:7443", sha256: "0".repeat(64) },
      serving(zip),
      deps(other, tracker),
    ),
    (err: unknown) => err instanceof ChecksumMismatchError && /expected 0{64}/.test(err.message),
  );
  assert.deepEqual(await filesIn(other), []);
});

test("executor: a peer fetch that fails stops no member and says the running cluster is untouched", async () => {
  const log: string[] = [];
  const nodes = MEMBERS.map((m) => new FakeNode(m.name, log, m.name === "etcd-b" ? { fails: ["fetch"] } : {}));
  const plan = fakePlan();
  await assert.rejects(
    distribute(plan, { sha256: SHA }, { nodes: nodes.map((n) => n.node()) }),
    /fetch failed on etcd-b; the running cluster is untouched/,
  );
  assert.ok(!log.some((l) => l.endsWith(":stop") || l.endsWith(":apply")), log.join(", "));
  assert.ok(nodes.every((n) => n.member === "running" && n.data === "old"));
});
