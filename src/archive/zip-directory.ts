/** Locating and parsing the end records and the central directory of a ZIP file (ZIP64 included). */
import type { FileHandle } from "node:fs/promises";
import { ArchiveError } from "../util/errors.js";
import { RecordReader } from "./bytes.js";
import { EXTRA, FLAG, LEN, SIG, U16_MAX, U32_MAX } from "./zip-format.js";

export interface ZipEntry {
  /** Exactly as stored (UTF-8; Latin-1 for legacy names that are not valid UTF-8). */
  readonly name: string;
  /** 0 = stored, 8 = deflated (the reader refuses any other). */
  readonly method: number;
  readonly flags: number;
  readonly crc32: number;
  readonly compressedSize: number;
  /** Uncompressed size. */
  readonly size: number;
  /** Offset of the local file header. */
  readonly offset: number;
}

export interface CentralDirectory {
  entries: ZipEntry[];
  /** Where the central directory starts: every entry's data must end before it. */
  offset: number;
}

/** A central directory larger than this is refused rather than read into memory (ours hold two entries). */
const MAX_DIRECTORY_BYTES = 64 * 1024 * 1024;

interface EndRecord {
  count: number;
  cdSize: number;
  cdOffset: number;
  /** Where the end records start: the central directory must end at or before this. */
  limit: number;
}

/** Reads the central directory of the `fileSize`-byte file open in `handle`; ArchiveError on anything malformed. */
export async function readCentralDirectory(
  handle: FileHandle,
  fileSize: number,
  path: string,
): Promise<CentralDirectory> {
  try {
    return await parseDirectory(handle, fileSize, path);
  } catch (err) {
    // A 64-bit field past 2^53 cannot point into a real file.
    if (err instanceof RangeError) throw new ArchiveError(`zip ${path}: ${err.message}`, { cause: err });
    throw err;
  }
}

async function parseDirectory(handle: FileHandle, fileSize: number, path: string): Promise<CentralDirectory> {
  const end = await readEndRecord(handle, fileSize, path);
  if (end.cdOffset + end.cdSize > end.limit) {
    throw new ArchiveError(`zip ${path}: central directory is truncated or overlaps the end record`);
  }
  if (end.cdSize > MAX_DIRECTORY_BYTES) throw new ArchiveError(`zip ${path}: central directory is too large`);
  const buf = await readAt(handle, end.cdOffset, end.cdSize);
  if (buf.length < end.cdSize) throw new ArchiveError(`zip ${path}: central directory is truncated`);
  const r = new RecordReader(buf);
  const entries: ZipEntry[] = [];
  for (let i = 0; i < end.count; i++) entries.push(parseCentralHeader(r, path, i));
  return { entries, offset: end.cdOffset };
}

async function readAt(handle: FileHandle, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await handle.read(buf, done, length - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return buf.subarray(0, done);
}

async function readEndRecord(handle: FileHandle, fileSize: number, path: string): Promise<EndRecord> {
  const tailLength = Math.min(fileSize, LEN.end + U16_MAX + LEN.zip64Locator);
  const tailStart = fileSize - tailLength;
  const tail = await readAt(handle, tailStart, tailLength);
  const at = findEndRecord(tail);
  if (at < 0) throw new ArchiveError(`${path} is not a zip archive (no end of central directory record)`);
  const r = new RecordReader(tail, at + 4);
  const disk = r.u16();
  const cdDisk = r.u16();
  r.skip(2);
  const record: EndRecord = { count: r.u16(), cdSize: r.u32(), cdOffset: r.u32(), limit: tailStart + at };
  if (disk !== 0 || cdDisk !== 0) throw new ArchiveError(`zip ${path}: multi-disk archives are not supported`);
  const locatorAt = at - LEN.zip64Locator;
  if (locatorAt >= 0 && tail.readUInt32LE(locatorAt) === SIG.zip64Locator) {
    return readZip64End(handle, new RecordReader(tail, locatorAt + 4), path);
  }
  if (record.count === U16_MAX || record.cdSize === U32_MAX || record.cdOffset === U32_MAX) {
    throw new ArchiveError(`zip ${path}: ZIP64 end of central directory locator is missing`);
  }
  return record;
}

/** Index of the end record in `tail`, scanning back from the end so a comment cannot hide the real one. */
function findEndRecord(tail: Buffer): number {
  for (let i = tail.length - LEN.end; i >= 0; i--) {
    if (tail.readUInt32LE(i) !== SIG.end) continue;
    if (i + LEN.end + tail.readUInt16LE(i + 20) <= tail.length) return i;
  }
  return -1;
}

async function readZip64End(handle: FileHandle, locator: RecordReader, path: string): Promise<EndRecord> {
  const disk = locator.u32();
  const offset = locator.u64();
  const disks = locator.u32();
  if (disk !== 0 || disks > 1) throw new ArchiveError(`zip ${path}: multi-disk archives are not supported`);
  const buf = await readAt(handle, offset, LEN.zip64End);
  if (buf.length < LEN.zip64End || buf.readUInt32LE(0) !== SIG.zip64End) {
    throw new ArchiveError(`zip ${path}: ZIP64 end of central directory record is missing or truncated`);
  }
  const r = new RecordReader(buf, 4 + 8 + 2 + 2);
  const thisDisk = r.u32();
  const cdDisk = r.u32();
  if (thisDisk !== 0 || cdDisk !== 0) throw new ArchiveError(`zip ${path}: multi-disk archives are not supported`);
  r.skip(8);
  return { count: r.u64(), cdSize: r.u64(), cdOffset: r.u64(), limit: offset };
}

type Bad = (what: string, cause?: unknown) => ArchiveError;

function parseCentralHeader(r: RecordReader, path: string, index: number): ZipEntry {
  const bad: Bad = (what, cause) =>
    new ArchiveError(`zip ${path}: central directory entry ${index}: ${what}`, cause === undefined ? {} : { cause });
  if (r.remaining < LEN.centralHeader || r.u32() !== SIG.centralHeader) throw bad("missing or truncated header");
  r.skip(4); // version made by, version needed
  const flags = r.u16();
  const method = r.u16();
  r.skip(4); // DOS time and date
  const crc32 = r.u32();
  const fields = { compressedSize: r.u32(), size: r.u32(), offset: 0 };
  const nameLength = r.u16();
  const extraLength = r.u16();
  const commentLength = r.u16();
  r.skip(8); // disk number start, internal and external attributes
  fields.offset = r.u32();
  if (r.remaining < nameLength + extraLength + commentLength) throw bad("name or extra field runs past the directory");
  const name = decodeName(r.bytes(nameLength), flags, bad);
  applyZip64Extra(fields, r.bytes(extraLength), bad);
  r.skip(commentLength);
  return { name, method, flags, crc32, ...fields };
}

function decodeName(raw: Buffer, flags: number, bad: Bad): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(raw);
  } catch (err) {
    if (flags & FLAG.utf8) throw bad("name is flagged UTF-8 but is not", err);
    return raw.toString("latin1");
  }
}

/** Replaces each 0xFFFFFFFF field with its 8-byte value from the ZIP64 extra, in the order APPNOTE 4.5.3 fixes. */
function applyZip64Extra(
  fields: { compressedSize: number; size: number; offset: number },
  extra: Buffer,
  bad: Bad,
): void {
  const wanted = (["size", "compressedSize", "offset"] as const).filter((k) => fields[k] === U32_MAX);
  if (wanted.length === 0) return;
  const r = new RecordReader(extra);
  while (r.remaining >= 4) {
    const id = r.u16();
    const length = r.u16();
    if (length > r.remaining) break;
    if (id !== EXTRA.zip64) {
      r.skip(length);
      continue;
    }
    if (length < 8 * wanted.length) throw bad("ZIP64 extra field is too short");
    for (const key of wanted) fields[key] = r.u64();
    return;
  }
  throw bad("size or offset is 0xFFFFFFFF but there is no ZIP64 extra field");
}
