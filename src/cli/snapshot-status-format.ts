/** How `lifeboat etcd snapshot-status` prints its report: the table, then what needs attention. */
import type { NodeStatus } from "../api/schedule.js";
import type { StatusReport } from "../fleet/status.js";
import type { Freshness } from "../schedule/freshness.js";
import { formatDuration } from "../util/duration.js";
import { formatBytes, table } from "./output.js";

/** The table: one row per node, and one for S3. */
export function statusTable(report: StatusReport): string {
  const rows = report.nodes.map((n) => {
    if ("error" in n) return [n.node, "UNREACHABLE", "-", "-", "-", "-", "-", "-", "-", n.error];
    const failure = n.lastFailure
      ? `${n.lastFailure.finishedAt} ${n.lastFailure.name}: ${failureReason(n.lastFailure)}`
      : "-";
    return [
      n.node,
      n.schedule ? String(n.schedule.description) : "off",
      n.lastSuccess ? `${n.lastSuccess.createdAt} ${n.lastSuccess.name}` : "never",
      n.nextRun ? `${n.nextRun.at}${n.nextRun.catchUp ? " (catch-up)" : ""}` : "-",
      n.lastRun ? lastRun(n.lastRun) : "-",
      freshnessCell(n.freshness),
      n.lastVerifiedRestore ? `${n.lastVerifiedRestore.finishedAt} ${n.lastVerifiedRestore.name}` : "never",
      String(n.kept.count),
      formatBytes(n.kept.bytes),
      failure,
    ];
  });
  if (report.s3) {
    const s = report.s3;
    const failure = s.lastFailure
      ? `${s.lastFailure.at} ${s.lastFailure.name} (${s.lastFailure.node}): ${s.lastFailure.reason}`
      : "-";
    rows.push([
      "s3",
      s.error ? "UNREACHABLE" : s.location,
      s.lastSuccess ? `${s.lastSuccess.createdAt} ${s.lastSuccess.name}` : "never",
      "-",
      "-",
      s.error ? "-" : freshnessCell(s.freshness),
      "-",
      String(s.count),
      formatBytes(s.bytes),
      s.error ?? failure,
    ]);
  }
  return table(
    [
      "LOCATION",
      "SCHEDULE",
      "LAST SUCCESS",
      "NEXT RUN",
      "LAST RUN",
      "FRESHNESS",
      "LAST VERIFIED RESTORE",
      "KEPT",
      "SIZE",
      "LAST FAILURE",
    ],
    rows,
  );
}

/** `fresh (stale after 6s)`, `STALE (after 6s)`, or `-` when not watched. */
function freshnessCell(f: Freshness): string {
  if (f.staleAfterMs === null) return "-";
  const after = formatDuration(f.staleAfterMs);
  return f.state === "stale" ? `STALE (after ${after})` : `fresh (stale after ${after})`;
}

/**
 * What stops or stopped backups, one line each: a stale location, a failed scheduled verify, a node held by a
 * restore or verify, a paused schedule, and every run since the last good snapshot that was skipped, cancelled or
 * failed, with its reason.
 */
export function attention(report: Pick<StatusReport, "nodes" | "s3">): string[] {
  const lines: string[] = [];
  for (const n of report.nodes) if (!("error" in n)) lines.push(...staleLines(n.node, n.freshness));
  if (report.s3 && !report.s3.error) lines.push(...staleLines("s3", report.s3.freshness));
  for (const n of report.nodes) {
    if ("error" in n) continue;
    if (n.verifyFailed && n.lastVerify)
      lines.push(
        `${n.node}: the last scheduled verify FAILED: ${n.lastVerify.finishedAt} ${n.lastVerify.name}: ${n.lastVerify.reason ?? "no reason recorded"}`,
      );
    const session = n.session as { purpose: string; name: string; id: string; expiresAt: string } | null | undefined;
    if (session) {
      const effect = session.purpose === "verify" ? "backups go on" : "backups are NOT running";
      lines.push(
        `${n.node}: ${effect}: held by a ${session.purpose} of ${session.name} (session ${session.id}, expires ${session.expiresAt} unless renewed)`,
      );
    } else if (n.saving) {
      lines.push(`${n.node}: saving ${n.saving} now`);
    }
    if (n.paused) lines.push(`${n.node}: recurring snapshots paused: ${n.paused}`);
    // Only what happened since the last good snapshot needs attention now.
    const since = n.lastSuccess?.createdAt ?? "";
    for (const p of (n.problems ?? []).filter((r) => r.finishedAt > since)) {
      const what = p.result === "success" ? `upload ${p.upload?.result ?? "?"}` : p.result;
      lines.push(
        `${n.node}: ${p.finishedAt} ${p.name} ${what}: ${p.reason ?? p.upload?.reason ?? "no reason recorded"}`,
      );
    }
  }
  return lines.length ? ["", "Needs attention:", ...lines.map((l) => `  ${l}`)] : [];
}

/** `Scheduled verify: last 2026-… <name> from s3 on etcd-node2: passed (revision 42, 17 keys); next 2026-…`. */
export function scheduledVerifyLine(report: Pick<StatusReport, "scheduledVerify">): string[] {
  const v = report.scheduledVerify;
  if (!v) return [];
  const next = v.next ? `; next ${v.next}` : "";
  if (!v.last) return ["", `Scheduled verify: none yet${next}`];
  const l = v.last;
  const result =
    l.result === "success" ? `passed (revision ${l.revision ?? "?"}, ${l.keys ?? "?"} keys)` : `FAILED: ${l.reason}`;
  return [
    "",
    `Scheduled verify: last ${l.finishedAt} ${l.name} from ${l.location ?? "?"} on ${l.node}: ${result}${next}`,
  ];
}

/** `etcd-node1: STALE: the newest good snapshot (taken 2026-…) is older than stale_after 6s`. */
function staleLines(location: string, f: Freshness): string[] {
  if (f.state !== "stale" || f.staleAfterMs === null) return [];
  const after = formatDuration(f.staleAfterMs);
  if (f.newestGood)
    return [`${location}: STALE: the newest good snapshot (taken ${f.newestGood}) is older than stale_after ${after}`];
  const since = f.watchedSince ? ` since watching began at ${f.watchedSince}` : "";
  return [`${location}: STALE: no good snapshot${since} (stale_after ${after})`];
}

function failureReason(run: NonNullable<NodeStatus["lastFailure"]>): string {
  if (run.result === "failure") return run.reason ?? "unknown";
  return `upload: ${run.upload?.reason ?? "unknown"}`;
}

/** The last run and how it ended; a run cut short by a stopping agent reads "interrupted", not as a failure. */
function lastRun(run: NonNullable<NodeStatus["lastRun"]>): string {
  const why = run.result === "interrupted" || run.result === "skipped" ? ` (${run.reason ?? "no reason given"})` : "";
  return `${run.finishedAt} ${run.name}: ${run.result}${why}`;
}
