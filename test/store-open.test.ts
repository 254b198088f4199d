/**
 * The store opener and its lazy wrapper, with a fake inner store: what `openStore` connects to is loaded on first
 * use only, `close` reaches it (or nothing, when it was never loaded), nothing loads after close, and the secrets in
 * the settings are registered before any call can print them.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { lazyStore } from "../src/store/lazy.js";
import { openStore } from "../src/store/open.js";
import type { S3Config } from "../src/store/s3-client.js";
import type { Store } from "../src/store/store.js";
import { redactText } from "../src/util/redact.js";

/** A store that answers `list` and counts loads and closes. */
function fake(counts: { loaded: number; closed: number }): () => Promise<Store> {
  return () => {
    counts.loaded++;
    const refuse = () => Promise.reject(new Error("not used here"));
    return Promise.resolve({
      kind: "s3",
      location: "fake",
      check: () => Promise.resolve(),
      put: refuse,
      get: refuse,
      stat: refuse,
      list: () => Promise.resolve([]),
      remove: () => Promise.resolve(),
      close: () => Promise.resolve(void counts.closed++),
    });
  };
}

void describe("lazyStore", () => {
  void it("forwards close to the loaded store, once it was used", async () => {
    const counts = { loaded: 0, closed: 0 };
    const store = lazyStore("s3", "s3://b (x)", fake(counts));
    assert.deepEqual(await store.list(""), []);
    await store.close();
    assert.deepEqual(counts, { loaded: 1, closed: 1 });
  });

  void it("closes without loading a store never used, and loads nothing after close", async () => {
    const counts = { loaded: 0, closed: 0 };
    const store = lazyStore("s3", "s3://b (x)", fake(counts));
    await store.close();
    await assert.rejects(store.list(""), /the store s3:\/\/b \(x\) is closed/);
    assert.deepEqual(counts, { loaded: 0, closed: 0 });
  });

  void it("closes a store whose load was still under way", async () => {
    const counts = { loaded: 0, closed: 0 };
    const store = lazyStore("s3", "s3://b (x)", fake(counts));
    const listing = store.list("");
    await store.close();
    await listing;
    assert.deepEqual(counts, { loaded: 1, closed: 1 });
  });
});

void describe("openStore", () => {
  const settings = {
    endpoint: "http://127.0.0.1:9",
    bucket: "b",
    folder: "/x//y/",
    accessKey: "OPENSTOREACCESSKEY",
    secretKey: "open-store-secret-3c9d",
  };

  void it("names the location at once, registers the secrets, and connects only on first use", async () => {
    const counts = { loaded: 0, closed: 0 };
    const seen: S3Config[] = [];
    const connect = fake(counts);
    const timeouts = { connectMs: 1, requestMs: 2 };
    const store = openStore(settings, { timeouts, connect: (config) => (seen.push(config), connect()) });
    assert.equal(store.kind, "s3");
    assert.equal(store.location, "s3://b/x/y (http://127.0.0.1:9)");
    assert.equal(redactText("OPENSTOREACCESSKEY open-store-secret-3c9d"), "*** ***");
    assert.equal(counts.loaded, 0);
    await store.check();
    await store.close();
    assert.deepEqual(counts, { loaded: 1, closed: 1 });
    assert.deepEqual(seen, [{ ...settings, timeouts }]);
  });

  void it("never throws on open: settings the client refuses fail the first call", async () => {
    const store = openStore({ endpoint: "ftp://127.0.0.1:21", bucket: "b" });
    assert.equal(store.location, "s3://b (ftp://127.0.0.1:21)");
    await assert.rejects(store.check(), /invalid S3 endpoint .*only http:\/\/ and https:\/\//);
    await store.close();
  });
});
