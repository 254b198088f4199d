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
import { UserError } from "../src/util/errors.js";
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
    await assert.rejects(
      store.check(),
      /invalid S3 endpoint: "ftp:\/\/127\.0\.0\.1:21" must start with http:\/\/ or https:\/\/$/,
    );
    await store.close();
  });

  void it("reads an endpoint by cluster.yml's rules: bare host:port is https; a path or credentials are refused", async () => {
    const bare = openStore({ endpoint: "127.0.0.1:9", bucket: "b" });
    assert.equal(bare.location, "s3://b (https://127.0.0.1:9)");
    await bare.close();
    const refused: [string, RegExp][] = [
      ["http://127.0.0.1:9/bucket", /invalid S3 endpoint: "http:\/\/127\.0\.0\.1:9\/bucket" must not have a path/],
      ["http://open-store-user:open-store-pw@127.0.0.1:9", /invalid S3 endpoint: must not contain credentials$/],
      ["a b", /invalid S3 endpoint: "a b" is not a host\[:port\] or an http\(s\):\/\/ URL/],
    ];
    for (const [endpoint, message] of refused) {
      const store = openStore({ endpoint, bucket: "b" });
      await assert.rejects(store.check(), (err: Error) => {
        assert.ok(err instanceof UserError, endpoint);
        assert.match(err.message, message);
        assert.ok(!err.message.includes("open-store-pw"));
        return true;
      });
      await store.close();
    }
  });
});
