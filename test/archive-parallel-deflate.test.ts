import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { after, describe, test } from "node:test";
import { promisify } from "node:util";
import { crc32, inflateRawSync } from "node:zlib";
import { parallelDeflateRaw } from "../src/archive/parallel-deflate.js";
import { ZipWriter } from "../src/archive/zip.js";

const run = promisify(execFile);
const dir = await mkdtemp(join(tmpdir(), "lifeboat-pdeflate-"));
after(() => rm(dir, { recursive: true, force: true }));

const BLOCK = 64 * 1024;

function compressible(size: number): Buffer {
  const words = ["etcd", "revision", "lease", "/registry/pods/", "kube-system", "\n"];
  const parts: string[] = [];
  let n = 0;
  for (let i = 0; n < size; i++) {
    const w = words[(i * 7 + (i >> 3)) % words.length] ?? "";
    parts.push(w);
    n += w.length;
  }
  return Buffer.from(parts.join("")).subarray(0, size);
}

async function deflate(data: Buffer, chunk: number, workers = 2): Promise<Buffer> {
  const out: Buffer[] = [];
  const pieces: Buffer[] = [];
  for (let i = 0; i < data.length; i += chunk) pieces.push(data.subarray(i, i + chunk));
  for await (const b of parallelDeflateRaw(Readable.from(pieces), { level: 1, blockBytes: BLOCK, workers }))
    out.push(b);
  return Buffer.concat(out);
}

describe("parallel deflate", () => {
  const cases: [string, number][] = [
    ["empty input", 0],
    ["one byte", 1],
    ["exactly one block", BLOCK],
    ["one byte over a block", BLOCK + 1],
    ["one byte under two blocks", 2 * BLOCK - 1],
    ["many blocks", 37 * BLOCK + 123],
  ];
  for (const [label, size] of cases) {
    for (const kind of ["random", "compressible"] as const) {
      test(`${label} (${kind}) inflates byte-identical`, async () => {
        const data = kind === "random" ? randomBytes(size) : compressible(size);
        for (const chunk of [7919, BLOCK, 3 * BLOCK]) {
          const packed = await deflate(data, chunk);
          assert.ok(inflateRawSync(packed).equals(data), `chunk ${chunk}`);
        }
      });
    }
  }

  test("compressible data shrinks; one thread gives the same bytes as many", async () => {
    const data = compressible(9 * BLOCK + 5);
    const many = await deflate(data, 10_000, 3);
    const one = await deflate(data, 10_000, 1);
    assert.ok(many.length < data.length / 3, `${many.length} of ${data.length}`);
    assert.ok(many.equals(one));
  });

  test("a failing source fails the stream", async () => {
    async function* bad(): AsyncGenerator<Buffer> {
      yield randomBytes(3 * BLOCK);
      throw new Error("source broke");
    }
    await assert.rejects(async () => {
      for await (const _ of parallelDeflateRaw(bad(), { level: 1, blockBytes: BLOCK, workers: 2 })) void _;
    }, /source broke/);
  });

  test("a consumer that stops early ends the stream with its blocks settled, and the next stream is whole", async () => {
    const data = compressible(12 * BLOCK);
    let taken = 0;
    const pieces = Array.from({ length: 12 }, (_, i) => data.subarray(i * BLOCK, (i + 1) * BLOCK));
    for await (const _ of parallelDeflateRaw(Readable.from(pieces), { level: 1, blockBytes: BLOCK, workers: 2 })) {
      void _;
      if (++taken === 2) break;
    }
    assert.equal(taken, 2);
    assert.ok(inflateRawSync(await deflate(data, BLOCK, 2)).equals(data));
  });

  test("a parallel zip entry passes unzip -t and Python's zipfile", async () => {
    const data = Buffer.concat([compressible(3 << 20), randomBytes(1 << 20)]);
    const path = join(dir, "p.zip");
    const writer = new ZipWriter();
    const written = pipeline(writer.output, createWriteStream(path));
    const entry = await writer.addEntry("/backup/snap", Readable.from([data]), { level: 1, threads: 2 });
    assert.equal(entry.size, data.length);
    assert.equal(entry.crc32, crc32(data));
    await writer.finish();
    await written;
    const py = [
      "import sys, zipfile, hashlib",
      "z = zipfile.ZipFile(sys.argv[1])",
      "assert z.testzip() is None",
      "print(hashlib.sha256(z.read('/backup/snap')).hexdigest())",
    ].join("\n");
    const { stdout } = await run("python3", ["-c", py, path]);
    const { createHash } = await import("node:crypto");
    assert.equal(stdout.trim(), createHash("sha256").update(data).digest("hex"));
    const unzip = await run("unzip", ["-t", path]).catch((err: { code?: string }) => err);
    if ("stdout" in unzip) assert.match(String(unzip.stdout), /No errors detected/);
    else assert.equal(unzip.code, "ENOENT", "unzip -t rejected the archive");
  });
});
