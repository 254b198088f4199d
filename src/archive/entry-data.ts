/**
 * The uncompressed bytes of one ZIP entry's data, for the disk reader (zip-reader.ts) and the stream reader
 * (zip-stream.ts): inflated when deflated, counted and CRC32'd as they pass.
 */
import type { Readable } from "node:stream";
import { createInflateRaw, crc32 } from "node:zlib";
import { chunksOf } from "../util/chunks.js";
import { ArchiveError } from "../util/errors.js";
import { METHOD } from "./zip-format.js";

/** What has come out so far: its size, and its CRC32 (final once the data ended). */
export interface EntryCount {
  size: number;
  crc32: number;
}

/**
 * `raw` (the entry's stored or deflated bytes) uncompressed, counted into `count`. ArchiveError for corrupt or
 * truncated data, past `maxSize` bytes, or past `declared` bytes (the size the directory gives, when known). `where`
 * names the entry in messages. Past the end of a deflate stream zlib takes no more input and ends, so the bytes
 * after an entry's data are not read.
 */
export async function* entryData(
  raw: Readable,
  o: { method: number; where: string; maxSize: number; declared?: number | undefined; chunkSize: number },
  count: EntryCount,
): AsyncGenerator<Buffer> {
  const inflate = o.method === METHOD.deflate ? createInflateRaw({ chunkSize: o.chunkSize }) : undefined;
  raw.once("error", (err) => inflate?.destroy(err));
  const source = inflate ? raw.pipe(inflate) : raw;
  let crc = 0;
  try {
    for await (const chunk of chunksOf(source)) {
      count.size += chunk.length;
      if (count.size > o.maxSize) throw new ArchiveError(`${o.where}: larger than the ${o.maxSize}-byte limit`);
      if (o.declared !== undefined && count.size > o.declared)
        throw new ArchiveError(`${o.where}: more data than the ${o.declared} bytes declared`);
      crc = crc32(chunk, crc);
      yield chunk;
    }
  } catch (err) {
    if (err instanceof ArchiveError) throw err;
    throw new ArchiveError(`${o.where}: corrupt or truncated data`, { cause: err });
  } finally {
    raw.destroy();
    inflate?.destroy();
  }
  count.crc32 = crc >>> 0;
}
