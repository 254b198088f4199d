import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { after, describe, test } from "node:test";
import { promisify } from "node:util";
import {
  detectSnapshotFile,
  extractSnapshot,
  isRecurringName,
  readStateFile,
  snapshotEntryName,
  stateEntryName,
  validateSnapshotName,
  writeSnapshotArchive,
  type SnapshotArchiveOptions,
} from "../src/archive/rke.js";
import { ZipWriter } from "../src/archive/zip.js";
import { ArchiveError, ChecksumMismatchError, NotFoundError, UserError } from "../src/util/errors.js";
import { writeStreamAtomic } from "../src/util/fs.js";

const run = promisify(execFile);
const dir = await mkdtemp(join(tmpdir(), "lifeboat-rke-"));
after(() => rm(dir, { recursive: true, force: true }));
let counter = 0;
const tmp = (suffix: string) => join(dir, `f${++counter}${suffix}`);

/** A snapshot-shaped file: `pages` 512-byte blocks of somewhat compressible bytes, then sha256 of them. */
function fakeSnapshot(pages: number, seed = 1): Buffer {
  const db = Buffer.alloc(pages * 512);
  let x = seed;
  for (let i = 0; i < db.length; i += 4) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    db.writeUInt32LE(i % 64 < 16 ? x : 0, i);
  }
  return Buffer.concat([db, createHash("sha256").update(db).digest()]);
}

const sha256 = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");

function chunked(data: Buffer, size = 100_000): Readable {
  return Readable.from(
    (function* () {
      for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
    })(),
  );
}

async function archive(options: Omit<SnapshotArchiveOptions, "snapshot"> & { data: Buffer }): Promise<string> {
  const path = tmp(".zip");
  const { output, done } = writeSnapshotArchive({ ...options, snapshot: chunked(options.data) });
  await pipeline(output, createWriteStream(path));
  const result = await done;
  assert.equal(result.archiveBytes, (await readFile(path)).length);
  return path;
}

void describe("RKE snapshot archives", () => {
  void test("write, list, extract and read the state file back (deflate on one and two threads, and store)", async () => {
    const name = "rke_etcd_snapshot_2024-05-06T07:08:09+02:00";
    const data = fakeSnapshot(4096, 3);
    const state = Buffer.from(JSON.stringify({ desiredState: { rkeConfig: {} }, currentState: {} }));
    for (const [method, threads] of [
      ["deflate", 1],
      ["deflate", 2],
      ["store", 1],
    ] as const) {
      const path = tmp(".zip");
      const snapshot = chunked(data);
      const { output, done } = writeSnapshotArchive({ name, snapshot, stateFile: state, method, threads });
      await pipeline(output, createWriteStream(path));
      const result = await done;
      assert.equal(result.snapshotSize, data.length);
      assert.equal(result.snapshotSha256, sha256(data));
      assert.equal(result.dbSha256, sha256(data.subarray(0, data.length - 32)));
      assert.equal(result.stateFileSize, state.length);
      if (method === "deflate") assert.ok(result.snapshotCompressedSize < data.length / 2);
      else assert.equal(result.snapshotCompressedSize, data.length);

      const listed = await run("unzip", ["-l", path]);
      assert.ok(listed.stdout.includes(` ${snapshotEntryName(name)}\n`));
      assert.ok(listed.stdout.includes(` ${stateEntryName(name)}\n`));
      assert.match((await run("unzip", ["-t", path])).stdout, /No errors detected/);
      assert.equal(await detectSnapshotFile(path), "zip");

      const dest = tmp(".db");
      const extracted = await extractSnapshot(path, name, dest);
      assert.deepEqual(extracted, {
        format: "zip",
        entry: `/backup/${name}`,
        size: data.length,
        sha256: sha256(data),
        dbSha256: result.dbSha256,
      });
      assert.ok((await readFile(dest)).equals(data));
      assert.ok((await readStateFile(path, name))?.equals(state));
    }
  });

  void test("a snapshot with a bad trailer fails the output, so an atomic write leaves nothing", async () => {
    const data = fakeSnapshot(1024);
    data[100] = (data[100] ?? 0) ^ 0xff;
    for (const threads of [1, 2]) {
      const folder = join(dir, `bad${threads}`);
      await mkdir(folder);
      const { output, done } = writeSnapshotArchive({ name: "bad", snapshot: chunked(data), threads });
      await assert.rejects(writeStreamAtomic(join(folder, "bad.zip"), output), ChecksumMismatchError);
      await assert.rejects(done, ChecksumMismatchError);
      assert.deepEqual(await readdir(folder), [], `${threads} thread(s)`);
    }
  });

  void test("a failing snapshot stream fails both the output and done", async () => {
    const source = new Readable({
      read() {
        this.destroy(new Error("stream reset by etcd"));
      },
    });
    const { output, done } = writeSnapshotArchive({ name: "reset", snapshot: source });
    await assert.rejects(pipeline(output, createWriteStream(tmp(".zip"))), /stream reset by etcd/);
    await assert.rejects(done, /stream reset by etcd/);
  });

  void test("lookups are exact: myname never matches myname1", async () => {
    const path = await archive({ name: "myname1", data: fakeSnapshot(64), stateFile: Buffer.from("{}") });
    const dest = tmp(".db");
    await assert.rejects(extractSnapshot(path, "myname", dest), (err: unknown) => {
      assert.ok(err instanceof ArchiveError);
      assert.match(err.message, /holds no \/backup\/myname entry \(entries: "\/backup\/myname1"/);
      return true;
    });
    assert.equal(await readStateFile(path, "myname"), undefined);
    await assert.rejects(readFile(dest), { code: "ENOENT" });
  });

  void test("archives re-zipped by hand (backup/<name>, no leading slash) are accepted", async () => {
    const name = "2020-10-15T14:53:26Z_etcd";
    const data = fakeSnapshot(256, 9);
    const src = join(dir, "byhand");
    await mkdir(join(src, "backup"), { recursive: true });
    await mkdir(join(src, "etc", "kubernetes"), { recursive: true });
    await writeFile(join(src, "backup", name), data);
    await writeFile(join(src, "etc", "kubernetes", `${name}.rkestate`), '{"x":1}');
    const path = join(dir, "byhand.zip");
    await run("zip", ["-q", "-r", path, "backup", "etc"], { cwd: src });
    const dest = tmp(".db");
    const result = await extractSnapshot(path, name, dest);
    assert.equal(result.entry, `backup/${name}`);
    assert.ok((await readFile(dest)).equals(data));
    assert.equal((await readStateFile(path, name))?.toString(), '{"x":1}');
  });

  void test("raw snapshot files are detected by content, verified and copied", async () => {
    const data = fakeSnapshot(128, 5);
    const raw = tmp(".zip"); // the extension lies: detection reads the magic bytes
    await writeFile(raw, data);
    assert.equal(await detectSnapshotFile(raw), "raw");
    const dest = tmp(".db");
    const result = await extractSnapshot(raw, "plain", dest);
    assert.equal(result.format, "raw");
    assert.equal(result.sha256, sha256(data));
    assert.ok((await readFile(dest)).equals(data));
    assert.equal(await readStateFile(raw, "plain"), undefined);

    const corrupt = Buffer.from(data);
    corrupt[10] = (corrupt[10] ?? 0) ^ 1;
    const bad = tmp(".db");
    await writeFile(bad, corrupt);
    const badDest = tmp(".db");
    await assert.rejects(extractSnapshot(bad, "plain", badDest), ChecksumMismatchError);
    await assert.rejects(readFile(badDest), { code: "ENOENT" });
  });

  void test("a zip whose entry is intact but whose snapshot is corrupt is refused at extraction", async () => {
    const data = fakeSnapshot(128);
    data[600] = (data[600] ?? 0) ^ 1;
    const path = tmp(".zip");
    const writer = new ZipWriter();
    const written = pipeline(writer.output, createWriteStream(path));
    await writer.addEntry("/backup/corrupt", data);
    await writer.finish();
    await written;
    const dest = tmp(".db");
    await assert.rejects(extractSnapshot(path, "corrupt", dest), ChecksumMismatchError);
    await assert.rejects(readFile(dest), { code: "ENOENT" });
  });

  void test("size limits: maxSize on the snapshot, 64 MiB on the state file", async () => {
    const data = fakeSnapshot(2048);
    const path = await archive({ name: "limits", data, stateFile: Buffer.alloc(64 * 1024 * 1024 + 1) });
    await assert.rejects(extractSnapshot(path, "limits", tmp(".db"), { maxSize: 100_000 }), /limit/);
    await assert.rejects(readStateFile(path, "limits"), (err: unknown) => err instanceof ArchiveError);
  });

  void test("unsafe names are refused before anything is written; a missing file is NotFoundError", async () => {
    const snapshot = chunked(fakeSnapshot(8));
    assert.throws(() => writeSnapshotArchive({ name: "../evil", snapshot }), UserError);
    await assert.rejects(extractSnapshot(tmp(".zip"), "a/b", tmp(".db")), UserError);
    await assert.rejects(readStateFile(tmp(".zip"), ".hidden"), UserError);
    await assert.rejects(extractSnapshot(tmp(".zip"), "missing", tmp(".db")), NotFoundError);
  });
});

void describe("snapshot names", () => {
  void test("validateSnapshotName accepts sensible names and explains refusals", () => {
    for (const ok of ["nightly", "rke_etcd_snapshot_2024-01-02T03:04:05+01:00", "pre-upgrade.v1", "a".repeat(200)]) {
      assert.equal(validateSnapshotName(ok), undefined, ok);
    }
    const refused: [string, RegExp][] = [
      ["", /empty/],
      ["a/b", /path separator/],
      ["a\\b", /path separator/],
      ["a..b", /"\.\."/],
      ["..", /"\.\."/],
      ["tab\there", /control character/],
      ["nul\u0000", /control character/],
      ["del\u007f", /control character/],
      ["a".repeat(201), /longer than 200/],
      [".hidden", /starts with/],
      ["-flag", /starts with/],
      ["snap.zip", /\.zip/],
      ["snap.ZIP", /\.zip/],
      ["2020-10-15T14:53:26Z_etcd", /reserved for recurring/],
      ["2024-01-02T03:04:05+01:00_etcd", /reserved for recurring/],
    ];
    for (const [name, reason] of refused)
      assert.match(validateSnapshotName(name) ?? "(accepted)", reason, JSON.stringify(name));
    assert.equal(validateSnapshotName("2020-10-15T14:53:26Z_etcd", { allowRecurring: true }), undefined);
  });

  void test("isRecurringName matches exactly RKE's recurring pattern", () => {
    assert.equal(isRecurringName("2020-10-15T14:53:26Z_etcd"), true);
    assert.equal(isRecurringName("2020-10-15T14:53:26+02:00_etcd"), true);
    assert.equal(isRecurringName("2020-10-15T14:53:26Z_etcd.zip"), false);
    assert.equal(isRecurringName("x2020-10-15T14:53:26Z_etcd"), false);
    assert.equal(isRecurringName("2020-10-15T14:53_26Z_etcd"), false);
    assert.equal(isRecurringName("rke_etcd_snapshot_2020-10-15T14:53:26Z"), false);
  });
});
