import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { SnapshotVerifier, sha256File, verifySnapshotFile } from "../src/archive/trailer.js";
import { ChecksumMismatchError } from "../src/util/errors.js";
import { allocateLoopbackHosts } from "../src/util/net.js";

const run = promisify(execFile);
const BIN = join(homedir(), ".cache/lifeboat/etcd/3.5/usr/bin");
const dir = await mkdtemp(join(tmpdir(), "lifeboat-trailer-"));
const snapshotPath = join(dir, "snap.db");
let snapshot: Buffer;
let stopEtcd: (() => Promise<void>) | undefined;

/** Starts a one-member etcd 3.5 on a free loopback address, puts a few keys and saves a snapshot with etcdctl. */
before(async () => {
  const [host] = await allocateLoopbackHosts(1, [2379, 2380]);
  const client = `http://${host}:2379`;
  const peer = `http://${host}:2380`;
  const child = spawn(
    join(BIN, "etcd"),
    [
      ["--name", "t"],
      ["--data-dir", join(dir, "data")],
      ["--listen-client-urls", client],
      ["--advertise-client-urls", client],
      ["--listen-peer-urls", peer],
      ["--initial-advertise-peer-urls", peer],
      ["--initial-cluster", `t=${peer}`],
      ["--log-level", "error"],
    ].flat(),
    { stdio: "ignore" },
  );
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  stopEtcd = async () => {
    child.kill("SIGTERM");
    await exited;
  };
  const etcdctl = (...args: string[]) => run(join(BIN, "etcdctl"), [`--endpoints=${client}`, ...args]);
  for (let attempt = 0; ; attempt++) {
    try {
      await etcdctl("endpoint", "health");
      break;
    } catch (err) {
      if (attempt > 100) throw err;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  for (let i = 0; i < 20; i++) await etcdctl("put", `/registry/key-${i}`, "v".repeat(1000 + i));
  await etcdctl("snapshot", "save", snapshotPath);
  snapshot = await readFile(snapshotPath);
});

after(async () => {
  await stopEtcd?.();
  await rm(dir, { recursive: true, force: true });
});

let counter = 0;
async function variant(data: Buffer): Promise<string> {
  const path = join(dir, `variant-${++counter}.db`);
  await writeFile(path, data);
  return path;
}

/** Pipes `data` through a verifier in the given chunk sizes (cycled) and returns what came out. */
async function through(data: Buffer, sizes: readonly number[]): Promise<{ out: Buffer; verifier: SnapshotVerifier }> {
  const verifier = new SnapshotVerifier("test snapshot");
  const parts: Buffer[] = [];
  const chunks = function* () {
    let i = 0;
    for (let pos = 0; pos < data.length; i++) {
      const n = sizes[i % sizes.length] ?? 1;
      yield data.subarray(pos, pos + n);
      pos += n;
    }
  };
  await pipeline(
    Readable.from(chunks()),
    verifier,
    new Writable({
      write(chunk: Buffer, _e, callback) {
        parts.push(chunk);
        callback();
      },
    }),
  );
  return { out: Buffer.concat(parts), verifier };
}

const sha256 = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");

void describe("etcd snapshot trailer", () => {
  void test("a real etcdctl snapshot verifies, and the digests are what they claim", async () => {
    assert.equal(snapshot.length % 512, 32);
    const result = await verifySnapshotFile(snapshotPath);
    assert.equal(result.size, snapshot.length);
    assert.equal(result.sha256, sha256(snapshot));
    assert.equal(result.sha256, await sha256File(snapshotPath));
    assert.equal(result.dbSha256, sha256(snapshot.subarray(0, snapshot.length - 32)));
    assert.equal(result.dbSha256, snapshot.subarray(snapshot.length - 32).toString("hex"));
  });

  void test("bytes pass through unchanged whatever the chunking, the trailer split across chunks", async () => {
    const patterns = [
      [1],
      [7, 31, 33, 2],
      [snapshot.length - 31, 31],
      [snapshot.length - 1, 1],
      [snapshot.length - 40, 8, 32],
      [65_536],
    ];
    for (const sizes of patterns) {
      const { out, verifier } = await through(snapshot, sizes);
      assert.ok(out.equals(snapshot), `chunks ${sizes.join(",")}`);
      assert.equal(verifier.result.dbSha256, snapshot.subarray(snapshot.length - 32).toString("hex"));
      assert.equal(verifier.result.sha256, sha256(snapshot));
    }
  });

  void test("one flipped byte, a missing trailer, truncation and extra bytes are all refused", async () => {
    const flippedDb = Buffer.from(snapshot);
    flippedDb[flippedDb.length >> 1] = (flippedDb[flippedDb.length >> 1] ?? 0) ^ 0x01;
    const flippedTrailer = Buffer.from(snapshot);
    flippedTrailer[flippedTrailer.length - 5] = (flippedTrailer[flippedTrailer.length - 5] ?? 0) ^ 0x80;
    const cases: [string, Buffer, RegExp][] = [
      ["flipped DB byte", flippedDb, /trailer mismatch/],
      ["flipped trailer byte", flippedTrailer, /trailer mismatch/],
      ["trailer removed", snapshot.subarray(0, snapshot.length - 32), /not a whole DB plus a 32-byte sha256 trailer/],
      ["truncated by a page", snapshot.subarray(0, snapshot.length - 4096), /trailer mismatch/],
      ["truncated mid-page", snapshot.subarray(0, snapshot.length - 1000), /not a whole DB/],
      ["one extra byte", Buffer.concat([snapshot, Buffer.from([0])]), /not a whole DB/],
      ["empty", Buffer.alloc(0), /not a whole DB/],
    ];
    for (const [label, data, expected] of cases) {
      const path = await variant(data);
      await assert.rejects(verifySnapshotFile(path), (err: unknown) => {
        assert.ok(err instanceof ChecksumMismatchError, `${label}: ${String(err)}`);
        assert.match(err.message, expected, label);
        return true;
      });
      await assert.rejects(through(data, [3, 4096, 17]), ChecksumMismatchError, label);
    }
  });

  void test("etcdutl agrees: it restores the good snapshot and refuses the flipped one", async () => {
    const etcdutl = join(BIN, "etcdutl");
    await run(etcdutl, ["snapshot", "restore", snapshotPath, "--data-dir", join(dir, "restored-good")]);
    const flipped = Buffer.from(snapshot);
    flipped[flipped.length >> 1] = (flipped[flipped.length >> 1] ?? 0) ^ 0x01;
    const path = await variant(flipped);
    await assert.rejects(verifySnapshotFile(path), ChecksumMismatchError);
    await assert.rejects(
      run(etcdutl, ["snapshot", "restore", path, "--data-dir", join(dir, "restored-bad")]),
      /expected sha256/,
    );
  });

  void test("result is unavailable before the stream verified", () => {
    assert.throws(() => new SnapshotVerifier("x").result, /before it verified/);
  });
});
