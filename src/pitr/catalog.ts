/**
 * Reading the revision log in S3 (docs/design.md, "Continuous revision log"): the chains, each with the range the
 * reader's rule reaches (L2) from the listed segment names, its window (L3) and its documents. Listing costs one LIST
 * of `.lifeboat-log/` and three small GETs per chain; segment manifests are fetched only where they are needed (the
 * last one of each chain for its time, and those a restore replays).
 */
import { parseJsonText } from "../config/json-file.js";
import { readLimited } from "../store/read.js";
import type { Store } from "../store/store.js";
import type { z } from "zod";
import { ChecksumMismatchError, describeError, NotFoundError } from "../util/errors.js";
import {
  ChainDoc,
  classifyLogKey,
  followChain,
  HeadDoc,
  LOG_PREFIX,
  PrunedDoc,
  prunedKey,
  SegmentManifest,
  chainKey,
  headKey,
  segmentFile,
  segmentManifestKey,
} from "./format.js";

const DOC_LIMIT = 1 << 20;

/** A segment as its listed names show it: committed when its manifest is listed beside its file. */
export interface ListedSegment {
  first: number;
  last: number;
  manifestKey: string;
}

export interface ChainView {
  chain: string;
  doc?: ChainDoc;
  /** Why chain.json could not be used (missing, broken): such a chain is shown, never restored from. */
  problem?: string;
  /** The committed segments the reader's rule follows from `start - 1`, in order. */
  path: ListedSegment[];
  /** The last revision reached without a gap (`start - 1` when the chain has no segment yet). */
  reached: number;
  /** Committed segments after a gap: reported, never used. */
  unreachable: ListedSegment[];
  head?: HeadDoc;
  /** The manifest of the last segment on the path, when there is one. */
  lastSegment?: SegmentManifest;
  /** Retention removed the segments up to `through` (the oldest kept base's revision): the window starts there. */
  pruned?: { through: number; throughAt: string };
  /** The window in time: from the chain's start to its last revision's observation (or the head's confirmation). */
  window?: { firstRevision: number; lastRevision: number; from: string; to: string };
}

/** Every chain under `.lifeboat-log/`, oldest start first. */
export async function listChains(store: Store): Promise<ChainView[]> {
  const objects = await store.list(LOG_PREFIX);
  type Listed = { files: Set<string>; manifests: ListedSegment[]; hasDoc: boolean; pruned: boolean };
  const byChain = new Map<string, Listed>();
  for (const o of objects) {
    const k = classifyLogKey(o.key);
    if (!k) continue;
    const entry = byChain.get(k.chain) ?? { files: new Set<string>(), manifests: [], hasDoc: false, pruned: false };
    byChain.set(k.chain, entry);
    if (k.what === "chain") entry.hasDoc = true;
    else if (k.what === "pruned") entry.pruned = true;
    else if (k.what === "file") entry.files.add(o.key.slice(o.key.lastIndexOf("/") + 1));
    else if (k.what === "manifest") entry.manifests.push({ first: k.first, last: k.last, manifestKey: o.key });
  }
  const chains = [...byChain.entries()].map(([chain, e]) => ({
    chain,
    hasDoc: e.hasDoc,
    pruned: e.pruned,
    segments: e.manifests.filter(
      (m) => e.files.has(segmentFile(m.first, m.last, false)) || e.files.has(segmentFile(m.first, m.last, true)),
    ),
  }));
  const views = await Promise.all(chains.map((c) => viewOf(store, c)));
  return views.sort((a, b) => (a.doc?.start ?? 0) - (b.doc?.start ?? 0) || a.chain.localeCompare(b.chain));
}

async function viewOf(
  store: Store,
  listed: { chain: string; hasDoc: boolean; pruned: boolean; segments: ListedSegment[] },
): Promise<ChainView> {
  const { chain, segments } = listed;
  const [doc, pruned] = await Promise.all([
    listed.hasDoc ? readDoc(store, chainKey(chain), ChainDoc) : { problem: "chain.json is missing" },
    listed.pruned ? readDoc(store, prunedKey(chain), PrunedDoc) : undefined,
  ]);
  if (!("data" in doc)) return { chain, problem: doc.problem, path: [], reached: 0, unreachable: segments };
  if (pruned && !("data" in pruned))
    return { chain, problem: pruned.problem, path: [], reached: 0, unreachable: segments };
  const through = pruned?.data.chain === chain ? pruned.data.through : undefined;
  const followed = followChain(
    walkStart(doc.data.start, through, segments),
    segments.map((s) => ({ ...s, previous: s.first - 1 })),
  );
  const path = followed.path.map(({ first, last, manifestKey }) => ({ first, last, manifestKey }));
  const unreachable = followed.unreachable.map(({ first, last, manifestKey }) => ({ first, last, manifestKey }));
  const [head, lastSegment] = await Promise.all([
    readDoc(store, headKey(chain), HeadDoc),
    path.length ? readSegmentManifest(store, chain, path[path.length - 1]!) : Promise.resolve(undefined),
  ]);
  const view: ChainView = { chain, doc: doc.data, path, reached: followed.reached, unreachable };
  if (through !== undefined && pruned && "data" in pruned) view.pruned = { through, throughAt: pruned.data.throughAt };
  if ("data" in head && head.data.chain === chain) view.head = head.data;
  if (lastSegment) view.lastSegment = lastSegment;
  view.window = windowOf(view);
  return view;
}

/**
 * L3: from the base's revision (the snapshot itself, before any segment) to the last revision reached; in time, from
 * the chain's start to the last revision's observation, or the head's confirmation when that is later.
 */
function windowOf(view: ChainView): ChainView["window"] {
  const doc = view.doc;
  if (!doc) return undefined;
  const confirmed = view.head && view.head.last === view.reached ? view.head.confirmedAt : undefined;
  const times = [doc.startedAt, view.lastSegment?.lastAt, confirmed].filter((t): t is string => t !== undefined);
  const to = times.reduce((a, b) => (Date.parse(b) > Date.parse(a) ? b : a));
  const first = view.pruned?.through ?? doc.start - 1;
  const from = view.pruned?.throughAt ?? doc.startedAt;
  return { firstRevision: first, lastRevision: Math.max(first, view.reached), from, to };
}

/**
 * Where the reader's walk begins: the chain's start, or, once retention removed its beginning (pruned.json), the
 * segment that holds the revision after `through` (the oldest kept base's); without one, right after `through`.
 */
function walkStart(start: number, through: number | undefined, segments: readonly ListedSegment[]): number {
  if (through === undefined || through < start) return start;
  const holding = segments.find((s) => s.first <= through + 1 && through + 1 <= s.last);
  return holding ? holding.first : through + 1;
}

/** A segment's manifest, parsed and checked against its key's range (a manifest under another name is broken). */
export async function readSegmentManifest(
  store: Store,
  chain: string,
  segment: Pick<ListedSegment, "first" | "last">,
): Promise<SegmentManifest> {
  const key = segmentManifestKey(chain, segment.first, segment.last);
  const doc = await readDoc(store, key, SegmentManifest);
  if (!("data" in doc)) throw new ChecksumMismatchError(`${key}: ${doc.problem}`);
  const m = doc.data;
  if (m.chain !== chain || m.first !== segment.first || m.last !== segment.last)
    throw new ChecksumMismatchError(`${key} describes ${m.chain} ${m.first}-${m.last}, not its own name`);
  return m;
}

async function readDoc<S extends z.ZodType>(
  store: Store,
  key: string,
  schema: S,
): Promise<{ data: z.output<S> } | { problem: string }> {
  try {
    const bytes = await readLimited(store, key, DOC_LIMIT);
    if (!bytes) return { problem: `${key} is over 1 MiB` };
    return { data: parseJsonText(bytes.toString("utf8"), key, schema).data };
  } catch (err) {
    if (err instanceof NotFoundError) return { problem: `${key} is missing` };
    return { problem: describeError(err) };
  }
}
