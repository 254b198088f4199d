/**
 * A streaming ZIP writer. Entries are written one after another with data descriptors (sizes are not known up
 * front), so nothing is ever buffered beyond a chunk: the output is a Readable whose consumer sets the pace.
 * Layout follows Go's archive/zip (what RKE's rke-tools uses), plus the UTF-8 flag and ZIP64 records when a
 * size or an offset reaches 4 GiB.
 */
import { Readable, Transform, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createDeflateRaw, crc32 } from "node:zlib";
import { ArchiveError } from "../util/errors.js";
import { RecordWriter } from "./bytes.js";
import { parallelDeflateRaw } from "./parallel-deflate.js";
import {
  EXTERNAL_ATTRS_FILE_0600,
  EXTRA,
  FLAG,
  LEN,
  MADE_BY_UNIX,
  METHOD,
  SIG,
  U16_MAX,
  U32_MAX,
  VERSION,
  dosDateTime,
  extendedTimestampExtra,
  unsafeEntryNameReason,
  type MethodName,
} from "./zip-format.js";

export interface EntryOptions {
  /** Default "deflate". */
  method?: MethodName;
  /** zlib level 0-9 for deflate; default 6. */
  level?: number;
  /** Default the Unix epoch, as RKE forces. */
  mtime?: Date;
  /**
   * Deflate threads: 2 or more deflates independent blocks, that many at once on libuv's thread pool
   * (parallel-deflate.ts), still one standard deflate entry; 1 (the default) is zlib's single stream.
   */
  threads?: number;
}

export interface EntryResult {
  size: number;
  compressedSize: number;
  crc32: number;
}

export interface ZipWriterOptions {
  /** Write ZIP64 records for every entry and the end of the archive even when nothing needs them (tests). */
  forceZip64?: boolean;
  /** Bytes the output may hold before the writer waits for the consumer; default 1 MiB. */
  highWaterMark?: number;
}

interface CentralRecord extends EntryResult {
  name: Buffer;
  method: number;
  mtime: Date;
  offset: number;
}

const EPOCH = new Date(0);
const FLAGS = FLAG.dataDescriptor | FLAG.utf8;

/** A Readable the writer pushes into; `write` resolves once the consumer wants more (end-to-end backpressure). */
class ArchiveOutput extends Readable {
  private wake: (() => void) | undefined;

  override _read(): void {
    this.resume_();
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.resume_();
    callback(err);
  }

  async write(chunk: Buffer): Promise<void> {
    this.assertOpen();
    if (!this.push(chunk)) await new Promise<void>((resolve) => (this.wake = resolve));
    this.assertOpen();
  }

  private resume_(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  private assertOpen(): void {
    if (this.destroyed) throw new ArchiveError("zip output was closed before the archive was finished");
  }
}

/**
 * Writes a ZIP archive to `output`. Call `addEntry` for each entry in turn (never two at once), then `finish`.
 * Any failure (a source error, the consumer closing `output`) destroys `output` with the error, so a consumer
 * writing a file sees the failure and must not keep the partial archive.
 */
export class ZipWriter {
  readonly output: Readable;
  private readonly out: ArchiveOutput;
  private readonly records: CentralRecord[] = [];
  private readonly forceZip64: boolean;
  private bytes = 0;
  private state: "idle" | "busy" | "finished" | "failed" = "idle";
  /** The entry `beginWrittenEntry` started, until `endWrittenEntry`. */
  private written: Pick<CentralRecord, "name" | "mtime" | "offset"> | undefined;

  constructor(options: ZipWriterOptions = {}) {
    this.out = new ArchiveOutput({ highWaterMark: options.highWaterMark ?? 1 << 20 });
    this.output = this.out;
    this.forceZip64 = options.forceZip64 ?? false;
  }

  /**
   * Streams `source` into a new entry named exactly `name` (a leading "/" is kept). Resolves with the entry's
   * uncompressed size, compressed size and CRC32 once its data descriptor is written. Rejects with ArchiveError
   * for an unsafe name (the writer stays usable) or a misuse, or with the source's error (the writer fails).
   */
  async addEntry(name: string, source: Readable | Buffer, options: EntryOptions = {}): Promise<EntryResult> {
    this.checkedName(name);
    this.begin(`add entry ${name}`);
    try {
      const record = await this.writeEntry(name, source, options);
      this.records.push(record);
      this.state = "idle";
      return { size: record.size, compressedSize: record.compressedSize, crc32: record.crc32 };
    } catch (err) {
      throw this.fail(err);
    }
  }

  /**
   * Starts a stored entry whose data the caller writes into the archive itself, right after the local header this
   * returns; `output` carries neither. A save spools the member's stream this way, straight into the archive file
   * (src/snapshot/stored.ts). `endWrittenEntry`, with the data's counts, then writes its data descriptor. The bytes are
   * the ones `addEntry` writes for the same data with `method: "store"`.
   */
  beginWrittenEntry(name: string, options: Pick<EntryOptions, "mtime"> = {}): Buffer {
    const nameBytes = this.checkedName(name);
    this.begin(`add entry ${name}`);
    const mtime = options.mtime ?? EPOCH;
    const header = this.localHeader(nameBytes, METHOD.store, mtime);
    this.written = { name: nameBytes, mtime, offset: this.bytes };
    this.bytes += header.length;
    return header;
  }

  /** Ends the entry `beginWrittenEntry` started: its data was `counts.size` bytes with CRC-32 `counts.crc32`. */
  async endWrittenEntry(counts: Pick<EntryResult, "size" | "crc32">): Promise<EntryResult> {
    const written = this.written;
    if (this.state !== "busy" || !written) throw new ArchiveError("cannot end an entry: none was begun");
    this.written = undefined;
    const record: CentralRecord = {
      ...written,
      method: METHOD.store,
      size: counts.size,
      compressedSize: counts.size,
      crc32: counts.crc32,
    };
    try {
      this.bytes += counts.size;
      await this.put(this.dataDescriptor(record));
      this.records.push(record);
      this.state = "idle";
      return { size: record.size, compressedSize: record.compressedSize, crc32: record.crc32 };
    } catch (err) {
      throw this.fail(err);
    }
  }

  /** Writes the central directory and the end records, then ends `output`. Resolves with the archive's size. */
  async finish(): Promise<{ bytes: number }> {
    this.begin("finish");
    try {
      const start = this.bytes;
      for (const record of this.records) await this.put(this.centralHeader(record));
      await this.writeEnd(start, this.bytes - start);
      this.state = "finished";
      this.out.push(null);
      return { bytes: this.bytes };
    } catch (err) {
      throw this.fail(err);
    }
  }

  /** Stops writing: `output` is destroyed with `reason` and later calls reject. A no-op once finished. */
  abort(reason: Error): void {
    if (this.state !== "finished") this.fail(reason);
  }

  /** The name's bytes; ArchiveError for an unsafe or too long name (the writer stays usable). */
  private checkedName(name: string): Buffer {
    const reason = unsafeEntryNameReason(name) ?? (Buffer.byteLength(name) > U16_MAX ? "name too long" : undefined);
    if (reason) throw new ArchiveError(`refusing zip entry ${JSON.stringify(name)}: ${reason}`);
    return Buffer.from(name, "utf8");
  }

  private begin(what: string): void {
    if (this.state !== "idle") throw new ArchiveError(`cannot ${what}: the zip writer is ${this.state}`);
    this.state = "busy";
  }

  private fail(err: unknown): unknown {
    this.state = "failed";
    if (!this.out.destroyed) this.out.destroy(err instanceof Error ? err : new Error(String(err)));
    return err;
  }

  private async put(chunk: Buffer): Promise<void> {
    await this.out.write(chunk);
    this.bytes += chunk.length;
  }

  private async writeEntry(name: string, source: Readable | Buffer, options: EntryOptions): Promise<CentralRecord> {
    const method = options.method ?? "deflate";
    const mtime = options.mtime ?? EPOCH;
    const nameBytes = Buffer.from(name, "utf8");
    const offset = this.bytes;
    await this.put(this.localHeader(nameBytes, METHOD[method], mtime));
    const counts = await this.writeData(source, method, options.level, options.threads ?? 1);
    await this.put(this.dataDescriptor(counts));
    return { ...counts, name: nameBytes, method: METHOD[method], mtime, offset };
  }

  private async writeData(
    source: Readable | Buffer,
    method: MethodName,
    level: number | undefined,
    threads: number,
  ): Promise<EntryResult> {
    const counts: EntryResult = { size: 0, compressedSize: 0, crc32: 0 };
    const input = Buffer.isBuffer(source) ? Readable.from([source]) : source;
    const measure = new Transform({
      transform(chunk: Buffer | string, _encoding, callback) {
        const buf = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
        counts.size += buf.length;
        counts.crc32 = crc32(buf, counts.crc32);
        callback(null, buf);
      },
    });
    const sink = new Writable({
      highWaterMark: 0,
      write: (chunk: Buffer, _encoding, callback) => {
        counts.compressedSize += chunk.length;
        this.put(chunk).then(() => callback(), callback);
      },
    });
    if (method === "store") await pipeline(input, measure, sink);
    else if (threads > 1)
      await pipeline(
        input,
        measure,
        (blocks: AsyncIterable<Buffer>) => parallelDeflateRaw(blocks, { level: level ?? 6, workers: threads }),
        sink,
      );
    else await pipeline(input, measure, createDeflateRaw({ level: level ?? 6, chunkSize: 64 * 1024 }), sink);
    return counts;
  }

  private localHeader(name: Buffer, method: number, mtime: Date): Buffer {
    const ut = extendedTimestampExtra(mtime);
    // Sizes are unknown when streaming: zeros plus a data descriptor. In ZIP64 mode the 0xFFFFFFFF sentinels and
    // a zeroed ZIP64 extra tell streaming readers that the descriptor carries 8-byte sizes (libarchive does this).
    const z64 = this.forceZip64;
    const extra = z64 ? Buffer.concat([ut, zip64Extra([0, 0])]) : ut;
    const dos = dosDateTime(mtime);
    return new RecordWriter(LEN.localHeader + name.length + extra.length)
      .u32(SIG.localHeader)
      .u16(z64 ? VERSION.zip64 : VERSION.default)
      .u16(FLAGS)
      .u16(method)
      .u16(dos.time)
      .u16(dos.date)
      .u32(0)
      .u32(z64 ? U32_MAX : 0)
      .u32(z64 ? U32_MAX : 0)
      .u16(name.length)
      .u16(extra.length)
      .bytes(name)
      .bytes(extra)
      .done();
  }

  /** 8-byte sizes when the entry needed ZIP64, as Go writes them (readers take the sizes from the central directory). */
  private dataDescriptor(counts: EntryResult): Buffer {
    const wide = this.forceZip64 || counts.size >= U32_MAX || counts.compressedSize >= U32_MAX;
    const w = new RecordWriter(wide ? LEN.dataDescriptor64 : LEN.dataDescriptor)
      .u32(SIG.dataDescriptor)
      .u32(counts.crc32);
    return (
      wide ? w.u64(counts.compressedSize).u64(counts.size) : w.u32(counts.compressedSize).u32(counts.size)
    ).done();
  }

  private centralHeader(r: CentralRecord): Buffer {
    const force = this.forceZip64;
    const big = { size: force || r.size >= U32_MAX, csize: force || r.compressedSize >= U32_MAX };
    const farOffset = force || r.offset >= U32_MAX;
    const wide = [big.size ? r.size : -1, big.csize ? r.compressedSize : -1, farOffset ? r.offset : -1];
    const z64Values = wide.filter((v) => v >= 0);
    const ut = extendedTimestampExtra(r.mtime);
    const extra = z64Values.length > 0 ? Buffer.concat([ut, zip64Extra(z64Values)]) : ut;
    const version = z64Values.length > 0 ? VERSION.zip64 : VERSION.default;
    const dos = dosDateTime(r.mtime);
    return new RecordWriter(LEN.centralHeader + r.name.length + extra.length)
      .u32(SIG.centralHeader)
      .u16(MADE_BY_UNIX | version)
      .u16(version)
      .u16(FLAGS)
      .u16(r.method)
      .u16(dos.time)
      .u16(dos.date)
      .u32(r.crc32)
      .u32(big.csize ? U32_MAX : r.compressedSize)
      .u32(big.size ? U32_MAX : r.size)
      .u16(r.name.length)
      .u16(extra.length)
      .u16(0) // comment length
      .u16(0) // disk number start
      .u16(0) // internal attributes
      .u32(EXTERNAL_ATTRS_FILE_0600)
      .u32(farOffset ? U32_MAX : r.offset)
      .bytes(r.name)
      .bytes(extra)
      .done();
  }

  private async writeEnd(cdOffset: number, cdSize: number): Promise<void> {
    const count = this.records.length;
    const z64 = this.forceZip64 || count >= U16_MAX || cdSize >= U32_MAX || cdOffset >= U32_MAX;
    if (z64) {
      const endOffset = this.bytes;
      await this.put(zip64End(count, cdSize, cdOffset));
      await this.put(new RecordWriter(LEN.zip64Locator).u32(SIG.zip64Locator).u32(0).u64(endOffset).u32(1).done());
    }
    const end = new RecordWriter(LEN.end)
      .u32(SIG.end)
      .u16(0) // this disk
      .u16(0) // disk with the central directory
      .u16(z64 ? U16_MAX : count)
      .u16(z64 ? U16_MAX : count)
      .u32(z64 ? U32_MAX : cdSize)
      .u32(z64 ? U32_MAX : cdOffset)
      .u16(0) // comment length
      .done();
    await this.put(end);
  }
}

function zip64Extra(values: readonly number[]): Buffer {
  const w = new RecordWriter(4 + 8 * values.length).u16(EXTRA.zip64).u16(8 * values.length);
  for (const v of values) w.u64(v);
  return w.done();
}

function zip64End(count: number, cdSize: number, cdOffset: number): Buffer {
  return new RecordWriter(LEN.zip64End)
    .u32(SIG.zip64End)
    .u64(LEN.zip64End - 12) // size of the rest of the record
    .u16(MADE_BY_UNIX | VERSION.zip64)
    .u16(VERSION.zip64)
    .u32(0) // this disk
    .u32(0) // disk with the central directory
    .u64(count)
    .u64(count)
    .u64(cdSize)
    .u64(cdOffset)
    .done();
}
