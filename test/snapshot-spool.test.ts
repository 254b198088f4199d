/**
 * The save's spool (src/snapshot/spool.ts): the member's stream goes to a hidden part file at its own speed and the
 * archive is made by reading behind it, so a slow compressor never holds the member; nothing is left behind.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { extractSnapshot } from "../src/archive/rke.js";
import { archiveKey, manifestKey } from "../src/snapshot/manifest.js";
import { saveSnapshot, type SnapshotSource } from "../src/snapshot/save.js";
import { spoolSnapshot } from "../src/snapshot/spool.js";
import { LocalStore } from "../src/store/local.js";
import { silentLogger } from "../src/util/log.js";
import { chunked, collect, snapshotBytes } from "./helpers/snapshot-bytes.js";

async function tempDir(t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "lifeboat-spool-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test("the reader gets every byte in order; the part file is gone after close", async (t) => {
  const dir = await tempDir(t);
  const data = snapshotBytes(5 * 1024 * 1024 + 17);
  const spool = await spoolSnapshot(chunked(data, 32 * 1024 + 3), join(dir, ".s.db.0badf00d.part"));
  const read = await collect(spool.reader);
  const released = await spool.released;
  assert.equal(released.bytes, data.length);
  assert.ok(read.equals(data), "the bytes read back differ from the stream's");
  assert.deepEqual(await readdir(dir), [".s.db.0badf00d.part"]);
  await spool.close();
  assert.deepEqual(await readdir(dir), []);
});

test("the member is released while a slow reader is still far behind", async (t) => {
  const dir = await tempDir(t);
  const data = snapshotBytes(8 * 1024 * 1024);
  const spool = await spoolSnapshot(chunked(data, 64 * 1024), join(dir, ".slow.db.00000000.part"));
  const it = spool.reader[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const first = await it.next();
  assert.equal(first.done, false);
  // The reader stops after its first block; the stream must still run to its end.
  const released = await Promise.race([spool.released, sleep(10_000).then(() => undefined)]);
  assert.ok(released, "the member's stream did not end while the reader waited");
  assert.equal(released.bytes, data.length);
  const rest: Buffer[] = [first.value];
  for (let r = await it.next(); !r.done; r = await it.next()) rest.push(r.value);
  assert.ok(Buffer.concat(rest).equals(data));
  await spool.close();
});

test("a stream that fails fails the reader, and close removes the part file", async (t) => {
  const dir = await tempDir(t);
  const source = new PassThrough();
  const spool = await spoolSnapshot(source, join(dir, ".bad.db.11111111.part"));
  source.write(randomBytes(100_000));
  setTimeout(() => source.destroy(new Error("member went away")), 50);
  await assert.rejects(collect(spool.reader), /member went away/);
  await assert.rejects(spool.released, /member went away/);
  await spool.close();
  assert.deepEqual(await readdir(dir), []);
});

test("an existing part file is refused, and the stream is stopped", async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, ".taken.db.22222222.part");
  await writeFile(path, "x");
  const source = new PassThrough();
  await assert.rejects(spoolSnapshot(source, path), { code: "EEXIST" });
  assert.equal(source.destroyed, true);
});

function source(data: Buffer, onEnd: () => void): SnapshotSource {
  return {
    health: async () => ({ reachable: true, hasLeader: true, alarms: [] }),
    status: async () => ({ memberId: "1", clusterId: "2", revision: 3, dbSize: data.length - 32, version: "3.5.0" }),
    snapshot: () => {
      const s = chunked(data, 32 * 1024);
      s.once("end", onEnd);
      return s;
    },
    count: async () => 0,
    hashKV: async () => ({ hash: 0, compactRevision: 0, revision: 3 }),
  };
}

/** One deflated save of `data` into `local` through the spool. */
function saveOf(name: string, data: Buffer, local: LocalStore, onEnd: () => void = () => undefined) {
  return saveSnapshot(
    { name, kind: "one-time", node: "etcd-a", compression: "deflate", threads: 2, ...NO_RETRIES, toolVersion: "t" },
    { source: source(data, onEnd), local, log: silentLogger, clock: () => new Date(), sleep: async () => undefined },
  );
}

const NO_RETRIES = { retries: 0, retryPauseMs: 0 };

test("a save spools into its folder: the archive holds the exact snapshot, memberMs is reported, no part file stays", async (t) => {
  const dir = await tempDir(t);
  const data = snapshotBytes(3 * 1024 * 1024);
  const local = new LocalStore(dir);
  let ended = false;
  const result = await saveOf("spooled", data, local, () => (ended = true));
  assert.equal(ended, true);
  assert.equal(typeof result.memberMs, "number");
  assert.ok(result.memberMs! >= 0);
  assert.deepEqual((await readdir(dir)).sort(), [archiveKey("spooled"), manifestKey("spooled")].sort());
  const out = join(dir, "out");
  const digest = await extractSnapshot(local.pathOf(archiveKey("spooled")), "spooled", out);
  assert.equal(digest.size, data.length);
  assert.equal(digest.sha256, createHash("sha256").update(data).digest("hex"));
});

test("a bad trailer (checked on the bytes read back) fails the save and leaves nothing behind", async (t) => {
  const dir = await tempDir(t);
  const data = snapshotBytes(1024 * 1024);
  data[data.length - 1] = data[data.length - 1]! ^ 0xff;
  await assert.rejects(saveOf("broken", data, new LocalStore(dir)), /sha256|trailer|checksum/i);
  assert.deepEqual(await readdir(dir), []);
});

test("the agent's folder cleaner removes what a crashed save left, and only that", async (t) => {
  const dir = await tempDir(t);
  const local = new LocalStore(dir);
  const scratch = local.scratchPath("x.db");
  await writeFile(scratch, "half a snapshot");
  await writeFile(join(dir, "keep.zip"), "an archive");
  await writeFile(join(dir, ".hidden-but-not-ours"), "operator's file");
  assert.deepEqual(
    (await local.list("")).map((o) => o.key),
    ["keep.zip", ".hidden-but-not-ours"].sort(),
  );
  assert.equal((await local.removeScratch()).length, 1);
  assert.deepEqual((await readdir(dir)).sort(), [".hidden-but-not-ours", "keep.zip"]);
});
