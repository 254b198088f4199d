/**
 * The first entry of a ZIP read from a stream, before its central directory has arrived: what lets a restore inflate
 * the snapshot while the archive is still downloading (ours and RKE's archives hold it first). The local header is
 * parsed as it arrives; a deflated entry is inflated to the end of its deflate stream (the bytes after it, data
 * descriptor and later entries, are not read), a stored one is passed for the size its header declares (or, when
 * the header defers it to a data descriptor, the size the caller knows from the manifest).
 *
 * A local header is only a claim: once the whole archive is there, `confirmStreamedEntry` checks what was streamed
 * against the central directory (the same entry, at offset 0, with the same method, size and CRC32), so nothing is
 * trusted that the disk reader (zip-reader.ts) would have refused.
 */
import { Readable } from "node:stream";
import { ArchiveError } from "../util/errors.js";
import { entryData } from "./entry-data.js";
import { FLAG, LEN, METHOD, SIG, U32_MAX } from "./zip-format.js";
import type { ZipReader } from "./zip-reader.js";

export interface StreamedEntry {
  name: string;
  method: number;
  /** Bytes of uncompressed data that came out, and their CRC32: known once `data` ended. */
  readonly size: number;
  readonly crc32: number;
}

/**
 * Reads the local header at the start of `source`. When its entry is one of `names` and can be streamed (deflated, or
 * stored with its size in the header), resolves with the entry and its uncompressed `data`; otherwise resolves with
 * `reason` (the caller reads the archive from disk once it is whole). ArchiveError for a stream that is not a ZIP
 * at all, ends inside the header, or holds an encrypted entry; `data` fails with ArchiveError when the entry's data
 * is corrupt or truncated, or passes `maxSize`.
 */
export async function streamFirstEntry(
  source: Readable,
  names: readonly string[],
  o: {
    label: string;
    maxSize?: number | undefined;
    /**
     * The entry's uncompressed size when known from elsewhere (a manifest): lets a stored entry whose header defers
     * its size to a data descriptor (ours do) stream too. The central directory confirms it afterwards.
     */
    size?: number | undefined;
  },
): Promise<{ entry: StreamedEntry; data: Readable } | { reason: string }> {
  const chunks = source[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  let head = Buffer.alloc(0);
  const need = async (bytes: number) => {
    while (head.length < bytes) {
      const next = await chunks.next();
      if (next.done) throw new ArchiveError(`${o.label}: the archive ends inside its first local header`);
      head = Buffer.concat([head, next.value]);
    }
  };
  await need(LEN.localHeader);
  if (head.readUInt32LE(0) !== SIG.localHeader) throw new ArchiveError(`${o.label}: no local file header at offset 0`);
  const flags = head.readUInt16LE(6);
  const method = head.readUInt16LE(8);
  const declared = head.readUInt32LE(22);
  const nameLength = head.readUInt16LE(26);
  const dataStart = LEN.localHeader + nameLength + head.readUInt16LE(28);
  await need(dataStart);
  const name = head.toString("utf8", LEN.localHeader, LEN.localHeader + nameLength);
  const stop = () => void chunks.return?.();
  if (!names.includes(name)) {
    stop();
    return { reason: `its first entry is ${JSON.stringify(name)}` };
  }
  if (flags & (FLAG.encrypted | FLAG.strongEncryption)) {
    stop();
    throw new ArchiveError(`${o.label}: entry ${JSON.stringify(name)} is encrypted, which is not supported`);
  }
  const storedSize = flags & FLAG.dataDescriptor || declared === U32_MAX ? o.size : declared;
  if (method !== METHOD.deflate && !(method === METHOD.store && storedSize !== undefined)) {
    stop();
    return { reason: `its entry is method ${method}${method === METHOD.store ? " with its size after the data" : ""}` };
  }
  const rest = head.subarray(dataStart);
  async function* compressed(): AsyncGenerator<Buffer> {
    if (rest.length) yield rest;
    for (;;) {
      const next = await chunks.next();
      if (next.done) return;
      yield next.value;
    }
  }
  const entry = { name, method, size: 0, crc32: 0 };
  const where = `${o.label}, entry ${JSON.stringify(name)}`;
  const maxSize = o.maxSize ?? Number.POSITIVE_INFINITY;
  async function* data(): AsyncGenerator<Buffer> {
    const raw = Readable.from(method === METHOD.deflate ? compressed() : exactly(compressed(), storedSize!, where));
    try {
      yield* entryData(raw, { method, where, maxSize, chunkSize: 256 * 1024 }, entry);
    } finally {
      stop();
    }
  }
  return { entry, data: Readable.from(data(), { objectMode: false }) };
}

/** The first `size` bytes of `chunks`; ArchiveError when there are fewer. */
async function* exactly(chunks: AsyncGenerator<Buffer>, size: number, where: string): AsyncGenerator<Buffer> {
  let left = size;
  while (left > 0) {
    const next = await chunks.next();
    if (next.done) throw new ArchiveError(`${where}: the archive ends ${left} bytes before the entry's data does`);
    const chunk = next.value.length > left ? next.value.subarray(0, left) : next.value;
    left -= chunk.length;
    yield chunk;
  }
}

/**
 * The streamed entry against the whole archive's central directory: the entry of that name must be the one at
 * offset 0, with the method, size and CRC32 that came out of the stream. ArchiveError naming the difference.
 */
export function confirmStreamedEntry(zip: ZipReader, streamed: StreamedEntry, label: string): void {
  const entry = zip.getEntry(streamed.name);
  const where = `${label}, entry ${JSON.stringify(streamed.name)}`;
  if (!entry)
    throw new ArchiveError(`${where}: streamed from the first local header, but not in the central directory`);
  const differs = [
    entry.offset !== 0 ? `it is at offset ${entry.offset}, not 0` : "",
    entry.method !== streamed.method ? `method ${entry.method} in the directory, ${streamed.method} streamed` : "",
    entry.size !== streamed.size ? `${entry.size} bytes in the directory, ${streamed.size} streamed` : "",
    entry.crc32 !== streamed.crc32 ? "CRC32 mismatch (the data is corrupt)" : "",
  ].filter(Boolean);
  if (differs.length) throw new ArchiveError(`${where}: ${differs.join("; ")}`);
}
