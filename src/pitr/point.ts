/**
 * Where a restore to a point starts (docs/design.md, "Restore to a point", steps 1 and 2): the chain and revision
 * of `--to-revision`, `--to-time` or `--latest`, the base snapshot to replay from, and the segments between them,
 * every one of whose manifests is read (and so checked) here, before anything is held or stopped. A point outside
 * every window is refused with the windows.
 */
import type { IdentitySource } from "../crypto/age.js";
import { listCatalog, type CatalogEntry } from "../snapshot/catalog.js";
import type { Store } from "../store/store.js";
import { UserError } from "../util/errors.js";
import { listChains, readSegmentManifest, type ChainView } from "./catalog.js";
import { loggedRevisions, type SegmentRef } from "./fetch.js";
import { mapLimit } from "../util/map-limit.js";

/** What the operator asked for; `chain` (`--chain`) narrows it to one chain. */
export type PointRequest = ({ revision: number } | { time: Date } | { latest: true }) & { chain?: string | undefined };

export interface PointTarget {
  chain: string;
  clusterId: string;
  revision: number;
  /** When the writer observed the target revision (the chain's start time for its base revision). */
  at: string;
  base: { name: string; revision: number; createdAt: string };
  segments: SegmentRef[];
}

const MANIFEST_CONCURRENCY = 16;

export async function locatePoint(
  store: Store,
  want: PointRequest,
  identity: IdentitySource | undefined,
): Promise<PointTarget> {
  const chains = (await listChains(store)).filter((c) => c.doc && c.window);
  const chain = chooseChain(chains, want);
  const doc = chain.doc!;
  const revision =
    "revision" in want
      ? want.revision
      : "time" in want
        ? await revisionAt(store, chain, want.time, identity)
        : chain.reached;
  const base = chooseBase(await listCatalog(store, "s3"), chain, revision);
  const segments = chain.path.filter((s) => s.last > base.revision && s.first <= revision);
  await mapLimit(segments, MANIFEST_CONCURRENCY, (s) => readSegmentManifest(store, chain.chain, s));
  const containing = segments.find((s) => s.first <= revision && revision <= s.last);
  const at = containing ? await timeOf(store, chain.chain, containing, revision, identity) : doc.startedAt;
  return {
    chain: chain.chain,
    clusterId: doc.clusterId,
    revision,
    at,
    base,
    segments: segments.map(({ first, last }) => ({ first, last })),
  };
}

/** The windows, one line each, for refusals and listings. */
export function describeWindows(chains: readonly ChainView[]): string[] {
  return chains
    .filter((c) => c.doc && c.window)
    .map((c) => {
      const w = c.window!;
      return `chain ${c.chain} (cluster ${c.doc!.clusterId}, ${c.doc!.reason}): revisions ${w.firstRevision}-${w.lastRevision}, ${w.from} to ${w.to}`;
    });
}

/**
 * The chain that holds the point. Revisions repeat across clusters (a restore without a revision bump continues the
 * numbering of the snapshot), so a revision two chains hold is refused unless `--chain` names one.
 */
function chooseChain(all: ChainView[], want: PointRequest): ChainView {
  const chains = want.chain ? all.filter((c) => c.chain === want.chain) : all;
  if (want.chain && !chains.length)
    throw new UserError(`--chain ${want.chain}: no such chain in S3 (see snapshot-list)`);
  const newestFirst = [...chains].sort((a, b) => Date.parse(b.window!.to) - Date.parse(a.window!.to));
  const refuse = (what: string): never => {
    const windows = describeWindows(chains);
    throw new UserError(
      `${what}${windows.length ? `; the recoverable windows are:\n  ${windows.join("\n  ")}` : ": S3 holds no revision log (lifeboat.continuous)"}`,
    );
  };
  if ("latest" in want) return newestFirst[0] ?? refuse("there is no revision log to restore the latest point from");
  if ("revision" in want) {
    const r = want.revision;
    const holding = newestFirst.filter((c) => c.window!.firstRevision <= r && r <= c.window!.lastRevision);
    if (holding.length > 1)
      throw new UserError(
        `revision ${r} is in ${holding.length} chains (of clusters ${holding.map((c) => c.doc!.clusterId).join(", ")}): name one with --chain:\n  ${describeWindows(holding).join("\n  ")}`,
      );
    return holding[0] ?? refuse(`revision ${r} is outside every recoverable window`);
  }
  const t = want.time.getTime();
  return (
    newestFirst.find((c) => Date.parse(c.window!.from) <= t && t <= Date.parse(c.window!.to)) ??
    refuse(`${want.time.toISOString()} is outside every recoverable window`)
  );
}

/**
 * The last revision the writer observed at or before `time` (so nothing committed after it is included): the
 * segment is found by its manifests' times, then its lines are read. Before the first logged revision: the base's.
 */
async function revisionAt(store: Store, chain: ChainView, time: Date, identity: IdentitySource | undefined) {
  const t = time.getTime();
  let lo = 0;
  let hi = chain.path.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const m = await readSegmentManifest(store, chain.chain, chain.path[mid]!);
    if (Date.parse(m.firstAt) <= t) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  if (found < 0) return chain.doc!.start - 1;
  let revision = chain.path[found]!.first - 1;
  for await (const r of loggedRevisions(store, chain.chain, [chain.path[found]!], identity)) {
    if (Date.parse(r.at) > t) break;
    revision = r.group.revision;
  }
  return revision;
}

/** The newest good S3 snapshot of the chain's cluster from which the log reaches `revision` (L4's bases). */
function chooseBase(entries: CatalogEntry[], chain: ChainView, revision: number): PointTarget["base"] {
  const doc = chain.doc!;
  const bases = entries
    .filter((e) => e.status === "ok" && e.manifest?.clusterId === doc.clusterId)
    .map((e) => ({ name: e.name, revision: e.manifest!.etcd.revision, createdAt: e.manifest!.createdAt }))
    .filter((b) => b.revision >= doc.start - 1 && b.revision <= revision)
    .sort((a, b) => b.revision - a.revision);
  const base = bases[0];
  if (!base)
    throw new UserError(
      `no good snapshot of cluster ${doc.clusterId} in S3 is a base for revision ${revision} of chain ${chain.chain} (one taken at revision ${doc.start - 1} or later, and at ${revision} or earlier): retention may have removed it`,
    );
  return base;
}

/** When the writer observed `revision`, read from the segment that holds it. */
async function timeOf(
  store: Store,
  chain: string,
  segment: SegmentRef,
  revision: number,
  identity: IdentitySource | undefined,
): Promise<string> {
  for await (const r of loggedRevisions(store, chain, [segment], identity))
    if (r.group.revision === revision) return r.at;
  throw new UserError(`revision ${revision} is not in its segment ${segment.first}-${segment.last}`);
}
