/**
 * `lifeboat etcd snapshot-status`: do backups work? For each node: its schedule, last success, last failure with
 * the reason, next run, and how many snapshots it keeps; the same for S3 (listed by the CLI itself).
 */
import { routes } from "../api/routes.js";
import type { NodeStatus } from "../api/schedule.js";
import { applyS3Flags, type S3Flags } from "../config/cluster.js";
import { createdOf, listCatalog } from "../snapshot/catalog.js";
import { describeError, ExitCode } from "../util/errors.js";
import type { CliDeps } from "./deps.js";
import { openCluster } from "./cluster.js";
import { formatBytes, table } from "./output.js";
import { openStore } from "../store/open.js";
import type { S3Settings } from "../config/s3-settings.js";
import { s3Location } from "../store/s3-location.js";

export interface S3Status {
  location: string;
  count: number;
  bytes: number;
  broken: number;
  lastSuccess: { name: string; createdAt: string } | null;
  /** The newest failed upload any node reported. */
  lastFailure: { name: string; node: string; at: string; reason: string } | null;
  error?: string;
}

export interface StatusReport {
  nodes: (NodeStatus | { node: string; error: string })[];
  s3: S3Status | null;
  exitCode: number;
}

export async function runSnapshotStatus(options: { config: string } & S3Flags, deps: CliDeps): Promise<StatusReport> {
  const cluster = await openCluster(options.config, deps.out);
  try {
    const config = await applyS3Flags(cluster.config, options);
    const nodes = await Promise.all(
      cluster.agents.map(({ node, client }) =>
        client.call(routes.status).catch((err: unknown) => ({ node: node.memberName, error: describeError(err) })),
      ),
    );
    const s3 = config.backup.s3 ? await s3Status(config.backup.s3, nodes) : null;
    const unreachable = nodes.some((n) => "error" in n) || s3?.error !== undefined;
    const report: StatusReport = { nodes, s3, exitCode: unreachable ? ExitCode.partial : ExitCode.ok };
    print(report, deps);
    return report;
  } finally {
    cluster.close();
  }
}

async function s3Status(target: S3Settings, nodes: StatusReport["nodes"]): Promise<S3Status> {
  const location = s3Location(target);
  const lastFailure = newestUploadFailure(nodes);
  const store = openStore(target);
  try {
    const entries = await listCatalog(store, "s3");
    const good = entries.filter((e) => e.status === "ok");
    const newest = good.at(-1);
    return {
      location,
      count: good.length,
      bytes: good.reduce((sum, e) => sum + e.size, 0),
      broken: entries.filter((e) => e.status === "broken").length,
      lastSuccess: newest ? { name: newest.name, createdAt: createdOf(newest) } : null,
      lastFailure,
    };
  } catch (err) {
    return { location, count: 0, bytes: 0, broken: 0, lastSuccess: null, lastFailure, error: describeError(err) };
  } finally {
    await store.close();
  }
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

function print(report: StatusReport, deps: CliDeps): void {
  const rows = report.nodes.map((n) => {
    if ("error" in n) return [n.node, "UNREACHABLE", "-", "-", "-", "-", "-", n.error];
    const failure = n.lastFailure
      ? `${n.lastFailure.finishedAt} ${n.lastFailure.name}: ${failureReason(n.lastFailure)}`
      : "-";
    return [
      n.node,
      n.schedule ? String(n.schedule.description) : "off",
      n.lastSuccess ? `${n.lastSuccess.createdAt} ${n.lastSuccess.name}` : "never",
      n.nextRun ? `${n.nextRun.at}${n.nextRun.catchUp ? " (catch-up)" : ""}` : "-",
      n.lastRun ? lastRun(n.lastRun) : "-",
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
      String(s.count),
      formatBytes(s.bytes),
      s.error ?? failure,
    ]);
  }
  deps.out.line(
    table(["LOCATION", "SCHEDULE", "LAST SUCCESS", "NEXT RUN", "LAST RUN", "KEPT", "SIZE", "LAST FAILURE"], rows),
  );
  for (const line of attention(report.nodes)) deps.out.line(line);
  deps.out.result(report);
  deps.setExitCode(report.exitCode);
}

/**
 * What stops or stopped backups, one line each: a node held by a restore or verify, a paused schedule, and every
 * run since the last good snapshot that was skipped, cancelled or failed, with its reason.
 */
function attention(nodes: StatusReport["nodes"]): string[] {
  const lines: string[] = [];
  for (const n of nodes) {
    if ("error" in n) continue;
    const session = n.session;
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

function failureReason(run: NonNullable<NodeStatus["lastFailure"]>): string {
  if (run.result === "failure") return run.reason ?? "unknown";
  return `upload: ${run.upload?.reason ?? "unknown"}`;
}

/** The last run and how it ended; a run cut short by a stopping agent reads "interrupted", not as a failure. */
function lastRun(run: NonNullable<NodeStatus["lastRun"]>): string {
  const why = run.result === "interrupted" || run.result === "skipped" ? ` (${run.reason ?? "no reason given"})` : "";
  return `${run.finishedAt} ${run.name}: ${run.result}${why}`;
}
