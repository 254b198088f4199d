/**
 * The listing index of an S3 folder (docs/design.md "Listing"): one object, `.lifeboat-index.json`, holding each
 * manifest's text with the ETag and size its object had when the index was written. It is a cache that is never
 * trusted over the manifests: an entry stands in for a manifest only while the folder's listing shows that manifest
 * with the same ETag and size (and, when the ETag is an MD5, only when the text hashes to it); everything else is
 * read from the manifest itself. A missing, unparsable or stale index makes a listing slower, never different.
 */
import { createHash } from "node:crypto";
import { z } from "zod";
import { readLimited } from "../store/read.js";
import type { ObjectInfo, Store } from "../store/store.js";
import { NotFoundError } from "../util/errors.js";

/** Starts with "." (never a snapshot name, src/archive/names.ts) and is no manifest, archive or raw snapshot. */
export const INDEX_KEY = ".lifeboat-index.json";

/** The largest index read: about 60,000 manifests; past it the index is ignored (and so rewritten smaller). */
const INDEX_LIMIT = 64 << 20;

const Entry = z.object({ etag: z.string().min(1), size: z.number().int().nonnegative(), text: z.string() });

export const ListingIndexSchema = z.object({
  kind: z.literal("lifeboat-listing-index"),
  version: z.literal(1),
  /** Per manifest key (`<name>.manifest.json`), the manifest's text and its object's ETag and size as listed. */
  manifests: z.record(z.string(), Entry),
});
export type ListingIndex = z.infer<typeof ListingIndexSchema>;
export type IndexEntry = z.infer<typeof Entry>;

/** The index a store keeps; only S3 folders have one (a directory lists no ETags, and its reads are local). */
export function keepsIndex(store: Pick<Store, "kind">): boolean {
  return store.kind === "s3";
}

/**
 * Reads and parses the index; undefined when there is none or it is not one (too large, not JSON, not the schema).
 * Store errors other than "not found" propagate: the caller decides whether a listing may go on without it.
 */
export async function readIndex(store: Store): Promise<ListingIndex | undefined> {
  let bytes;
  try {
    bytes = await readLimited(store, INDEX_KEY, INDEX_LIMIT);
  } catch (err) {
    if (err instanceof NotFoundError) return undefined;
    throw err;
  }
  return bytes === undefined ? undefined : parseIndex(bytes.toString("utf8"));
}

export function parseIndex(text: string): ListingIndex | undefined {
  try {
    const parsed = ListingIndexSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The manifest text the index holds for `listed`, or undefined unless the entry matches the object as listed now:
 * the same ETag and size, a text of that size, and, when the ETag is a plain MD5 (a single-part upload without
 * SSE-KMS/SSE-C), a text whose MD5 it is. An entry for an object that changed, or one that misstates it, is never used.
 */
export function validText(index: ListingIndex | undefined, listed: ObjectInfo): string | undefined {
  const entry = index?.manifests[listed.key];
  if (!entry || !listed.etag || entry.etag !== listed.etag || entry.size !== listed.size) return undefined;
  if (Buffer.byteLength(entry.text, "utf8") !== listed.size) return undefined;
  if (/^[0-9a-f]{32}$/i.test(listed.etag)) {
    const md5 = createHash("md5").update(entry.text, "utf8").digest("hex");
    if (md5 !== listed.etag.toLowerCase()) return undefined;
  }
  return entry.text;
}

/** An index of exactly `entries` (manifests gone from the listing are simply not in it). */
export function buildIndex(entries: ReadonlyMap<string, IndexEntry>): ListingIndex {
  const manifests: Record<string, IndexEntry> = {};
  for (const [key, entry] of [...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) manifests[key] = entry;
  return { kind: "lifeboat-listing-index", version: 1, manifests };
}

/** True when `next` says the same as `previous` (so that rewriting it would change nothing). */
export function sameIndex(previous: ListingIndex | undefined, next: ListingIndex): boolean {
  if (!previous) return false;
  const a = Object.entries(previous.manifests);
  const b = next.manifests;
  if (a.length !== Object.keys(b).length) return false;
  return a.every(([key, e]) => b[key]?.etag === e.etag && b[key].size === e.size && b[key].text === e.text);
}

export async function writeIndex(store: Store, index: ListingIndex): Promise<void> {
  await store.put(INDEX_KEY, Buffer.from(JSON.stringify(index)), { contentType: "application/json" });
}
