/** Reading a small object whole, with a bound, for the JSON documents kept beside snapshots (manifests, the index). */
import type { Store } from "./store.js";

/**
 * The object's bytes, or undefined when it is over `limit` bytes (the read stops there). The store's errors
 * propagate, NotFoundError included: the caller decides what absent means.
 */
export async function readLimited(store: Store, key: string, limit: number): Promise<Buffer | undefined> {
  const stream = await store.get(key);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      stream.destroy();
      return undefined;
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
