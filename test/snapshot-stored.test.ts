/**
 * A stored save made in place (src/snapshot/stored.ts): the member's stream is written straight into the archive
 * file, which ends byte for byte as the zip writer's stored archive of the same stream; RKE's reader (unzip here)
 * accepts it; a bad trailer or a failed stream leaves nothing in the folder.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough, Readable } from "node:stream";
import { test } from "node:test";
import { promisify } from "node:util";
import { extractSnapshot, storedSnapshotArchive, writeSnapshotArchive } from "../src/archive/rke.js";
import { ZipWriter } from "../src/archive/zip-writer.js";
import { archiveKey, manifestKey, parseManifest } from "../src/snapshot/manifest.js";
import { saveSnapshot, type SnapshotSource } from "../src/snapshot/save.js";
import { writeStoredArchive } from "../src/snapshot/stored.js";
import { LocalStore } from "../src/store/local.js";
import { ChecksumMismatchError } from "../src/util/errors.js";
import { silentLogger } from "../src/util/log.js";
import { chunked, collect, snapshotBytes } from "./helpers/snapshot-bytes.js";

const run = promisify(execFile);

async function tempDir(t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "lifeboat-stored-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");

for (const stateFile of [Buffer.from('{"desiredState":{}}\n'), undefined]) {
  const label = stateFile ? "with" : "without";
  test(`in place, ${label} a state file: the same bytes as the zip writer's stored archive, and unzip accepts it`, async (t) => {
    const dir = await tempDir(t);
    const data = snapshotBytes((20_000 + 3) * 512);
    const store = new LocalStore(dir);
    const made = await writeStoredArchive(chunked(data, 32 * 1024), store, { name: "s1", stateFile });
    const file = await readFile(join(dir, "s1.zip"));
    const reference = writeSnapshotArchive({
      name: "s1",
      snapshot: chunked(data, 32 * 1024),
      stateFile,
      method: "store",
    });
    const expected = await collect(reference.output);
    const inner = await reference.done;
    assert.ok(file.equals(expected), "the archive made in place differs from the zip writer's");
    assert.deepEqual(made.inner, inner);
    assert.deepEqual(made.archive, { key: "s1.zip", bytes: file.length, sha256: sha256(file) });
    assert.deepEqual(made.released.bytes, data.length);
    assert.deepEqual(await readdir(dir), ["s1.zip"], "no part file is left");
    const listed = await run("unzip", ["-t", join(dir, "s1.zip")]);
    assert.match(listed.stdout, /No errors detected/);
    const out = join(dir, "extracted");
    const extracted = await extractSnapshot(join(dir, "s1.zip"), "s1", out);
    assert.ok((await readFile(out)).equals(data), "the extracted snapshot is the member's stream");
    assert.equal(extracted.sha256, sha256(data));
  });
}

test("in place with ZIP64 records: the same bytes as the zip writer's", async (t) => {
  const data = snapshotBytes(64 * 512);
  const frame = storedSnapshotArchive({ name: "z", forceZip64: true });
  const { tail } = await frame.finish(chunked(data, 1000));
  const reference = writeSnapshotArchive({
    name: "z",
    snapshot: chunked(data, 1000),
    method: "store",
    forceZip64: true,
  });
  const expected = await collect(reference.output);
  assert.ok(Buffer.concat([frame.header, data, tail]).equals(expected));
  await reference.done;
  t.diagnostic(`archive of ${expected.length} bytes`);
});

test("an entry past 4 GiB written by the caller gets an 8-byte descriptor and ZIP64 sizes in the directory", async () => {
  const writer = new ZipWriter();
  const tail = collect(writer.output);
  const header = writer.beginWrittenEntry("/backup/big");
  const size = 4 * 1024 ** 3 + 7;
  const entry = await writer.endWrittenEntry({ size, crc32: 0x1234abcd });
  assert.deepEqual(entry, { size, compressedSize: size, crc32: 0x1234abcd });
  const { bytes } = await writer.finish();
  const rest = await tail;
  assert.equal(bytes, header.length + size + rest.length);
  // The descriptor: signature, CRC-32, then 8-byte compressed and uncompressed sizes.
  assert.equal(rest.readUInt32LE(0), 0x08074b50);
  assert.equal(rest.readUInt32LE(4), 0x1234abcd);
  assert.equal(Number(rest.readBigUInt64LE(8)), size);
  assert.equal(Number(rest.readBigUInt64LE(16)), size);
  // The central header's sizes are the ZIP64 sentinel, and its extra field holds the real ones.
  const central = rest.subarray(24);
  assert.equal(central.readUInt32LE(0), 0x02014b50);
  assert.equal(central.readUInt32LE(20), 0xffffffff);
  assert.equal(central.readUInt32LE(24), 0xffffffff);
  assert.ok(rest.includes(Buffer.from([0x01, 0x00, 0x10, 0x00])), "a ZIP64 extra field with both sizes");
});

test("an entry is ended only once it was begun, and the writer refuses another while one is open", async () => {
  const writer = new ZipWriter();
  void collect(writer.output).catch(() => undefined);
  await assert.rejects(writer.endWrittenEntry({ size: 0, crc32: 0 }), /none was begun/);
  writer.beginWrittenEntry("/a");
  await assert.rejects(writer.addEntry("/b", Buffer.from("b")), /zip writer is busy/);
  assert.throws(() => writer.beginWrittenEntry("../escape"), /refusing zip entry/);
});

test("the empty snapshot (a trailer alone) is refused, and the folder is left empty", async (t) => {
  const dir = await tempDir(t);
  const trailer = createHash("sha256").update(Buffer.alloc(0)).digest();
  await assert.rejects(
    writeStoredArchive(Readable.from([trailer]), new LocalStore(dir), { name: "empty" }),
    ChecksumMismatchError,
  );
  assert.deepEqual(await readdir(dir), []);
});

test("a bad trailer fails the save and leaves nothing in the folder", async (t) => {
  const dir = await tempDir(t);
  const data = snapshotBytes(100 * 512);
  data[10] = data[10]! ^ 0xff;
  await assert.rejects(
    writeStoredArchive(chunked(data, 4096), new LocalStore(dir), { name: "bad" }),
    /sha256 trailer mismatch/,
  );
  assert.deepEqual(await readdir(dir), []);
});

test("a stream that fails midway fails the save and leaves nothing in the folder", async (t) => {
  const dir = await tempDir(t);
  const source = new PassThrough();
  source.write(randomBytes(200_000));
  setTimeout(() => source.destroy(new Error("member went away")), 50);
  await assert.rejects(writeStoredArchive(source, new LocalStore(dir), { name: "cut" }), /member went away/);
  assert.deepEqual(await readdir(dir), []);
});

test("commitScratch puts only a scratch file beside its key in place", async (t) => {
  const dir = await tempDir(t);
  const store = new LocalStore(dir);
  await assert.rejects(store.commitScratch(join(dir, "plain.zip"), "x.zip"), /not a scratch file/);
  await assert.rejects(store.commitScratch(join(tmpdir(), ".x.zip.0badf00d.part"), "x.zip"), /not a scratch file/);
  await assert.rejects(store.commitScratch(store.scratchPath("x.zip"), "../x.zip"));
});

/** A member that streams `data` and answers the rest as a healthy one does. */
function source(data: Buffer): SnapshotSource {
  const member: SnapshotSource = {
    health: () => Promise.resolve({ reachable: true, hasLeader: true, alarms: [] }),
    status: () =>
      Promise.resolve({ memberId: "1", clusterId: "2", revision: 7, dbSize: data.length - 32, version: "3.5.0" }),
    snapshot: () => chunked(data, 32 * 1024),
    count: () => Promise.resolve(3),
    hashKV: () => Promise.resolve({ hash: 99, compactRevision: 0, revision: 7 }),
  };
  return member;
}

test("a stored save: the manifest describes the file in place, and S3's copy (another store) is the same bytes", async (t) => {
  const dir = await tempDir(t);
  const remoteDir = await tempDir(t);
  const data = snapshotBytes(3000 * 512);
  const local = new LocalStore(dir);
  const remote = new LocalStore(remoteDir);
  const result = await saveSnapshot(
    {
      name: "day",
      kind: "one-time",
      node: "n1",
      compression: "store",
      retries: 0,
      retryPauseMs: 0,
      toolVersion: "test",
      stateFile: Buffer.from("{}"),
    },
    { source: source(data), local, remote, log: silentLogger, clock: () => new Date(), sleep: () => Promise.resolve() },
  );
  const file = await readFile(join(dir, archiveKey("day")));
  const parsed = parseManifest(await readFile(join(dir, manifestKey("day")), "utf8"));
  assert.ok(parsed.ok);
  const m = parsed.manifest;
  assert.equal(m.archive.compression, "store");
  assert.equal(m.archive.size, file.length);
  assert.equal(m.archive.sha256, sha256(file));
  assert.equal(m.snapshot.sha256, sha256(data));
  assert.deepEqual(m.contents, { revision: 7, keys: 3, hashKV: 99, compactRevision: 0 });
  assert.ok(result.memberMs !== undefined, "the member's time is reported");
  assert.equal(result.upload?.ok, true, JSON.stringify(result.upload));
  assert.ok((await readFile(join(remoteDir, archiveKey("day")))).equals(file), "the uploaded copy is the local file");
  assert.deepEqual((await readdir(dir)).sort(), [manifestKey("day"), archiveKey("day")]);
});
