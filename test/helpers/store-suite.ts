/**
 * The conformance suite every `Store` must pass (restic's backend test suite, unstorage's testDriver): one new case
 * here tests every store at once. Each case gets a fresh, empty store from `makeStore` and cleans it up.
 *
 * Usage: `describeStore("local", async () => ({ store, cleanup }))` at the top level of a test file.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import type { Socket } from "node:net";
import { describe, it } from "node:test";
import { Readable } from "node:stream";
import { ChecksumMismatchError, NotFoundError, UserError } from "../../src/util/errors.js";
import type { Store } from "../../src/store/store.js";

export interface StoreFixture {
  store: Store;
  cleanup(): Promise<void>;
}

const MiB = 1024 * 1024;
/** Larger than two 8 MiB parts, so that S3 stores upload it in three parts. */
const BIG = 20 * MiB + 12345;

export function describeStore(name: string, makeStore: () => Promise<StoreFixture>): void {
  const withStore = (fn: (store: Store) => Promise<void>) => async () => {
    const fixture = await makeStore();
    try {
      await fn(fixture.store);
    } finally {
      await fixture.cleanup();
    }
  };

  void describe(`store conformance: ${name}`, () => {
    void it(
      "round-trips a small body and reports its size",
      withStore(async (store) => {
        const body = Buffer.from("etcd snapshot bytes\n");
        const result = await store.put("small.zip", body, { contentType: "application/zip" });
        assert.equal(result.key, "small.zip");
        assert.equal(result.size, body.length);
        assert.ok(["local-fsync", "etag-md5", "reread"].includes(result.verified));
        assert.deepEqual(await readAll(store, "small.zip"), body);
        const info = await store.stat("small.zip");
        assert.equal(info.key, "small.zip");
        assert.equal(info.size, body.length);
        assert.ok(Math.abs(info.modified.getTime() - Date.now()) < 5 * 60_000, "modified is about now");
      }),
    );

    void it(
      "round-trips an empty body",
      withStore(async (store) => {
        const result = await store.put("empty", new Uint8Array(0));
        assert.equal(result.size, 0);
        assert.equal((await readAll(store, "empty")).length, 0);
        assert.equal((await store.stat("empty")).size, 0);
      }),
    );

    void it(
      "streams a body larger than two upload parts and reads back the same bytes",
      withStore(async (store) => {
        const data = randomBytes(BIG);
        let progress = 0;
        const result = await store.put("big/snapshot.zip", chunked(data, 1_000_003), {
          size: data.length,
          onProgress: (n) => (progress = n),
        });
        assert.equal(result.size, data.length);
        assert.equal(progress, data.length);
        assert.equal((await store.stat("big/snapshot.zip")).size, data.length);
        assert.equal(sha256(await readAll(store, "big/snapshot.zip")), sha256(data));
      }),
    );

    void it(
      "lists by plain string prefix, recursively, sorted by key",
      withStore(async (store) => {
        for (const key of ["b/z", "a/myname1/x.zip", "a/myname.zip", "a/myname/y.zip", "a/other"]) {
          await store.put(key, Buffer.from(key));
        }
        const keys = async (prefix: string) => (await store.list(prefix)).map((o) => o.key);
        assert.deepEqual(await keys(""), ["a/myname.zip", "a/myname/y.zip", "a/myname1/x.zip", "a/other", "b/z"]);
        assert.deepEqual(await keys("a/myname"), ["a/myname.zip", "a/myname/y.zip", "a/myname1/x.zip"]);
        // A trailing "/" lists one "directory": a/myname1/... is not under a/myname/.
        assert.deepEqual(await keys("a/myname/"), ["a/myname/y.zip"]);
        assert.deepEqual(await keys("c/"), []);
        assert.deepEqual(await keys("a/myname.zip"), ["a/myname.zip"]);
        const listed = await store.list("b/");
        assert.equal(listed[0]?.size, 3);
      }),
    );

    void it(
      "remove deletes, and removing a missing key is fine",
      withStore(async (store) => {
        await store.put("gone/soon", Buffer.from("x"));
        await store.remove("gone/soon");
        await assert.rejects(store.stat("gone/soon"), NotFoundError);
        assert.deepEqual(await store.list("gone/"), []);
        await store.remove("gone/soon");
        await store.remove("never/there");
      }),
    );

    void it(
      "get and stat of a missing key reject with NotFoundError",
      withStore(async (store) => {
        await assert.rejects(store.get("missing.zip"), NotFoundError);
        await assert.rejects(store.stat("missing.zip"), NotFoundError);
        await store.put("dir/file", Buffer.from("x"));
        await assert.rejects(store.stat("dir"), NotFoundError);
        await assert.rejects(store.get("dir"), NotFoundError);
      }),
    );

    void it(
      "a body stream that errors midway leaves nothing, and keeps what was there",
      withStore(async (store) => {
        await store.put("keep/old", Buffer.from("old version"));
        const data = randomBytes(BIG);
        await assert.rejects(store.put("keep/old", failingAfter(data, 17 * MiB)), /source broke/);
        assert.deepEqual(await readAll(store, "keep/old"), Buffer.from("old version"));
        await assert.rejects(store.put("fail/small", failingAfter(data, 100)), /source broke/);
        await assert.rejects(store.put("fail/big", failingAfter(data, 12 * MiB)), /source broke/);
        assert.deepEqual(
          (await store.list("")).map((o) => o.key),
          ["keep/old"],
        );
      }),
    );

    void it(
      "aborting through the signal rejects with AbortError and leaves nothing",
      withStore(async (store) => {
        const data = randomBytes(BIG);
        const controller = new AbortController();
        const source = chunked(data, MiB);
        const put = store.put("aborted/big", source, {
          signal: controller.signal,
          onProgress: (n) => n >= 10 * MiB && controller.abort(),
        });
        await assert.rejects(put, { name: "AbortError" });
        assert.ok(source.destroyed, "the caller's stream is destroyed");
        const already = AbortSignal.abort();
        await assert.rejects(store.put("aborted/small", Buffer.from("x"), { signal: already }), { name: "AbortError" });
        assert.deepEqual(await store.list(""), []);
      }),
    );

    void it(
      "a body of another length than opts.size fails and leaves nothing",
      withStore(async (store) => {
        await assert.rejects(store.put("sized", Buffer.from("12345"), { size: 6 }), ChecksumMismatchError);
        await assert.rejects(
          store.put("sized", chunked(randomBytes(9 * MiB), MiB), { size: 9 * MiB - 1 }),
          ChecksumMismatchError,
        );
        assert.deepEqual(await store.list(""), []);
      }),
    );

    void it(
      "a second put replaces the object",
      withStore(async (store) => {
        await store.put("same", Buffer.from("first, and longer than the second"));
        await store.put("same", Readable.from([Buffer.from("second")]));
        assert.deepEqual(await readAll(store, "same"), Buffer.from("second"));
        assert.equal((await store.stat("same")).size, 6);
        assert.deepEqual(
          (await store.list("same")).map((o) => o.key),
          ["same"],
        );
      }),
    );

    void it(
      "keeps keys with spaces and unicode intact",
      withStore(async (store) => {
        const key = "clüster ä/snap shot 雪 #1+2=3.zip";
        await store.put(key, Buffer.from("unicode"));
        assert.deepEqual(await readAll(store, key), Buffer.from("unicode"));
        assert.deepEqual(
          (await store.list("clüster ä/")).map((o) => o.key),
          [key],
        );
        await store.remove(key);
        assert.deepEqual(await store.list(""), []);
      }),
    );

    void it(
      "rejects unsafe keys and prefixes before touching anything",
      withStore(async (store) => {
        for (const key of [
          "",
          "../escape",
          "a/../../b",
          "/abs",
          "a//b",
          "a/./b",
          "trailing/",
          "nul\0",
          "back\\slash",
        ]) {
          await assert.rejects(store.put(key, Buffer.from("x")), UserError, `put ${JSON.stringify(key)}`);
          await assert.rejects(store.stat(key), UserError, `stat ${JSON.stringify(key)}`);
        }
        await assert.rejects(store.list("../"), UserError);
        assert.deepEqual(await store.list(""), []);
      }),
    );

    void it(
      "close releases every connection the store opened, and a second close is harmless",
      withStore(async (store) => {
        const sockets: Socket[] = [];
        const opened = (message: unknown) => sockets.push((message as { socket: Socket }).socket);
        subscribe("net.client.socket", opened);
        try {
          await store.put("closing.zip", Buffer.from("bytes"));
          assert.deepEqual(await readAll(store, "closing.zip"), Buffer.from("bytes"));
          await store.list("");
        } finally {
          unsubscribe("net.client.socket", opened);
        }
        await store.close();
        await store.close();
        const open = sockets.filter((s) => !s.destroyed).length;
        assert.equal(open, 0, `${open} of ${sockets.length} socket(s) still open after close`);
      }),
    );
  });
}
/** `data` as a stream of `size`-byte chunks (the last one shorter). */
export function chunked(data: Buffer, size: number): Readable {
  return Readable.from(
    (function* () {
      for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
    })(),
  );
}

/** A stream that yields the first `bytes` of `data` and then fails. */
export function failingAfter(data: Buffer, bytes: number): Readable {
  return Readable.from(
    (async function* () {
      for (let i = 0; i < bytes; i += MiB) {
        yield data.subarray(i, Math.min(i + MiB, bytes));
        await new Promise((resolve) => setImmediate(resolve));
      }
      throw new Error("source broke");
    })(),
  );
}

export async function readAll(store: Store, key: string): Promise<Buffer> {
  const stream = await store.get(key);
  return Buffer.concat((await stream.toArray()) as Buffer[]);
}

export function sha256(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}
