/**
 * Reading the segments a replay needs (L5): each segment's manifest, then its file, whose size and sha256 must be the
 * manifest's before a byte of it is parsed; an encrypted one is opened with the node's identity. One segment is in
 * memory at a time, and the next is fetched while the current one is replayed.
 */
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { decryptStream, type IdentitySource, type LoadedIdentities } from "../crypto/age.js";
import { identityFor } from "../crypto/age.js";
import { readLimited } from "../store/read.js";
import type { Store } from "../store/store.js";
import { ChecksumMismatchError } from "../util/errors.js";
import { readSegmentManifest } from "./catalog.js";
import { decodeSegment, segmentFileKey, type LoggedRevision, type SegmentManifest } from "./format.js";

export interface SegmentRef {
  first: number;
  last: number;
}

/** The revisions of `segments` of `chain`, in order (each segment checked against its manifest first). */
export async function* loggedRevisions(
  store: Store,
  chain: string,
  segments: readonly SegmentRef[],
  identity: IdentitySource | undefined,
): AsyncGenerator<LoggedRevision> {
  let identities: LoadedIdentities | undefined;
  const open = async (m: SegmentManifest) => {
    if (!m.encryption) return undefined;
    identities ??= await identityFor(`log segment ${m.file}`, m.encryption.recipients, identity);
    return identities;
  };
  let next = segments[0] ? fetchSegment(store, chain, segments[0], open) : undefined;
  for (let i = 0; next; i++) {
    const current = await next;
    const following = segments[i + 1];
    next = following ? fetchSegment(store, chain, following, open) : undefined;
    // A prefetch that fails while this segment is replayed is awaited (and thrown) on the next turn.
    next?.catch(() => undefined);
    yield* current;
  }
}

async function fetchSegment(
  store: Store,
  chain: string,
  ref: SegmentRef,
  open: (m: SegmentManifest) => Promise<LoadedIdentities | undefined>,
): Promise<LoggedRevision[]> {
  const manifest = await readSegmentManifest(store, chain, ref);
  const key = segmentFileKey(chain, manifest.file);
  const stored = await readLimited(store, key, manifest.size);
  if (!stored || stored.length !== manifest.size)
    throw new ChecksumMismatchError(`log segment ${key}: its size differs from its manifest's ${manifest.size}`);
  const sha = createHash("sha256").update(stored).digest("hex");
  if (sha !== manifest.sha256) throw new ChecksumMismatchError(`log segment ${key}: sha256 differs from its manifest`);
  const identities = await open(manifest);
  const plain = identities ? await decrypt(stored, identities, key) : stored;
  return decodeSegment(plain, manifest);
}

async function decrypt(bytes: Buffer, identities: LoadedIdentities, what: string): Promise<Buffer> {
  const stream = await decryptStream(Readable.from([bytes]), identities, what);
  const chunks: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}
