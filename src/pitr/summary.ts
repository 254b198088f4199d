/**
 * The revision log as `snapshot-status` and `snapshot-list` show it (L3): per chain its recoverable window in
 * revisions and time, why it began (a break names the gap before it), what is unreachable; and the cluster's current
 * recovery point, the newest window's end, with its age.
 */
import type { Store } from "../store/store.js";
import { listChains, type ChainView } from "./catalog.js";
import type { BreakReason } from "./format.js";

export interface ChainSummary {
  chain: string;
  clusterId: string | null;
  reason: BreakReason | null;
  base: string | null;
  window: { firstRevision: number; lastRevision: number; from: string; to: string } | null;
  /** For a `compacted` break: the revisions lost between the chain before and this one. */
  gap: { chain: string; fromRevision: number; toRevision: number } | null;
  segments: number;
  unreachable: number;
  problem: string | null;
}

export interface LogSummary {
  chains: ChainSummary[];
  recoveryPoint: { chain: string; revision: number; at: string; ageSeconds: number } | null;
}

export async function logSummary(store: Store, now: Date): Promise<LogSummary> {
  return summarize(await listChains(store), now);
}

export function summarize(chains: readonly ChainView[], now: Date): LogSummary {
  const out = chains.map(summaryOf);
  const newest = out
    .filter((c) => c.window)
    .sort((a, b) => Date.parse(a.window!.to) - Date.parse(b.window!.to))
    .at(-1);
  const recoveryPoint = newest?.window
    ? {
        chain: newest.chain,
        revision: newest.window.lastRevision,
        at: newest.window.to,
        ageSeconds: Math.max(0, Math.round((now.getTime() - Date.parse(newest.window.to)) / 1000)),
      }
    : null;
  return { chains: out, recoveryPoint };
}

function summaryOf(c: ChainView): ChainSummary {
  const doc = c.doc;
  const previous = doc?.previous;
  return {
    chain: c.chain,
    clusterId: doc?.clusterId ?? null,
    reason: doc?.reason ?? null,
    base: doc?.base.name ?? null,
    window: c.window ?? null,
    gap: previous && doc ? { chain: previous.chain, fromRevision: previous.last + 1, toRevision: doc.start - 2 } : null,
    segments: c.path.length,
    unreachable: c.unreachable.length,
    problem:
      c.problem ?? (c.unreachable.length ? `${c.unreachable.length} segments after a gap are unreachable` : null),
  };
}

/** One line per chain, for the CLI. */
export function describeChains(log: LogSummary): string[] {
  const lines = log.chains.map((c) => {
    const w = c.window
      ? `revisions ${c.window.firstRevision}-${c.window.lastRevision}, ${c.window.from} to ${c.window.to}`
      : "no revision yet";
    const why = c.gap
      ? `began after a break (${c.reason}): revisions ${c.gap.fromRevision}-${c.gap.toRevision} are lost`
      : `began: ${c.reason ?? "unknown"}`;
    return `  chain ${c.chain}: ${w}; ${c.segments} segments, base ${c.base ?? "?"}; ${why}${c.problem ? `; ${c.problem}` : ""}`;
  });
  const rp = log.recoveryPoint;
  const head = rp
    ? `revision log: recovery point revision ${rp.revision} at ${rp.at} (${rp.ageSeconds} s ago)`
    : "revision log: no recoverable window";
  return [head, ...lines];
}
