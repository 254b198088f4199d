/**
 * Listing snapshots in any store from their manifests (never by opening archives), the same way for a
 * node's directory and for S3. Files Lifeboat did not write (RKE archives, raw `etcdctl snapshot save`
 * files) are listed too, marked as having no manifest. An S3 folder's manifests come from its listing index where
 * the index provably holds them as listed (listing-index.ts), else from the manifests themselves.
 */
import { readLimited } from "../store/read.js";
import type { ObjectInfo, Store } from "../store/store.js";
import { describeError, NotFoundError } from "../util/errors.js";
import type { Logger } from "../util/log.js";
import type { CatalogEntry, CopyStatus } from "../api/snapshots.js";
import {
  ARCHIVE_SUFFIX,
  archiveKey,
  encryptedArchiveKey,
  MANIFEST_SUFFIX,
  manifestKey,
  parseManifest,
  storedArchiveSize,
  type Manifest,
} from "./manifest.js";
import {
  buildIndex,
  keepsIndex,
  readIndex,
  sameIndex,
  validText,
  writeIndex,
  type IndexEntry,
  type ListingIndex,
} from "./listing-index.js";
import { AGE_SUFFIX } from "../crypto/age.js";
import { mapLimit } from "../util/map-limit.js";

/** A listed copy is what GET /v1/snapshots sends: one schema for both (src/api/snapshots.ts). */
export type { CatalogEntry, CopyStatus };

/** How many manifests are fetched at once from a remote store. */
const MANIFEST_CONCURRENCY = 16;

export async function listCatalog(store: Store, location: string): Promise<CatalogEntry[]> {
  return (await catalogOf(store, location)).entries;
}

/**
 * For whoever just changed an S3 folder (the uploader after its commit, S3 prune, snapshot-delete): lists it again
 * and rewrites its listing index when that differs from what the listing found. Never throws: an index that could
 * not be written only makes the next listing slower, so the change it follows is not failed for it.
 */
export async function refreshListingIndex(
  store: Store,
  log?: Pick<Logger, "warn">,
): Promise<{ ok: true; written: boolean } | { ok: false; error: string }> {
  if (!keepsIndex(store)) return { ok: true, written: false };
  try {
    const { previous, next } = await catalogOf(store, "");
    if (sameIndex(previous, next)) return { ok: true, written: false };
    await writeIndex(store, next);
    return { ok: true, written: true };
  } catch (err) {
    const error = describeError(err);
    log?.warn("listing index not rewritten: listings read the manifests themselves", { store: store.location, error });
    return { ok: false, error };
  }
}

/** The catalog of `store`, with the listing index it had and the one that says what this listing found. */
async function catalogOf(store: Store, location: string) {
  const indexed = keepsIndex(store);
  // The index is fetched while the folder is listed: it is checked against the listing entry by entry, so an
  // index older or newer than the listing is only less useful, never wrong. One that cannot be read is none.
  const index = indexed ? readIndex(store).catch(() => undefined) : Promise.resolve(undefined);
  const [objects, previous, ahead] = await Promise.all([store.list(""), index, index.then(parseAhead)]);
  const byKey = new Map(objects.map((o) => [o.key, o]));
  const entries: CatalogEntry[] = [];
  const manifests = objects.filter((o) => o.key.endsWith(MANIFEST_SUFFIX) && !o.key.includes("/"));
  const fresh = new Map<string, IndexEntry>();
  const loaded = await mapLimit(manifests, MANIFEST_CONCURRENCY, (o) => loadManifest(store, o, previous, ahead, fresh));
  const named = new Set<string>();
  manifests.forEach((m, i) => {
    const name = m.key.slice(0, -MANIFEST_SUFFIX.length);
    named.add(name);
    const key = archiveKeyOf(name, loaded[i]!, (k) => byKey.has(k));
    entries.push(fromManifest(name, location, key, byKey.get(key), loaded[i]!));
  });
  for (const o of objects) {
    if (o.key.includes("/") || o.key.endsWith(MANIFEST_SUFFIX) || o.key.startsWith(".")) continue;
    const zip = o.key.endsWith(ARCHIVE_SUFFIX) || o.key.endsWith(ARCHIVE_SUFFIX + AGE_SUFFIX);
    const name = zip ? o.key.slice(0, o.key.lastIndexOf(ARCHIVE_SUFFIX)) : o.key;
    if (named.has(name)) continue;
    if (!zip && !looksLikeRawSnapshot(o)) continue;
    entries.push(unmanaged(name, location, o, zip));
  }
  entries.sort((a, b) => createdOf(a).localeCompare(createdOf(b)) || a.name.localeCompare(b.name));
  return { entries, previous, next: buildIndex(fresh) };
}

/**
 * One listed manifest: from the index when its entry matches the object as listed (src/snapshot/listing-index.ts),
 * else read from the store. Each good manifest whose text matches what was listed goes into `fresh`, the next index.
 */
async function loadManifest(
  store: Store,
  listed: ObjectInfo,
  index: ListingIndex | undefined,
  ahead: ReadonlyMap<string, ParsedManifest>,
  fresh: Map<string, IndexEntry>,
): Promise<ParsedManifest> {
  const cached = validText(index, listed);
  const parsedCache = cached === undefined ? undefined : (ahead.get(listed.key) ?? parseManifest(cached));
  if (cached !== undefined && parsedCache?.ok) {
    fresh.set(listed.key, { etag: listed.etag ?? "", size: listed.size, text: cached });
    return parsedCache;
  }
  let text: string | undefined;
  try {
    text = await fetchManifestText(store, listed.key);
  } catch (err) {
    return { ok: false, reason: describeError(err) };
  }
  if (text === undefined) return { ok: false, reason: "over 1 MiB" };
  const parsed = parseManifest(text);
  // Kept only when it is the object the listing showed (it may have been replaced since): see validText.
  if (parsed.ok && listed.etag && Buffer.byteLength(text, "utf8") === listed.size)
    fresh.set(listed.key, { etag: listed.etag, size: listed.size, text });
  return parsed;
}

/** Index entries parsed between two yields to the event loop. */
const PARSE_SLICE = 64;

/**
 * The index's manifests parsed while the folder's pages are still arriving (a slice at a time, so that each page is
 * taken in as it comes), instead of after the last one. Parsing is a function of the text alone, and loadManifest uses
 * an entry's result only where validText has matched that same text with the listing.
 */
async function parseAhead(index: ListingIndex | undefined): Promise<Map<string, ParsedManifest>> {
  const parsed = new Map<string, ParsedManifest>();
  if (!index) return parsed;
  for (const [key, entry] of Object.entries(index.manifests)) {
    parsed.set(key, parseManifest(entry.text));
    if (parsed.size % PARSE_SLICE === 0) await new Promise<void>((resolve) => setImmediate(resolve));
  }
  return parsed;
}

/**
 * The one "find the copy" lookup: snapshot `name` in `store`, judged exactly as listing judges it (ok, no-manifest,
 * broken with the reason), or undefined when the store has no copy at all. Only NotFoundError means absent: any
 * other store error (a transient S3 failure) propagates, so that it is never taken for "not there".
 */
export async function findCopy(store: Store, name: string, location: string): Promise<CatalogEntry | undefined> {
  const absent = (err: unknown) => {
    if (err instanceof NotFoundError) return undefined;
    throw err;
  };
  const stat = (key: string) => store.stat(key).catch(absent);
  const [manifest, plain, encrypted] = await Promise.all([
    fetchManifest(store, manifestKey(name)).catch(absent),
    stat(archiveKey(name)),
    stat(encryptedArchiveKey(name)),
  ]);
  const found = new Map([plain, encrypted].filter((o) => o !== undefined).map((o) => [o.key, o]));
  if (manifest) {
    const key = archiveKeyOf(name, manifest, (k) => found.has(k));
    return fromManifest(name, location, key, found.get(key), manifest);
  }
  const archive = plain ?? encrypted;
  if (archive) return unmanaged(name, location, archive, true);
  const raw = await store.stat(name).catch(absent);
  return raw ? unmanaged(name, location, raw, false) : undefined;
}

/**
 * The archive a manifest describes: its own `archive.file` (`<name>.zip`, or `<name>.zip.age` when encrypted). For a
 * manifest that does not parse, whichever of the two exists, so that deleting the broken copy removes its archive.
 */
function archiveKeyOf(name: string, loaded: ParsedManifest, exists: (key: string) => boolean): string {
  if (loaded.ok) return loaded.manifest.archive.file;
  const encrypted = encryptedArchiveKey(name);
  return !exists(archiveKey(name)) && exists(encrypted) ? encrypted : archiveKey(name);
}

function unmanaged(name: string, location: string, o: ObjectInfo, zip: boolean): CatalogEntry {
  const encrypted = o.key.endsWith(AGE_SUFFIX);
  return {
    name,
    location,
    format: zip ? "zip" : "raw",
    key: o.key,
    size: o.size,
    modified: o.modified.toISOString(),
    status: "no-manifest",
    reason: encrypted
      ? "encrypted archive without a Lifeboat manifest"
      : zip
        ? "archive without a Lifeboat manifest (e.g. made by RKE)"
        : "raw etcd snapshot file",
  };
}

/** When the snapshot was taken: the manifest's time, else the file's modification time. */
export function createdOf(entry: CatalogEntry): string {
  return entry.manifest?.createdAt ?? entry.modified;
}

function fromManifest(
  name: string,
  location: string,
  key: string,
  archive: ObjectInfo | undefined,
  loaded: ParsedManifest,
): CatalogEntry {
  const base = { name, location, format: "zip" as const, key };
  const size = archive?.size ?? 0;
  const modified = (archive?.modified ?? new Date(0)).toISOString();
  if (!loaded.ok) return { ...base, size, modified, status: "broken", reason: `manifest: ${loaded.reason}` };
  const manifest = loaded.manifest;
  if (!archive) return { ...base, size, modified, status: "broken", reason: "archive missing", manifest };
  if (archive.size !== storedArchiveSize(manifest)) {
    const reason = `archive is ${archive.size} bytes, manifest says ${storedArchiveSize(manifest)}`;
    return { ...base, size, modified, status: "broken", reason, manifest };
  }
  return { ...base, size, modified, status: "ok", manifest };
}

type ParsedManifest = { ok: true; manifest: Manifest } | { ok: false; reason: string };

/** The largest manifest read: anything bigger is not one of ours. */
const MANIFEST_LIMIT = 1 << 20;

/**
 * The one manifest reader: reads and parses the manifest at `key` (at most 1 MiB, the stream destroyed past it).
 * A manifest that is there but unusable is `{ ok: false, reason }` (broken, which is not absent); the store's own
 * errors propagate: NotFoundError means absent, anything else (a transient S3 failure) is neither.
 */
export async function fetchManifest(store: Store, key: string): Promise<ParsedManifest> {
  const text = await fetchManifestText(store, key);
  return text === undefined ? { ok: false, reason: "over 1 MiB" } : parseManifest(text);
}

/** The manifest's text, or undefined when it is over the limit; the store's errors propagate. */
async function fetchManifestText(store: Store, key: string): Promise<string | undefined> {
  return (await readLimited(store, key, MANIFEST_LIMIT))?.toString("utf8");
}

/** etcd snapshot files end with a 32-byte sha256 after a whole number of 512-byte pages. */
function looksLikeRawSnapshot(o: ObjectInfo): boolean {
  return o.size > 32 && o.size % 512 === 32 && !/\.(json|part|tmp|gz|tar|rkestate)$/.test(o.key);
}
