/**
 * A ZIP reader for archives on disk: parses the end records (ZIP64 included) and the central directory, refuses
 * unsafe or unsupported entries up front, and streams an entry while inflating and checking its CRC32 and size.
 * Reads what Go's archive/zip (RKE), Info-ZIP `zip` and our ZipWriter produce.
 */
import { open, type FileHandle } from "node:fs/promises";
import { Readable } from "node:stream";
import { ArchiveError, NotFoundError } from "../util/errors.js";
import { RecordReader } from "./bytes.js";
import { entryData } from "./entry-data.js";
import { FLAG, LEN, METHOD, SIG, unsafeEntryNameReason } from "./zip-format.js";
import { readCentralDirectory, type ZipEntry } from "./zip-directory.js";

const READ_CHUNK = 256 * 1024;

export type { ZipEntry } from "./zip-directory.js";

export interface OpenEntryOptions {
  /** Fail with ArchiveError once the uncompressed output passes this many bytes (zip bombs, oversized entries). */
  maxSize?: number;
}

export interface ZipReader {
  readonly path: string;
  /** Every entry in central-directory order, names exactly as stored. */
  readonly entries: readonly ZipEntry[];
  /** The entry named exactly `name`, or undefined. */
  getEntry(name: string): ZipEntry | undefined;
  /**
   * Streams the uncompressed bytes of the entry named exactly `name`. Throws NotFoundError synchronously when
   * there is no such entry. The stream fails with ArchiveError on a bad local header, truncated or corrupt data,
   * a CRC32 or size mismatch, or output past `maxSize`; it ends only after every check passed.
   */
  openEntry(name: string, options?: OpenEntryOptions): Readable;
  /** Closes the file; streams still open fail. */
  close(): Promise<void>;
}

/**
 * Opens and indexes the archive at `path`. Rejects with ArchiveError for anything malformed or unsafe (every entry
 * is checked here, so one hostile name refuses the whole archive), or with the fs error if it cannot be opened.
 */
export async function openZip(path: string): Promise<ZipReader> {
  const handle = await open(path, "r");
  try {
    const { size } = await handle.stat();
    const directory = await readCentralDirectory(handle, size, path);
    checkEntries(directory.entries, directory.offset, path);
    return new DiskZipReader(path, handle, directory.entries, directory.offset);
  } catch (err) {
    await handle.close();
    throw err;
  }
}

function checkEntries(entries: readonly ZipEntry[], dataEnd: number, path: string): void {
  const seen = new Set<string>();
  for (const e of entries) {
    const where = `zip ${path}, entry ${JSON.stringify(e.name)}`;
    const unsafe = unsafeEntryNameReason(e.name);
    if (unsafe) throw new ArchiveError(`${where}: unsafe name (${unsafe})`);
    if (seen.has(e.name)) throw new ArchiveError(`${where}: duplicate entry name`);
    seen.add(e.name);
    if (e.flags & (FLAG.encrypted | FLAG.strongEncryption))
      throw new ArchiveError(`${where}: encrypted entries are not supported`);
    if (e.method !== METHOD.store && e.method !== METHOD.deflate)
      throw new ArchiveError(`${where}: unsupported compression method ${e.method}`);
    if (e.offset + LEN.localHeader + e.compressedSize > dataEnd) {
      throw new ArchiveError(`${where}: data runs past the end of the file or into the central directory`);
    }
  }
}

/** Positional reads, so entries can be read one after another (or at once) through the one shared handle. */
async function* readRange(handle: FileHandle, start: number, length: number): AsyncGenerator<Buffer> {
  const end = start + length;
  for (let pos = start; pos < end;) {
    const buf = Buffer.allocUnsafe(Math.min(READ_CHUNK, end - pos));
    const { bytesRead } = await handle.read(buf, 0, buf.length, pos);
    if (bytesRead === 0) throw new Error(`unexpected end of file at offset ${pos}`);
    pos += bytesRead;
    yield buf.subarray(0, bytesRead);
  }
}

class DiskZipReader implements ZipReader {
  private readonly byName: Map<string, ZipEntry>;

  constructor(
    readonly path: string,
    private readonly handle: FileHandle,
    readonly entries: readonly ZipEntry[],
    private readonly dataEnd: number,
  ) {
    this.byName = new Map(entries.map((e) => [e.name, e]));
  }

  getEntry(name: string): ZipEntry | undefined {
    return this.byName.get(name);
  }

  openEntry(name: string, options: OpenEntryOptions = {}): Readable {
    const entry = this.byName.get(name);
    if (!entry) throw new NotFoundError(`zip ${this.path} has no entry ${JSON.stringify(name)}`);
    return Readable.from(this.entryChunks(entry, options.maxSize ?? Number.POSITIVE_INFINITY), { objectMode: false });
  }

  async close(): Promise<void> {
    await this.handle.close();
  }

  private async *entryChunks(entry: ZipEntry, maxSize: number): AsyncGenerator<Buffer> {
    const where = `zip ${this.path}, entry ${JSON.stringify(entry.name)}`;
    const start = await this.dataStart(entry, where);
    const raw = Readable.from(readRange(this.handle, start, entry.compressedSize), { objectMode: false });
    const count = { size: 0, crc32: 0 };
    yield* entryData(raw, { method: entry.method, where, maxSize, declared: entry.size, chunkSize: 64 * 1024 }, count);
    if (count.size !== entry.size)
      throw new ArchiveError(`${where}: ${count.size} bytes of data, ${entry.size} declared`);
    if (count.crc32 !== entry.crc32) throw new ArchiveError(`${where}: CRC32 mismatch (the data is corrupt)`);
  }

  /** Reads the local header, whose name and extra lengths may differ from the central directory's. */
  private async dataStart(entry: ZipEntry, where: string): Promise<number> {
    const header = Buffer.alloc(LEN.localHeader);
    const { bytesRead } = await this.handle.read(header, 0, LEN.localHeader, entry.offset);
    const r = new RecordReader(header);
    if (bytesRead < LEN.localHeader || r.u32() !== SIG.localHeader) {
      throw new ArchiveError(`${where}: no local file header at offset ${entry.offset}`);
    }
    r.skip(22);
    const start = entry.offset + LEN.localHeader + r.u16() + r.u16();
    if (start + entry.compressedSize > this.dataEnd) {
      throw new ArchiveError(`${where}: data runs past the end of the file or into the central directory`);
    }
    return start;
  }
}
