/**
 * Retention of the revision log (L4 in docs/design.md): log data goes only together with the snapshots that make it
 * usable. A chain's bases are the good S3 snapshots of its cluster from its start on; a segment at or below every
 * kept base's revision is needed by none of them, and a chain without any kept base is unusable. The plan is pure;
 * the executor removes manifests before files and chain.json last, so a cut-short prune leaves nothing that looks
 * committed and is not.
 */
import { listCatalog, type CatalogEntry } from "../snapshot/catalog.js";
import type { Store } from "../store/store.js";
import { describeError } from "../util/errors.js";
import { listChains, type ChainView } from "./catalog.js";
import {
  chainKey,
  LOG_FORMAT_VERSION,
  LOG_PREFIX,
  prunedKey,
  segmentFile,
  segmentFileKey,
  type PrunedDoc,
} from "./format.js";

export interface LogPrunePlan {
  /** Whole chains to remove: no kept snapshot is a base for them. */
  chains: { chain: string; reason: string }[];
  /** Segments of kept chains that no kept base needs. */
  segments: { chain: string; first: number; last: number; manifestKey: string }[];
  /** Per kept chain that loses segments: its oldest kept base (pruned.json's `through`), written first. */
  through: { chain: string; revision: number; at: string }[];
}

/** `kept`: the S3 folder's snapshots after its own prune (only good ones count as bases). */
export function planLogPrune(chains: readonly ChainView[], kept: readonly CatalogEntry[]): LogPrunePlan {
  const plan: LogPrunePlan = { chains: [], segments: [], through: [] };
  for (const c of chains) {
    const doc = c.doc;
    if (!doc) continue;
    const bases = kept
      .filter((e) => e.status === "ok" && e.manifest?.clusterId === doc.clusterId)
      .map((e) => ({ revision: e.manifest!.etcd.revision, at: e.manifest!.createdAt }))
      // A base of this chain lies inside it: a later snapshot of the same cluster belongs to a later chain.
      .filter((b) => b.revision >= doc.start - 1 && b.revision <= Math.max(c.reached, doc.start - 1))
      .sort((a, b) => a.revision - b.revision);
    const oldest = bases[0];
    if (!oldest) {
      plan.chains.push({ chain: c.chain, reason: `no kept snapshot of cluster ${doc.clusterId} is a base for it` });
      continue;
    }
    const removable = [...c.path, ...c.unreachable].filter((s) => s.last <= oldest.revision);
    if (!removable.length) continue;
    plan.through.push({ chain: c.chain, revision: oldest.revision, at: oldest.at });
    for (const s of removable) plan.segments.push({ chain: c.chain, ...s });
  }
  return plan;
}

export interface LogPruneResult {
  removedChains: number;
  removedSegments: number;
  failed: { key: string; error: string }[];
}

export async function executeLogPrune(store: Store, plan: LogPrunePlan): Promise<LogPruneResult> {
  const result: LogPruneResult = { removedChains: 0, removedSegments: 0, failed: [] };
  const remove = async (key: string) => {
    try {
      await store.remove(key);
      return true;
    } catch (err) {
      result.failed.push({ key, error: describeError(err) });
      return false;
    }
  };
  const marked = new Set<string>();
  for (const t of plan.through) {
    const doc: PrunedDoc = {
      formatVersion: LOG_FORMAT_VERSION,
      chain: t.chain,
      through: t.revision,
      throughAt: t.at,
      at: new Date().toISOString(),
    };
    try {
      await store.put(prunedKey(t.chain), Buffer.from(JSON.stringify(doc, null, 2) + "\n"));
      marked.add(t.chain);
    } catch (err) {
      result.failed.push({ key: prunedKey(t.chain), error: describeError(err) });
    }
  }
  for (const s of plan.segments) {
    // Without its pruned.json a chain's removed beginning would read as a gap: nothing goes before it is written.
    if (!marked.has(s.chain)) continue;
    if (!(await remove(s.manifestKey))) continue;
    await remove(segmentFileKey(s.chain, segmentFile(s.first, s.last, false)));
    await remove(segmentFileKey(s.chain, segmentFile(s.first, s.last, true)));
    result.removedSegments++;
  }
  for (const c of plan.chains) {
    const keys = (await store.list(`${LOG_PREFIX}${c.chain}/`)).map((o) => o.key);
    const doc = chainKey(c.chain);
    const manifests = keys.filter((k) => k.endsWith(".json") && k !== doc);
    const rest = keys.filter((k) => !k.endsWith(".json"));
    let ok = true;
    for (const k of [...manifests, ...rest]) ok = (await remove(k)) && ok;
    if (ok && (await remove(doc))) result.removedChains++;
  }
  return result;
}

/**
 * The log's retention in an S3 folder whose snapshots were just pruned: the plan over what the folder holds now and,
 * unless `dryRun`, its execution. With `removed`, a dry run plans as if those snapshots were gone already.
 */
export async function pruneLogIn(
  store: Store,
  opts: { dryRun: boolean; removed?: readonly string[] } = { dryRun: false },
): Promise<{ plan: LogPrunePlan; result?: LogPruneResult }> {
  const chains = await listChains(store);
  if (!chains.length) return { plan: { chains: [], segments: [], through: [] } };
  const gone = new Set(opts.removed ?? []);
  const kept = (await listCatalog(store, "s3")).filter((e) => !gone.has(e.name));
  const plan = planLogPrune(chains, kept);
  if (opts.dryRun || (!plan.chains.length && !plan.segments.length)) return { plan };
  return { plan, result: await executeLogPrune(store, plan) };
}
