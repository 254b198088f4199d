/**
 * Do backups work? Every node's status as its agent reports it (schedule, last success and failure, next run,
 * snapshots kept, freshness, last verified restore), and the same for S3, listed by the CLI itself.
 *
 * Freshness is the one rule of src/schedule/freshness.ts: each node's as its agent evaluated it (what its metric and
 * webhook say), S3's here, from the S3 listing, with the threshold the agents were pushed (the largest when they
 * differ) and watched since the earliest of theirs; S3 is not watched when no agent is.
 */
import type { S3Settings } from "../config/s3-settings.js";
import type { NodeStatus } from "../api/schedule.js";
import type { ClusterVerify } from "../schedule/history.js";
import { createdOf, listCatalog } from "../snapshot/catalog.js";
import { s3Location } from "../store/s3-location.js";
import { evaluateFreshness, unwatched, type Freshness } from "../schedule/freshness.js";
import { describeError, ExitCode } from "../util/errors.js";
import type { Fleet, OpenStore } from "./fleet.js";
import { logSummary, type LogSummary } from "../pitr/summary.js";

export interface S3Status {
  location: string;
  count: number;
  bytes: number;
  broken: number;
  lastSuccess: { name: string; createdAt: string } | null;
  /** The newest failed upload any node reported. */
  lastFailure: { name: string; node: string; at: string; reason: string } | null;
  freshness: Freshness;
  /** The revision log in this folder (src/pitr/summary.ts); null when it holds none and none is configured. */
  log: LogSummary | null;
  error?: string;
}

export interface StatusReport {
  nodes: (NodeStatus | { node: string; error: string })[];
  s3: S3Status | null;
  /** The locations that are stale, and the nodes whose last scheduled verify failed: exit 6 when any. */
  stale: string[];
  verifyFailed: string[];
  /** The cluster's last scheduled verify (the newest any node reports), and the soonest next one; null without. */
  scheduledVerify: { last: ClusterVerify | null; next: string | null } | null;
  exitCode: number;
}

/** Every node's status and S3's; exit code 3 when a node or S3 did not answer. */
export async function fleetStatus(
  fleet: Pick<Fleet, "nodes">,
  s3: S3Settings | undefined,
  openStore: OpenStore,
  now: Date,
): Promise<StatusReport> {
  const nodes = await Promise.all(
    fleet.nodes.map((n) =>
      n.status().catch((err: unknown) => ({ node: n.node.memberName, error: describeError(err) })),
    ),
  );
  const s3Report = s3 ? await s3Status(s3, nodes, openStore, now) : null;
  const answered = nodes.filter((n): n is NodeStatus => !("error" in n));
  const stale = answered.filter((n) => n.freshness.state === "stale").map((n) => n.node);
  if (s3Report?.freshness.state === "stale") stale.push("s3");
  if (logIsStale(s3Report?.log ?? null, answered)) stale.push("revision log");
  const verifyFailed = answered.filter((n) => n.verifyFailed).map((n) => n.node);
  const unreachable = answered.length < nodes.length || s3Report?.error !== undefined;
  const exitCode = stale.length || verifyFailed.length ? ExitCode.stale : unreachable ? ExitCode.partial : ExitCode.ok;
  return { nodes, s3: s3Report, stale, verifyFailed, scheduledVerify: scheduledVerify(answered), exitCode };
}

function scheduledVerify(nodes: readonly NodeStatus[]): StatusReport["scheduledVerify"] {
  const last = nodes
    .map((n) => n.clusterVerify ?? undefined)
    .filter((v): v is ClusterVerify => v !== undefined)
    .sort((a, b) => a.finishedAt.localeCompare(b.finishedAt))
    .at(-1);
  const next = nodes
    .map((n) => n.nextVerify ?? undefined)
    .filter((v): v is string => v !== undefined)
    .sort()
    .at(0);
  const configured = nodes.some((n) => n.schedule?.verify);
  return last || next || configured ? { last: last ?? null, next: next ?? null } : null;
}

async function s3Status(
  target: S3Settings,
  nodes: StatusReport["nodes"],
  openStore: OpenStore,
  now: Date,
): Promise<S3Status> {
  const location = s3Location(target);
  const lastFailure = newestUploadFailure(nodes);
  const store = openStore(target);
  const watch = s3Watch(nodes);
  try {
    const [entries, log] = await Promise.all([listCatalog(store, "s3"), logSummary(store, now)]);
    const good = entries.filter((e) => e.status === "ok");
    const newest = good.at(-1);
    const newestGood = good.reduce<Date | undefined>((max, e) => {
      const at = new Date(createdOf(e));
      return Number.isNaN(at.getTime()) || (max && max >= at) ? max : at;
    }, undefined);
    return {
      location,
      count: good.length,
      bytes: good.reduce((sum, e) => sum + e.size, 0),
      broken: entries.filter((e) => e.status === "broken").length,
      lastSuccess: newest ? { name: newest.name, createdAt: createdOf(newest) } : null,
      lastFailure,
      freshness: evaluateFreshness({ ...watch, newestGood, now }),
      log: log.chains.length || logConfigured(nodes) ? log : null,
    };
  } catch (err) {
    // Unlisted is not known to be stale: it is reported as unreachable (exit 3).
    const error = describeError(err);
    return {
      location,
      count: 0,
      bytes: 0,
      broken: 0,
      lastSuccess: null,
      lastFailure,
      freshness: unwatched(),
      log: null,
      error,
    };
  } finally {
    await store.close();
  }
}

/** The log's interval as the agents were pushed it (the largest), undefined when no agent has the log. */
function logInterval(nodes: StatusReport["nodes"]): number | undefined {
  const intervals = nodes.flatMap((n) =>
    "error" in n || !n.schedule?.continuous ? [] : [n.schedule.continuous.intervalMs],
  );
  return intervals.length ? Math.max(...intervals) : undefined;
}

function logConfigured(nodes: StatusReport["nodes"]): boolean {
  return logInterval(nodes) !== undefined;
}

/**
 * The log is stale (exit 6) when it is configured and its recovery point is older than six intervals and a minute:
 * the writer died and no agent took over, or S3 refuses its segments.
 */
function logIsStale(log: LogSummary | null, nodes: StatusReport["nodes"]): boolean {
  const interval = logInterval(nodes);
  if (interval === undefined || !log) return false;
  const age = log.recoveryPoint?.ageSeconds;
  return age === undefined || age * 1000 > 6 * interval + 60_000;
}

/** S3's threshold: the largest the agents report, watched since the earliest of theirs; none watched: none. */
function s3Watch(nodes: StatusReport["nodes"]): { staleAfterMs: number | undefined; watchedSince: Date | undefined } {
  let staleAfterMs: number | undefined;
  let watchedSince: Date | undefined;
  for (const n of nodes) {
    if ("error" in n || n.freshness.staleAfterMs === null) continue;
    staleAfterMs = Math.max(staleAfterMs ?? 0, n.freshness.staleAfterMs);
    const at = n.freshness.watchedSince ? new Date(n.freshness.watchedSince) : undefined;
    if (at && (!watchedSince || at < watchedSince)) watchedSince = at;
  }
  return { staleAfterMs, watchedSince };
}

function newestUploadFailure(nodes: StatusReport["nodes"]): S3Status["lastFailure"] {
  let out: S3Status["lastFailure"] = null;
  for (const n of nodes) {
    if ("error" in n) continue;
    const f = n.lastFailure;
    if (f?.upload?.result !== "failed") continue;
    if (!out || f.finishedAt > out.at)
      out = { name: f.name, node: n.node, at: f.finishedAt, reason: f.upload.reason ?? "" };
  }
  return out;
}
