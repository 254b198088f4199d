import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createWriteStream } from "node:fs";
import { mkdtemp, readFile, rm, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { after, describe, test } from "node:test";
import { promisify } from "node:util";
import { crc32, deflateRawSync } from "node:zlib";
import { openZip, ZipWriter, type EntryOptions, type ZipReader } from "../src/archive/zip.js";
import { ArchiveError, NotFoundError } from "../src/util/errors.js";

const run = promisify(execFile);
const dir = await mkdtemp(join(tmpdir(), "lifeboat-zip-"));
after(() => rm(dir, { recursive: true, force: true }));
let counter = 0;
const tmp = (suffix = ".zip") => join(dir, `f${++counter}${suffix}`);

interface Item {
  name: string;
  data: Buffer;
  options?: EntryOptions;
  /** Feed the data in chunks of this size instead of as one Buffer. */
  chunk?: number;
}

async function writeZip(items: readonly Item[], options: { forceZip64?: boolean } = {}): Promise<string> {
  const path = tmp();
  const writer = new ZipWriter(options);
  const written = pipeline(writer.output, createWriteStream(path));
  for (const item of items) {
    const source = item.chunk ? Readable.from(chunks(item.data, item.chunk)) : item.data;
    const result = await writer.addEntry(item.name, source, item.options);
    assert.equal(result.size, item.data.length);
    assert.equal(result.crc32, crc32(item.data));
  }
  const { bytes } = await writer.finish();
  await written;
  assert.equal((await readFile(path)).length, bytes);
  return path;
}

function* chunks(data: Buffer, size: number): Generator<Buffer> {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
}

async function readEntry(zip: ZipReader, name: string, maxSize?: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of zip.openEntry(name, maxSize === undefined ? {} : { maxSize })) parts.push(part as Buffer);
  return Buffer.concat(parts);
}

async function readAll(path: string): Promise<Map<string, Buffer>> {
  const zip = await openZip(path);
  try {
    const out = new Map<string, Buffer>();
    for (const e of zip.entries) out.set(e.name, await readEntry(zip, e.name));
    return out;
  } finally {
    await zip.close();
  }
}

/** Text that compresses, with some noise so deflate emits real Huffman blocks. */
function sample(bytes: number, seed = 1): Buffer {
  const buf = Buffer.alloc(bytes);
  let x = seed;
  for (let i = 0; i < bytes; i++) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    buf[i] = i % 7 === 0 ? x & 0xff : 0x61 + (i % 13);
  }
  return buf;
}

/**
 * Writes an archive laid out exactly as Go's archive/zip does for rke-tools' AddFileToZip
 * (FileInfoHeader + Name + Method = Deflate + Modified = time.Unix(0, 0), then CreateHeader, io.Copy, Close):
 * - local header: version needed 20; flags 0x0008 (data descriptor; 0x0800 only for names that need UTF-8);
 *   method 8; DOS time 0x0000 and date 0xEC21 (the epoch through timeToMsDosTime in UTC); CRC and both sizes 0;
 *   extra = the 9-byte extended timestamp 0x5455 {len 5, flags 1, mtime 0}.
 * - raw deflate data (Go's compress/flate emits different bytes than zlib, same format).
 * - data descriptor with signature: PK\7\8, CRC32, 32-bit compressed and uncompressed sizes.
 * - central header: made by 0x0314 (Unix, 2.0), needed 20, flags 0x0008, method 8, time/date as above, real
 *   CRC and sizes, same extra, no comment, disk 0, internal attributes 0, external attributes 0x81800000
 *   (regular file, mode 0600), local header offset.
 * - end record: disk 0/0, entry counts, directory size and offset, no comment.
 * `method` and `flags` can be overridden per entry to build hostile archives.
 */
function goStyleZip(entries: readonly { name: string; data: Buffer; method?: number; flags?: number }[]): Buffer {
  const parts: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  const ut = Buffer.from([0x55, 0x54, 0x05, 0x00, 0x01, 0, 0, 0, 0]);
  for (const e of entries) {
    const name = Buffer.from(e.name, "utf8");
    const method = e.method ?? 8;
    const flags = e.flags ?? 0x0008;
    const body = method === 8 ? deflateRawSync(e.data) : e.data;
    const crc = crc32(e.data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(flags, 6);
    local.writeUInt16LE(method, 8);
    local.writeUInt16LE(0x0000, 10);
    local.writeUInt16LE(0xec21, 12);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(ut.length, 28);
    const descriptor = Buffer.alloc(16);
    descriptor.writeUInt32LE(0x08074b50, 0);
    descriptor.writeUInt32LE(crc, 4);
    descriptor.writeUInt32LE(body.length, 8);
    descriptor.writeUInt32LE(e.data.length, 12);
    const header = Buffer.alloc(46);
    header.writeUInt32LE(0x02014b50, 0);
    header.writeUInt16LE(0x0314, 4);
    header.writeUInt16LE(20, 6);
    header.writeUInt16LE(flags, 8);
    header.writeUInt16LE(method, 10);
    header.writeUInt16LE(0x0000, 12);
    header.writeUInt16LE(0xec21, 14);
    header.writeUInt32LE(crc, 16);
    header.writeUInt32LE(body.length, 20);
    header.writeUInt32LE(e.data.length, 24);
    header.writeUInt16LE(name.length, 28);
    header.writeUInt16LE(ut.length, 30);
    header.writeUInt32LE(0x81800000, 38);
    header.writeUInt32LE(offset, 42);
    central.push(header, name, ut);
    const record = [local, name, ut, body, descriptor];
    parts.push(...record);
    offset += record.reduce((n, b) => n + b.length, 0);
  }
  const dirBytes = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(dirBytes.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...parts, dirBytes, end]);
}

async function writeBuffer(data: Buffer): Promise<string> {
  const path = tmp();
  await writeFile(path, data);
  return path;
}

/** Offset of the first central directory header (for patching fields in tests). */
function centralOffset(zip: Buffer): number {
  return zip.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
}

void describe("ZipWriter", () => {
  void test("deflate and store round trip, names kept exactly with the leading slash", async () => {
    const big = sample(3 * 1024 * 1024 + 17);
    const items: Item[] = [
      { name: "/backup/snap-1", data: big, chunk: 65_536 },
      {
        name: "/etc/kubernetes/snap-1.rkestate",
        data: Buffer.from('{"desiredState":{}}'),
        options: { method: "store" },
      },
      { name: "/stored-big", data: big, options: { method: "store" }, chunk: 100_000 },
      { name: "/empty-deflate", data: Buffer.alloc(0) },
      { name: "/empty-store", data: Buffer.alloc(0), options: { method: "store" } },
      { name: "relative/ünïcode-名前", data: Buffer.from("utf-8 name"), options: { level: 9 } },
    ];
    const path = await writeZip(items);
    const zip = await openZip(path);
    try {
      assert.deepEqual(
        zip.entries.map((e) => [e.name, e.method]),
        items.map((i) => [i.name, i.options?.method === "store" ? 0 : 8]),
      );
      for (const item of items) assert.ok((await readEntry(zip, item.name)).equals(item.data), item.name);
      const deflated = zip.getEntry("/backup/snap-1");
      assert.ok(deflated && deflated.compressedSize < big.length / 2, "deflate actually compresses");
    } finally {
      await zip.close();
    }
  });

  void test("unzip -t accepts the output and unzip -l lists /backup/<name> at the epoch", async () => {
    const path = await writeZip([
      { name: "/backup/rke_etcd_snapshot_2024-01-02T03:04:05+00:00", data: sample(200_000) },
      { name: "/etc/kubernetes/rke_etcd_snapshot_2024-01-02T03:04:05+00:00.rkestate", data: Buffer.from("{}") },
    ]);
    const tested = await run("unzip", ["-t", path]);
    assert.match(tested.stdout, /No errors detected/);
    const listed = await run("unzip", ["-l", path], { env: { ...process.env, TZ: "UTC" } });
    assert.match(listed.stdout, /1970-01-01 00:00\s+\/backup\/rke_etcd_snapshot_2024-01-02T03:04:05\+00:00\n/);
    assert.match(listed.stdout, /\/etc\/kubernetes\/rke_etcd_snapshot_2024-01-02T03:04:05\+00:00\.rkestate\n/);
  });

  void test("headers match Go's archive/zip: epoch as DOS 0xEC21/0x0000, UT extra, mode 0600, data descriptor", async () => {
    const zip = await readFile(await writeZip([{ name: "/backup/x", data: Buffer.from("abc") }]));
    assert.equal(zip.readUInt32LE(0), 0x04034b50);
    assert.equal(zip.readUInt16LE(6), 0x0808, "data descriptor + UTF-8 flags");
    assert.equal(zip.readUInt16LE(10), 0x0000, "DOS time");
    assert.equal(zip.readUInt16LE(12), 0xec21, "DOS date Go writes for time.Unix(0, 0) in UTC");
    assert.deepEqual([...zip.subarray(30 + 9, 30 + 9 + 9)], [0x55, 0x54, 5, 0, 1, 0, 0, 0, 0]);
    const cd = centralOffset(zip);
    assert.equal(zip.readUInt16LE(cd + 4), 0x0314);
    assert.equal(zip.readUInt32LE(cd + 38), 0x81800000);
  });

  void test("an explicit mtime is written as DOS time and as the UT extra field", async () => {
    const mtime = new Date("2024-05-06T07:08:10Z");
    const path = await writeZip([{ name: "/dated", data: Buffer.from("d"), options: { mtime } }]);
    const zip = await readFile(path);
    assert.equal(zip.readUInt16LE(10), 0x3905, "07:08:10");
    assert.equal(zip.readUInt16LE(12), 0x58a6, "2024-05-06");
    assert.equal(zip.readUInt32LE(30 + "/dated".length + 5), mtime.getTime() / 1000);
    const listed = await run("unzip", ["-l", path], { env: { ...process.env, TZ: "UTC" } });
    assert.match(listed.stdout, /2024-05-06 07:08\s+\/dated/);
  });

  void test("forced ZIP64 records are accepted by unzip and read back", async () => {
    const items: Item[] = [
      { name: "/backup/z", data: sample(500_000) },
      { name: "/stored", data: Buffer.from("stored"), options: { method: "store" } },
    ];
    const path = await writeZip(items, { forceZip64: true });
    const bytes = await readFile(path);
    assert.ok(bytes.includes(Buffer.from([0x50, 0x4b, 0x06, 0x06])), "ZIP64 end record present");
    assert.ok(bytes.includes(Buffer.from([0x50, 0x4b, 0x06, 0x07])), "ZIP64 locator present");
    assert.equal(bytes.readUInt32LE(bytes.length - 22 + 16), 0xffffffff, "end record defers to ZIP64");
    assert.match((await run("unzip", ["-t", path])).stdout, /No errors detected/);
    const read = await readAll(path);
    for (const item of items) assert.ok(read.get(item.name)?.equals(item.data));
  });

  void test("refuses unsafe names without spoiling the archive, and concurrent entries", async () => {
    const path = tmp();
    const writer = new ZipWriter();
    const written = pipeline(writer.output, createWriteStream(path));
    await assert.rejects(writer.addEntry("/backup/../../etc/x", Buffer.from("x")), /"\.\." path segment/);
    await assert.rejects(writer.addEntry("a\\b", Buffer.from("x")), /backslash/);
    await assert.rejects(writer.addEntry("", Buffer.from("x")), /empty name/);
    const first = writer.addEntry("/a", Readable.from([Buffer.from("x")]));
    await assert.rejects(writer.addEntry("/b", Buffer.from("y")), /busy/);
    await first;
    await writer.finish();
    await written;
    assert.deepEqual([...(await readAll(path)).keys()], ["/a"]);
  });

  void test("a failing source fails the output and the entry", async () => {
    const writer = new ZipWriter();
    const consumed = pipeline(writer.output, createWriteStream(tmp()));
    const source = new Readable({
      read() {
        this.destroy(new Error("etcd went away"));
      },
    });
    await assert.rejects(writer.addEntry("/backup/x", source), /etcd went away/);
    await assert.rejects(consumed, /etcd went away/);
    await assert.rejects(writer.finish(), ArchiveError);
  });

  void test("backpressure: a stalled consumer stops the writer from reading its source", async () => {
    const writer = new ZipWriter({ highWaterMark: 64 * 1024 });
    let produced = 0;
    const source = new Readable({
      highWaterMark: 64 * 1024,
      read() {
        produced += 64 * 1024;
        this.push(sample(64 * 1024, produced));
      },
    });
    const adding = writer.addEntry("/stream", source, { method: "store" });
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.ok(produced < 2 * 1024 * 1024, `source read ahead ${produced} bytes with nobody consuming`);
    writer.output.destroy();
    source.destroy();
    await assert.rejects(adding);
  });
});

void describe("openZip", () => {
  void test("reads an archive laid out like Go's archive/zip (RKE), and unzip agrees", async () => {
    const snapshot = sample(300_000, 7);
    const state = Buffer.from('{"currentState":{}}');
    const path = await writeBuffer(
      goStyleZip([
        { name: "/backup/2020-10-15T14:53:26Z_etcd", data: snapshot },
        { name: "/etc/kubernetes/2020-10-15T14:53:26Z_etcd.rkestate", data: state },
      ]),
    );
    assert.match((await run("unzip", ["-t", path])).stdout, /No errors detected/);
    const read = await readAll(path);
    assert.deepEqual(
      [...read.keys()],
      ["/backup/2020-10-15T14:53:26Z_etcd", "/etc/kubernetes/2020-10-15T14:53:26Z_etcd.rkestate"],
    );
    assert.ok(read.get("/backup/2020-10-15T14:53:26Z_etcd")?.equals(snapshot));
    assert.ok(read.get("/etc/kubernetes/2020-10-15T14:53:26Z_etcd.rkestate")?.equals(state));
  });

  void test("reads archives made by Debian's zip: plain, stored, ZIP64 and streamed through a pipe", async () => {
    const src = join(dir, "zipsrc");
    await run("mkdir", ["-p", join(src, "backup")]);
    const data = sample(250_000, 3);
    await writeFile(join(src, "backup", "snap"), data);
    const variants: [string, string[]][] = [
      ["plain", ["-q", "-r"]],
      ["stored", ["-q", "-0", "-r"]],
      ["zip64", ["-q", "-fz", "-r"]],
    ];
    for (const [label, flags] of variants) {
      const path = join(dir, `debian-${label}.zip`);
      await run("zip", [...flags, path, "backup"], { cwd: src });
      const read = await readAll(path);
      assert.ok(read.get("backup/snap")?.equals(data), label);
      assert.ok(read.has("backup/"), `${label}: directory entry listed`);
    }
    const streamed = join(dir, "debian-streamed.zip");
    await run("sh", ["-c", `cat backup/snap | zip -q - - | cat > ${streamed}`], { cwd: src });
    assert.ok((await readAll(streamed)).get("-")?.equals(data), "streamed with data descriptor and ZIP64 extra");
  });

  void test("a flipped byte in compressed or stored data is an ArchiveError", async () => {
    for (const method of ["deflate", "store"] as const) {
      const data = sample(100_000, 11);
      const bytes = await readFile(await writeZip([{ name: "/backup/x", data, options: { method } }]));
      const dataStart = 30 + "/backup/x".length + 9;
      bytes[dataStart + 500] = (bytes[dataStart + 500] ?? 0) ^ 0x10;
      const zip = await openZip(await writeBuffer(bytes));
      try {
        await assert.rejects(readEntry(zip, "/backup/x"), (err: unknown) => {
          assert.ok(err instanceof ArchiveError, String(err));
          assert.match(err.message, /\/backup\/x/);
          return true;
        });
      } finally {
        await zip.close();
      }
    }
  });

  void test("truncated files and directories are refused", async () => {
    const bytes = await readFile(await writeZip([{ name: "/backup/x", data: sample(50_000) }]));
    for (const cut of [bytes.length - 1, Math.floor(bytes.length / 2), 10, 0]) {
      await assert.rejects(openZip(await writeBuffer(bytes.subarray(0, cut))), /no end of central directory/);
    }
    const longDir = Buffer.from(bytes);
    longDir.writeUInt32LE(longDir.readUInt32LE(longDir.length - 10) + 100, longDir.length - 10);
    await assert.rejects(openZip(await writeBuffer(longDir)), /central directory is truncated/);
    const fewer = Buffer.from(bytes);
    const cd = centralOffset(fewer);
    const withoutDir = Buffer.concat([fewer.subarray(0, cd + 20), fewer.subarray(fewer.length - 22)]);
    withoutDir.writeUInt32LE(20, withoutDir.length - 22 + 12);
    withoutDir.writeUInt32LE(cd, withoutDir.length - 22 + 16);
    await assert.rejects(openZip(await writeBuffer(withoutDir)), /missing or truncated header/);
  });

  void test("a file truncated after it was opened fails the entry stream", async () => {
    const path = await writeZip([{ name: "/backup/x", data: sample(1_000_000), options: { method: "store" } }]);
    const zip = await openZip(path);
    try {
      await truncate(path, 500_000);
      await assert.rejects(readEntry(zip, "/backup/x"), /"\/backup\/x": corrupt or truncated data/);
    } finally {
      await zip.close();
    }
  });

  void test("entry data past the end of the file is refused naming the entry", async () => {
    const bytes = Buffer.from(goStyleZip([{ name: "/backup/big", data: sample(1000) }]));
    bytes.writeUInt32LE(0x7fff0000, centralOffset(bytes) + 20);
    await assert.rejects(openZip(await writeBuffer(bytes)), /"\/backup\/big": data runs past the end/);
  });

  void test("zip-slip, control characters, duplicates, unknown methods and encryption are refused", async () => {
    const cases: [Parameters<typeof goStyleZip>[0], RegExp][] = [
      [[{ name: "../x", data: Buffer.from("x") }], /"\.\.\/x": unsafe name/],
      [[{ name: "/backup/../../etc/x", data: Buffer.from("x") }], /"\/backup\/\.\.\/\.\.\/etc\/x": unsafe name/],
      [[{ name: "backup\\..\\x", data: Buffer.from("x") }], /unsafe name \(backslash/],
      [[{ name: "/backup/a\u0000b", data: Buffer.from("x") }], /control character/],
      [[{ name: "/backup/a\nb", data: Buffer.from("x") }], /control character/],
      [
        [
          { name: "/backup/a", data: Buffer.from("x") },
          { name: "/backup/a", data: Buffer.from("y") },
        ],
        /duplicate entry name/,
      ],
      [[{ name: "/backup/a", data: Buffer.from("x"), method: 12 }], /unsupported compression method 12/],
      [[{ name: "/backup/a", data: Buffer.from("x"), flags: 0x0009 }], /encrypted/],
    ];
    for (const [entries, expected] of cases) {
      await assert.rejects(openZip(await writeBuffer(goStyleZip(entries))), (err: unknown) => {
        assert.ok(err instanceof ArchiveError, String(err));
        assert.match(err.message, expected);
        return true;
      });
    }
  });

  void test("openEntry: exact names only, maxSize enforced", async () => {
    const data = sample(200_000);
    const path = await writeZip([{ name: "/backup/myname1", data }]);
    const zip = await openZip(path);
    try {
      assert.throws(() => zip.openEntry("/backup/myname"), NotFoundError);
      assert.equal(zip.getEntry("backup/myname1"), undefined);
      await assert.rejects(readEntry(zip, "/backup/myname1", 100_000), /larger than the 100000-byte limit/);
      assert.ok((await readEntry(zip, "/backup/myname1", 200_000)).equals(data));
    } finally {
      await zip.close();
    }
  });

  void test("a declared size that disagrees with the data is an ArchiveError", async () => {
    const bytes = Buffer.from(goStyleZip([{ name: "/backup/x", data: sample(5000) }]));
    bytes.writeUInt32LE(4999, centralOffset(bytes) + 24);
    const zip = await openZip(await writeBuffer(bytes));
    try {
      await assert.rejects(readEntry(zip, "/backup/x"), /more data than the 4999 bytes declared/);
    } finally {
      await zip.close();
    }
  });

  void test("not a zip at all", async () => {
    await assert.rejects(openZip(await writeBuffer(sample(100_000))), ArchiveError);
  });

  void test("consumer that stops early releases the entry cleanly", async () => {
    const path = await writeZip([{ name: "/big", data: sample(2_000_000) }]);
    const zip = await openZip(path);
    try {
      let seen = 0;
      await assert.rejects(
        pipeline(
          zip.openEntry("/big"),
          new Writable({
            write(chunk: Buffer, _e, callback) {
              seen += chunk.length;
              callback(seen > 100_000 ? new Error("enough") : null);
            },
          }),
        ),
        /enough/,
      );
      assert.equal((await readEntry(zip, "/big")).length, 2_000_000, "the reader still works afterwards");
    } finally {
      await zip.close();
    }
  });
});
