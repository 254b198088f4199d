/**
 * Listing snapshots in any store from their manifests (never by opening archives), the same way for a
 * node's directory and for S3. Files Lifeboat did not write (RKE archives, raw `etcdctl snapshot save`
 * files) are listed too, marked as having no manifest.
 */
import type { ObjectInfo, Store } from "../store/store.js";
import { describeError } from "../util/errors.js";
import { ARCHIVE_SUFFIX, MANIFEST_SUFFIX, parseManifest, type Manifest } from "./manifest.js";

export type CopyStatus = "ok" | "no-manifest" | "broken";

export interface CatalogEntry {
  name: string;
  /** "node:<member>" or "s3". */
  location: string;
  format: "zip" | "raw";
  /** The archive (or raw file) key in its store. */
  key: string;
  size: number;
  modified: string;
  status: CopyStatus;
  reason?: string;
  manifest?: Manifest;
}

/** How many manifests are fetched at once from a remote store. */
const MANIFEST_CONCURRENCY = 16;

export async function listCatalog(store: Store, location: string): Promise<CatalogEntry[]> {
  const objects = await store.list("");
  const byKey = new Map(objects.map((o) => [o.key, o]));
  const entries: CatalogEntry[] = [];
  const manifests = objects.filter((o) => o.key.endsWith(MANIFEST_SUFFIX) && !o.key.includes("/"));
  const loaded = await mapLimit(manifests, MANIFEST_CONCURRENCY, (o) => readManifest(store, o.key));
  const named = new Set<string>();
  manifests.forEach((m, i) => {
    const name = m.key.slice(0, -MANIFEST_SUFFIX.length);
    named.add(name);
    entries.push(fromManifest(name, location, byKey.get(`${name}${ARCHIVE_SUFFIX}`), loaded[i]!));
  });
  for (const o of objects) {
    if (o.key.includes("/") || o.key.endsWith(MANIFEST_SUFFIX) || o.key.startsWith(".")) continue;
    const zip = o.key.endsWith(ARCHIVE_SUFFIX);
    const name = zip ? o.key.slice(0, -ARCHIVE_SUFFIX.length) : o.key;
    if (named.has(name)) continue;
    if (!zip && !looksLikeRawSnapshot(o)) continue;
    entries.push({
      name,
      location,
      format: zip ? "zip" : "raw",
      key: o.key,
      size: o.size,
      modified: o.modified.toISOString(),
      status: "no-manifest",
      reason: zip ? "archive without a Lifeboat manifest (e.g. made by RKE)" : "raw etcd snapshot file",
    });
  }
  return entries.sort((a, b) => createdOf(a).localeCompare(createdOf(b)) || a.name.localeCompare(b.name));
}

/** When the snapshot was taken: the manifest's time, else the file's modification time. */
export function createdOf(entry: CatalogEntry): string {
  return entry.manifest?.createdAt ?? entry.modified;
}

function fromManifest(
  name: string,
  location: string,
  archive: ObjectInfo | undefined,
  loaded: { ok: true; manifest: Manifest } | { ok: false; reason: string },
): CatalogEntry {
  const base = { name, location, format: "zip" as const, key: `${name}${ARCHIVE_SUFFIX}` };
  const size = archive?.size ?? 0;
  const modified = (archive?.modified ?? new Date(0)).toISOString();
  if (!loaded.ok) return { ...base, size, modified, status: "broken", reason: `manifest: ${loaded.reason}` };
  const manifest = loaded.manifest;
  if (!archive) return { ...base, size, modified, status: "broken", reason: "archive missing", manifest };
  if (archive.size !== manifest.archive.size) {
    const reason = `archive is ${archive.size} bytes, manifest says ${manifest.archive.size}`;
    return { ...base, size, modified, status: "broken", reason, manifest };
  }
  return { ...base, size, modified, status: "ok", manifest };
}

async function readManifest(
  store: Store,
  key: string,
): Promise<{ ok: true; manifest: Manifest } | { ok: false; reason: string }> {
  try {
    const stream = await store.get(key);
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > 1 << 20) return { ok: false, reason: "over 1 MiB" };
      chunks.push(chunk);
    }
    return parseManifest(Buffer.concat(chunks).toString("utf8"));
  } catch (err) {
    return { ok: false, reason: describeError(err) };
  }
}

/** etcd snapshot files end with a 32-byte sha256 after a whole number of 512-byte pages. */
function looksLikeRawSnapshot(o: ObjectInfo): boolean {
  return o.size > 32 && o.size % 512 === 32 && !/\.(json|part|tmp|gz|tar|rkestate)$/.test(o.key);
}

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  });
  await Promise.all(workers);
  return results;
}
