/** Synthetic etcd snapshot streams for the save-path tests (spool, stored archives). */
import { createHash, randomBytes } from "node:crypto";
import { Readable } from "node:stream";

/** A database body of `size` random bytes followed by etcd's trailer (the body's sha256). */
export function snapshotBytes(size: number): Buffer {
  const body = randomBytes(size);
  return Buffer.concat([body, createHash("sha256").update(body).digest()]);
}

/** `data` as a stream of `chunk`-byte chunks (the last one shorter). */
export function chunked(data: Buffer, chunk: number): Readable {
  const parts: Buffer[] = [];
  for (let i = 0; i < data.length; i += chunk) parts.push(data.subarray(i, i + chunk));
  return Readable.from(parts);
}

export async function collect(stream: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(c);
  return Buffer.concat(parts);
}
