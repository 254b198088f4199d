import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { after, test } from "node:test";
import { extractSnapshot, writeSnapshotArchive } from "../src/archive/rke.js";
import { peakRssGrowth } from "./helpers/memory.js";

const dir = await mkdtemp(join(tmpdir(), "lifeboat-mem-"));
after(() => rm(dir, { recursive: true, force: true }));

const MiB = 1 << 20;
const DB_MIB = 300;
const CHUNK = 32 * 1024;
const NOISE = randomBytes(256 * 1024);

/**
 * A 300 MiB snapshot produced on the fly (never held in memory) with a valid sha256 trailer, in 32 KiB chunks as
 * etcd's Maintenance.Snapshot sends them.
 */
function syntheticSnapshot(): { stream: Readable; dbSha256: () => string } {
  const hash = createHash("sha256");
  let digest = "";
  const stream = Readable.from(
    (function* () {
      for (let i = 0; i < (DB_MIB * MiB) / CHUNK; i++) {
        const page = Buffer.alloc(CHUNK);
        NOISE.copy(page, 0, (i % 64) * 1024, (i % 64) * 1024 + CHUNK / 4);
        page.writeUInt32LE(i, CHUNK - 4);
        hash.update(page);
        yield page;
      }
      const trailer = hash.digest();
      digest = trailer.toString("hex");
      yield trailer;
    })(),
    // A byte-sized buffer like a gRPC stream's, not Readable.from's default of 16 queued chunks.
    { objectMode: false, highWaterMark: MiB },
  );
  return { stream, dbSha256: () => digest };
}

void test("a 300 MiB snapshot streams through archive and extraction with flat memory", async () => {
  const zipPath = join(dir, "big.zip");
  const source = syntheticSnapshot();
  let dbSha256 = "";
  const writing = await peakRssGrowth(async () => {
    const { output, done } = writeSnapshotArchive({ name: "big", snapshot: source.stream });
    await pipeline(output, createWriteStream(zipPath));
    const result = await done;
    assert.equal(result.snapshotSize, DB_MIB * MiB + 32);
    dbSha256 = result.dbSha256;
  });
  assert.equal(dbSha256, source.dbSha256());
  assert.ok((await stat(zipPath)).size < DB_MIB * MiB, "compressed");
  assert.ok(writing < 64 * MiB, `RSS grew ${(writing / MiB).toFixed(1)} MiB while writing`);

  const dest = join(dir, "big.db");
  const reading = await peakRssGrowth(async () => {
    const result = await extractSnapshot(zipPath, "big", dest);
    assert.equal(result.dbSha256, dbSha256);
  });
  assert.equal((await stat(dest)).size, DB_MIB * MiB + 32);
  assert.ok(reading < 64 * MiB, `RSS grew ${(reading / MiB).toFixed(1)} MiB while extracting`);
});

void test("the same snapshot deflated on two threads stays flat, and extracts to the same database", async () => {
  const zipPath = join(dir, "parallel.zip");
  const source = syntheticSnapshot();
  let dbSha256 = "";
  const writing = await peakRssGrowth(async () => {
    const { output, done } = writeSnapshotArchive({ name: "par", snapshot: source.stream, threads: 2 });
    await pipeline(output, createWriteStream(zipPath));
    dbSha256 = (await done).dbSha256;
  });
  assert.equal(dbSha256, source.dbSha256());
  // Blocks deflate on libuv's thread pool (no isolates); at most five 1 MiB blocks (four deflating or queued, one
  // pending) and their outputs are held. A fresh process measured 30 MiB (21-23 MiB with the agent's
  // MALLOC_MMAP_THRESHOLD_; 56 MiB on two worker isolates, 133 MiB when blocks were copied into them). Far below
  // 300 MiB.
  assert.ok(writing < 48 * MiB, `RSS grew ${(writing / MiB).toFixed(1)} MiB while writing with 2 deflate threads`);
  const result = await extractSnapshot(zipPath, "par", join(dir, "par.db"));
  assert.equal(result.dbSha256, dbSha256);
});
