/**
 * A store that loads its implementation on first use. The agent uses it for S3 so that a node which never uploads
 * does not carry the AWS SDK in memory (about 25 MiB); behaviour is exactly the wrapped store's.
 */
import type { Readable } from "node:stream";
import type { ObjectInfo, PutOptions, PutResult, Store } from "./store.js";

export function lazyStore(kind: Store["kind"], location: string, load: () => Promise<Store>): Store {
  let loaded: Promise<Store> | undefined;
  let closed = false;
  const store = () => {
    // A call after close would load a fresh client that nobody closes.
    if (closed) return Promise.reject(new Error(`the store ${location} is closed`));
    return (loaded ??= load());
  };
  return {
    kind,
    location,
    check: async () => (await store()).check(),
    put: async (key: string, body: Readable | Uint8Array, opts?: PutOptions): Promise<PutResult> =>
      (await store()).put(key, body, opts),
    get: async (key: string, opts?: { signal?: AbortSignal }): Promise<Readable> => (await store()).get(key, opts),
    stat: async (key: string): Promise<ObjectInfo> => (await store()).stat(key),
    list: async (prefix: string): Promise<ObjectInfo[]> => (await store()).list(prefix),
    remove: async (key: string): Promise<void> => (await store()).remove(key),
    close: async (): Promise<void> => {
      closed = true;
      // Never loaded: nothing to release. A load that failed left nothing open either.
      const inner = await loaded?.catch(() => undefined);
      await inner?.close();
    },
  };
}
