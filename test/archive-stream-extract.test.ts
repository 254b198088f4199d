/**
 * The snapshot out of an archive that is still arriving (src/archive/rke.ts extractSnapshotStreaming, zip-stream.ts):
 * byte-identical to the disk extraction for our archives (deflated and stored), Info-ZIP's and a raw file; never
 * committed before the whole archive is there and its central directory agrees; refused, leaving nothing, when the
 * archive is cut short, its directory disagrees, or the digest is not the expected one.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable, type Writable } from "node:stream";
import { after, test } from "node:test";
import { promisify } from "node:util";
import { extractSnapshot, extractSnapshotStreaming, writeSnapshotArchive } from "../src/archive/rke.js";
import { ArchiveError, ChecksumMismatchError } from "../src/util/errors.js";
import { GrowingFile } from "../src/util/growing-file.js";

const run = promisify(execFile);
const dir = await mkdtemp(join(tmpdir(), "lifeboat-stream-extract-"));
after(() => rm(dir, { recursive: true, force: true }));

const NAME = "snap1";

/** A snapshot as far as the trailer goes: 1.5 MiB of half-compressible pages, then their sha256. */
function snapshotBytes(): Buffer {
  const noise = randomBytes(3 * 1024 * 512);
  const db = Buffer.alloc(noise.length);
  for (let i = 0; i < db.length; i++) db[i] = i % 1024 < 512 ? noise[i]! : 97 + (i % 7);
  return Buffer.concat([db, createHash("sha256").update(db).digest()]);
}
const snapshot = snapshotBytes();
const sha256 = createHash("sha256").update(snapshot).digest("hex");

async function archive(method: "deflate" | "store", withState = true): Promise<Buffer> {
  const { output, done } = writeSnapshotArchive({
    name: NAME,
    snapshot: Readable.from([snapshot]),
    method,
    ...(withState ? { stateFile: Buffer.from('{"currentState":{}}') } : {}),
  });
  const chunks: Buffer[] = [];
  for await (const chunk of output as AsyncIterable<Buffer>) chunks.push(chunk);
  await done;
  return Buffer.concat(chunks);
}

function chunked(bytes: Buffer, size = 64 * 1024): Readable {
  return Readable.from(
    (function* () {
      for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size);
    })(),
  );
}

/** Extracts `bytes` as if it arrived: the archive is written to disk whole first, the stream is its bytes. */
async function extractOf(
  bytes: Buffer,
  label: string,
  o: { size?: number; check?: (d: { sha256: string }) => void } = {},
) {
  const path = join(dir, `${label}.zip`);
  await writeFile(path, bytes);
  const dest = join(dir, `${label}.db`);
  const result = await extractSnapshotStreaming({
    source: chunked(bytes),
    whole: async () => path,
    name: NAME,
    destPath: dest,
    ...o,
  });
  return { result, dest, path };
}

async function leftovers(label: string): Promise<string[]> {
  return (await readdir(dir)).filter((n) => n.includes(`${label}.db`));
}

test("our deflated archive streams: the same bytes and digest as the disk extraction", async () => {
  const { result, dest, path } = await extractOf(await archive("deflate"), "deflated");
  assert.equal(result.format, "zip");
  assert.equal(result.entry, `/backup/${NAME}`);
  assert.equal(result.sha256, sha256);
  assert.ok((await readFile(dest)).equals(snapshot));
  const disk = await extractSnapshot(path, NAME, join(dir, "deflated-disk.db"));
  assert.deepEqual({ ...disk }, { ...result });
});

test("a stored entry whose size is in a data descriptor streams with the manifest's size, and extracts without it", async () => {
  const bytes = await archive("store");
  const streamed = await extractOf(bytes, "stored", { size: snapshot.length });
  assert.equal(streamed.result.sha256, sha256);
  assert.ok((await readFile(streamed.dest)).equals(snapshot));
  const unsized = await extractOf(bytes, "stored-unsized");
  assert.equal(unsized.result.sha256, sha256, "without a size it waits for the whole archive and reads it from disk");
  await assert.rejects(
    extractOf(bytes, "stored-wrong", { size: snapshot.length - 512 }),
    (err: unknown) => err instanceof ArchiveError || err instanceof ChecksumMismatchError,
  );
  assert.deepEqual(await leftovers("stored-wrong"), [], "a wrong size is refused by the directory check");
});

test("Info-ZIP's archive streams; one whose first entry is the state file extracts once whole", async () => {
  const src = join(dir, "infozip");
  await mkdir(join(src, "backup"), { recursive: true });
  await mkdir(join(src, "etc", "kubernetes"), { recursive: true });
  await writeFile(join(src, "backup", NAME), snapshot);
  await writeFile(join(src, "etc", "kubernetes", `${NAME}.rkestate`), "{}");
  await run("zip", ["-q", "-X", join(dir, "first.zip"), `backup/${NAME}`, `etc/kubernetes/${NAME}.rkestate`], {
    cwd: src,
  });
  await run("zip", ["-q", "-X", join(dir, "second.zip"), `etc/kubernetes/${NAME}.rkestate`, `backup/${NAME}`], {
    cwd: src,
  });
  for (const which of ["first", "second"]) {
    const { result, dest } = await extractOf(await readFile(join(dir, `${which}.zip`)), `infozip-${which}`);
    assert.equal(result.entry, `backup/${NAME}`);
    assert.equal(result.sha256, sha256, which);
    assert.ok((await readFile(dest)).equals(snapshot));
  }
});

test("a raw snapshot file is verified as it arrives; a raw file cut short is refused", async () => {
  const { result, dest } = await extractOf(snapshot, "raw");
  assert.equal(result.format, "raw");
  assert.ok((await readFile(dest)).equals(snapshot));
  await assert.rejects(extractOf(snapshot.subarray(0, 100_000), "raw-short"), ChecksumMismatchError);
  assert.deepEqual(await leftovers("raw-short"), []);
});

test("an archive cut short, or whose directory's CRC32 disagrees, is refused and leaves nothing", async () => {
  const bytes = await archive("deflate");
  for (const cut of [40, 100_000, bytes.length - 30]) {
    await assert.rejects(extractOf(bytes.subarray(0, cut), `short-${cut}`), ArchiveError, `cut at ${cut}`);
    assert.deepEqual(await leftovers(`short-${cut}`), []);
  }
  const tampered = Buffer.from(bytes);
  const central = tampered.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
  tampered.writeUInt32LE((tampered.readUInt32LE(central + 16) ^ 1) >>> 0, central + 16);
  await assert.rejects(extractOf(tampered, "crc"), /CRC32 mismatch/);
  assert.deepEqual(await leftovers("crc"), []);
});

test("another digest than the expected one is refused before anything is committed", async () => {
  const check = (d: { sha256: string }) => {
    if (d.sha256 !== "0".repeat(64)) throw new ChecksumMismatchError(`sha256 ${d.sha256}, expected 000… (test)`);
  };
  await assert.rejects(extractOf(await archive("deflate"), "digest", { check }), /expected 000… \(test\)/);
  assert.deepEqual(await leftovers("digest"), []);
});

test("from a growing file: inflated while it arrives, committed only once the whole archive is there", async () => {
  const bytes = await archive("deflate");
  const file = await GrowingFile.create(join(dir, "growing.zip"));
  const writer: Writable = file.writable();
  const dest = join(dir, "growing.db");
  let committed = false;
  const whole = (async () => {
    for (let at = 0; at < bytes.length; at += 32 * 1024) {
      await new Promise<void>((resolve, reject) =>
        writer.write(bytes.subarray(at, at + 32 * 1024), (e) => (e ? reject(e) : resolve())),
      );
      await new Promise((resolve) => setImmediate(resolve));
    }
    await new Promise<void>((resolve) => writer.end(resolve));
    // Hold the commit back: the snapshot is inflated by now, yet must not appear.
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.deepEqual(await leftovers("growing").then((l) => l.filter((n) => !n.startsWith("."))), []);
    await file.commit();
    committed = true;
  })();
  const result = await extractSnapshotStreaming({
    source: file.reader(),
    whole: () => whole.then(() => file.path),
    name: NAME,
    destPath: dest,
  });
  assert.ok(committed);
  assert.equal(result.sha256, sha256);
  assert.ok((await readFile(dest)).equals(snapshot));
  await file.release();
});
