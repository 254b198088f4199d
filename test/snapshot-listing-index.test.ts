/**
 * The S3 folder's listing index (src/snapshot/listing-index.ts) against a real S3 API (s3rver on loopback; it checks
 * no signatures, which nothing here depends on). Every case compares the listing with what the manifests say, and
 * counts the manifest reads, so that an index believed where it must not be, or ignored where it could be used,
 * both fail. s3rver's ListObjectsV2 returns each object's ETag, the MD5 of a single-part upload, as AWS does.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { after, before, describe, it } from "node:test";
import { S3RVER_ACCESS_KEY, startS3Server, type S3Server } from "../src/sandbox/s3server.js";
import { listCatalog, refreshListingIndex, type CatalogEntry } from "../src/snapshot/catalog.js";
import { INDEX_KEY, parseIndex, validText } from "../src/snapshot/listing-index.js";
import { FORMAT_VERSION, archiveKey, manifestKey, serializeManifest, type Manifest } from "../src/snapshot/manifest.js";
import { S3Store } from "../src/store/s3.js";
import type { Store } from "../src/store/store.js";
import { allocateLoopbackHosts } from "../src/util/net.js";

const BUCKET = "lifeboat";
let s3: S3Server;
let dataDir: string;
let folders = 0;
const stores: Store[] = [];

before(async () => {
  const [host] = (await allocateLoopbackHosts(1, [9000])) as [string];
  dataDir = await mkdtemp(join(tmpdir(), "lifeboat-index-"));
  s3 = await startS3Server({ host, port: 9000, dir: dataDir, buckets: [BUCKET] });
});

after(async () => {
  await Promise.all(stores.map((s) => s.close()));
  await s3.stop();
  await rm(dataDir, { recursive: true, force: true });
});

/** An S3 store in a folder of its own that counts the objects it reads (`gets`). */
function countingStore(): { store: Store; gets: string[] } {
  const inner = new S3Store({
    endpoint: s3.endpoint,
    bucket: BUCKET,
    folder: `index/${++folders}`,
    accessKey: S3RVER_ACCESS_KEY,
    secretKey: "any-secret",
    addressing: "path",
  });
  stores.push(inner);
  const gets: string[] = [];
  const store: Store = {
    kind: inner.kind,
    location: inner.location,
    check: () => inner.check(),
    put: (k, b, o) => inner.put(k, b, o),
    get: (k, o): Promise<Readable> => {
      gets.push(k);
      return inner.get(k, o);
    },
    stat: (k) => inner.stat(k),
    list: (p) => inner.list(p),
    remove: (k) => inner.remove(k),
    close: () => inner.close(),
  };
  return { store, gets };
}

function manifestOf(name: string, revision: number, archive: Buffer): Manifest {
  const sha = (b: Buffer | string) => createHash("sha256").update(b).digest("hex");
  return {
    formatVersion: FORMAT_VERSION,
    name,
    kind: "one-time",
    clusterId: "cdf818194e3a8c32",
    node: "etcd-a",
    memberId: "8e9e05c52164694d",
    createdAt: new Date(Date.UTC(2026, 0, 1) + revision * 1000).toISOString(),
    etcd: { version: "3.5.30", revision, dbSize: 1 << 20 },
    snapshot: { entry: `/backup/${name}`, size: (1 << 20) + 32, sha256: sha(`${name}-s`), dbSha256: sha(`${name}-d`) },
    archive: {
      file: archiveKey(name),
      format: "zip",
      compression: "deflate",
      size: archive.length,
      sha256: sha(archive),
    },
    stateFile: { included: false },
    encryption: null,
    tool: { name: "lifeboat", version: "0.1.0" },
  };
}

async function putSnapshot(store: Store, name: string, revision: number): Promise<void> {
  const archive = randomBytes(512);
  await store.put(archiveKey(name), archive);
  await store.put(manifestKey(name), Buffer.from(serializeManifest(manifestOf(name, revision, archive))));
}

/** name -> revision as listed (ok copies only), and every status, so that a listing is compared whole. */
function summary(entries: CatalogEntry[]) {
  return entries.map((e) => `${e.name}:${e.status}:${e.manifest?.etcd.revision ?? "-"}`).sort();
}

const manifestGets = (gets: string[]) => gets.filter((k) => k.endsWith(".manifest.json")).sort();

describe("listing index", () => {
  it("is used only where it matches the listing: changed, added and removed manifests are read as they are now", async () => {
    const { store, gets } = countingStore();
    for (let i = 0; i < 5; i++) await putSnapshot(store, `snap-${i}`, 100 + i);

    // No index yet: every manifest is read, and nothing is written by a listing.
    const first = await listCatalog(store, "s3");
    assert.deepEqual(
      summary(first),
      [0, 1, 2, 3, 4].map((i) => `snap-${i}:ok:${100 + i}`),
    );
    assert.equal(manifestGets(gets).length, 5);
    assert.ok(!(await store.list("")).some((o) => o.key === INDEX_KEY), "a listing alone writes no index");

    // The writer's refresh: the listing's ETags are there (s3rver returns them) and the index holds all five.
    assert.deepEqual(await refreshListingIndex(store), { ok: true, written: true });
    const listed = await store.list("");
    assert.ok(listed.filter((o) => o.key.endsWith(".manifest.json")).every((o) => /^[0-9a-f]{32}$/.test(o.etag ?? "")));
    assert.deepEqual(await refreshListingIndex(store), { ok: true, written: false }, "an index that is current stays");

    gets.length = 0;
    assert.deepEqual(summary(await listCatalog(store, "s3")), summary(first));
    assert.deepEqual(manifestGets(gets), [], "every manifest came from the index");
    assert.deepEqual(gets, [INDEX_KEY]);

    // Behind the index's back: snap-1 rewritten (a new revision), snap-5 added, snap-3 removed.
    const archive1 = randomBytes(512);
    await store.put(archiveKey("snap-1"), archive1);
    await store.put(manifestKey("snap-1"), Buffer.from(serializeManifest(manifestOf("snap-1", 900, archive1))));
    await putSnapshot(store, "snap-5", 105);
    await store.remove(manifestKey("snap-3"));
    await store.remove(archiveKey("snap-3"));
    gets.length = 0;
    const now = await listCatalog(store, "s3");
    assert.deepEqual(summary(now), [
      "snap-0:ok:100",
      "snap-1:ok:900",
      "snap-2:ok:102",
      "snap-4:ok:104",
      "snap-5:ok:105",
    ]);
    assert.deepEqual(manifestGets(gets), [manifestKey("snap-1"), manifestKey("snap-5")]);

    // The next writer's refresh drops snap-3's entry and takes the new ones in.
    assert.deepEqual(await refreshListingIndex(store), { ok: true, written: true });
    const index = parseIndex((await readText(store, INDEX_KEY)) ?? "");
    assert.deepEqual(
      Object.keys(index?.manifests ?? {}),
      [0, 1, 2, 4, 5].map((i) => manifestKey(`snap-${i}`)),
    );
    gets.length = 0;
    assert.deepEqual(summary(await listCatalog(store, "s3")), summary(now));
    assert.deepEqual(manifestGets(gets), []);
  });

  it("a corrupt or foreign index is no index: every manifest is read and the listing is the same", async () => {
    const { store, gets } = countingStore();
    for (let i = 0; i < 3; i++) await putSnapshot(store, `c-${i}`, 10 + i);
    const truth = summary(await listCatalog(store, "s3"));
    for (const body of ["{not json", JSON.stringify({ kind: "something-else", manifests: {} }), "[]"]) {
      await store.put(INDEX_KEY, Buffer.from(body));
      gets.length = 0;
      assert.deepEqual(summary(await listCatalog(store, "s3")), truth, body);
      assert.equal(manifestGets(gets).length, 3, body);
    }
    // The index is not a snapshot: it never lists, not even as "no manifest".
    assert.ok((await listCatalog(store, "s3")).every((e) => e.name.startsWith("c-")));
    // A refresh replaces the corrupt index with a good one.
    assert.deepEqual(await refreshListingIndex(store), { ok: true, written: true });
    gets.length = 0;
    assert.deepEqual(summary(await listCatalog(store, "s3")), truth);
    assert.deepEqual(manifestGets(gets), []);
  });

  it("an index that lies about a manifest is never believed, even with the listed ETag and size", async () => {
    const { store, gets } = countingStore();
    await putSnapshot(store, "l-0", 50);
    await putSnapshot(store, "l-1", 51);
    const listed = await store.list("");
    const m0 = listed.find((o) => o.key === manifestKey("l-0"))!;
    const m1 = listed.find((o) => o.key === manifestKey("l-1"))!;
    const real0 = (await readText(store, m0.key))!;
    // Same length, same ETag and size as listed, another revision: only the MD5 check can tell.
    const forged = real0.replace('"revision": 50', '"revision": 77');
    assert.equal(forged.length, real0.length);
    assert.notEqual(forged, real0);
    const lying = {
      kind: "lifeboat-listing-index",
      version: 1,
      manifests: {
        [m0.key]: { etag: m0.etag, size: m0.size, text: forged },
        // An entry from before l-1 was last written: its ETag is not the listed one.
        [m1.key]: { etag: "0".repeat(32), size: m1.size, text: real0 },
      },
    };
    await store.put(INDEX_KEY, Buffer.from(JSON.stringify(lying)));
    gets.length = 0;
    assert.deepEqual(summary(await listCatalog(store, "s3")), ["l-0:ok:50", "l-1:ok:51"]);
    assert.deepEqual(manifestGets(gets), [m0.key, m1.key]);
  });

  it("validText checks ETag, size and (for an MD5 ETag) the text's MD5; other ETags by equality", () => {
    const text = '{"a":1}';
    const md5 = createHash("md5").update(text).digest("hex");
    const index = (etag: string, size = text.length, t = text) => ({
      kind: "lifeboat-listing-index" as const,
      version: 1 as const,
      manifests: { "x.manifest.json": { etag, size, text: t } },
    });
    const listed = (etag: string | undefined, size = text.length) => ({
      key: "x.manifest.json",
      size,
      modified: new Date(0),
      ...(etag === undefined ? {} : { etag }),
    });
    assert.equal(validText(index(md5), listed(md5)), text);
    assert.equal(validText(index(md5), listed(md5.toUpperCase())), undefined, "the ETags differ as strings");
    assert.equal(validText(index(md5), listed(undefined)), undefined, "no ETag listed (a directory): never used");
    assert.equal(validText(index(md5), listed(md5, 8)), undefined, "the size differs");
    assert.equal(validText(index(md5, 8, '{"a":12}'), listed(md5, 8)), undefined, "text whose MD5 is not the ETag");
    assert.equal(validText(index("abc-2"), listed("abc-2")), text, "a multipart or KMS ETag: equality is all there is");
    assert.equal(validText(index("abc-2"), listed("abc-3")), undefined);
    assert.equal(validText(undefined, listed(md5)), undefined);
  });
});

async function readText(store: Store, key: string): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  for await (const c of (await store.get(key)) as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks).toString("utf8");
}
