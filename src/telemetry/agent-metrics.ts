/**
 * The agent's Prometheus metrics (served at GET /metrics behind the agent's mutual TLS; docs/design.md lists
 * them). `kind` is one-time or recurring, `location` is local (this node's directory) or s3, `result` is
 * success, failure or skipped. Timestamps are Unix seconds.
 */
import type { CatalogEntry } from "../snapshot/catalog.js";
import { Registry, type Gauge } from "./metrics.js";
import type { Delivery } from "./notify.js";
import { LogMetrics } from "./log-metrics.js";

export type SnapshotKind = "one-time" | "recurring";
export type Location = "local" | "s3";

/** From half a second to an hour. */
const DURATION_BUCKETS = [0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];

export class AgentMetrics {
  readonly registry = new Registry();
  /** The revision log's (src/pitr/writer.ts). */
  readonly log = new LogMetrics(this.registry);
  private readonly info = this.registry.gauge("lifeboat_agent_info", "Always 1; labels name this agent.");
  private readonly duration = this.registry.histogram(
    "lifeboat_snapshot_duration_seconds",
    "Time to take one snapshot on this node, health gate and upload included.",
    DURATION_BUCKETS,
  );
  private readonly size = this.registry.gauge(
    "lifeboat_snapshot_size_bytes",
    "Archive size of the last successful snapshot.",
  );
  private readonly results = this.registry.counter(
    "lifeboat_snapshots_total",
    "Snapshot attempts by kind, location and result (local: this node's copy; s3: this node's uploads).",
  );
  private readonly lastSuccess = this.registry.gauge(
    "lifeboat_snapshot_last_success_timestamp_seconds",
    "When the newest successful snapshot of this node was taken (local: from its manifests; s3: this agent's uploads since it started).",
  );
  private readonly lastFailure = this.registry.gauge(
    "lifeboat_snapshot_last_failure_timestamp_seconds",
    "When the last failed snapshot or upload of this agent ended.",
  );
  private readonly lastVerified = this.registry.gauge(
    "lifeboat_snapshot_last_verified_timestamp_seconds",
    "When the newest copy whose bytes were verified was taken (local: trailer check and fsync; s3: ETag/MD5 or re-read).",
  );
  private readonly sinceSuccess = this.registry.gauge(
    "lifeboat_snapshot_seconds_since_last_success",
    "Seconds from the newest successful snapshot to this scrape: alert when it exceeds the interval by a margin.",
  );
  private readonly uploadBytes = this.registry.counter(
    "lifeboat_upload_bytes_total",
    "Bytes of archives uploaded to S3 and verified.",
  );
  private readonly pruneRemoved = this.registry.counter(
    "lifeboat_prune_removed_total",
    "Snapshot copies removed by retention.",
  );
  private readonly pruneRuns = this.registry.counter(
    "lifeboat_prune_runs_total",
    "Retention runs by location and result.",
  );
  private readonly kept = this.registry.gauge(
    "lifeboat_snapshots_kept",
    "Good snapshot copies in this node's directory.",
  );
  private readonly keptBytes = this.registry.gauge(
    "lifeboat_snapshots_kept_bytes",
    "Total size of the good copies in this node's directory.",
  );
  private readonly nextRun = this.registry.gauge(
    "lifeboat_schedule_next_run_timestamp_seconds",
    "When the next recurring snapshot is due (absent without a schedule).",
  );
  private readonly skips = this.registry.counter(
    "lifeboat_schedule_skipped_total",
    "Recurring runs skipped because a save was still going.",
  );
  private readonly inProgress = this.registry.gauge(
    "lifeboat_snapshot_in_progress",
    "1 while this node saves a snapshot.",
  );
  private readonly notifications = this.registry.counter("lifeboat_notifications_total", "Webhook events by outcome.");
  private readonly stale = this.registry.gauge(
    "lifeboat_snapshot_stale",
    "1 when this node's newest good snapshot is older than stale_after, else 0 (absent when not watched).",
  );
  private readonly staleAfter = this.registry.gauge(
    "lifeboat_snapshot_stale_after_seconds",
    "The freshness threshold pushed with the schedule (absent when not watched).",
  );
  private readonly lastVerifiedRestore = this.registry.gauge(
    "lifeboat_snapshot_last_verified_restore_timestamp_seconds",
    "When the newest successful snapshot-verify (a restore into a throwaway etcd) on this node finished.",
  );
  private readonly verifyFailed = this.registry.gauge(
    "lifeboat_snapshot_verify_failed",
    "1 when the last scheduled verify on this node failed and no verify came after it, else 0.",
  );
  private readonly verifies = this.registry.counter(
    "lifeboat_snapshot_verifies_total",
    "Scheduled verifies run on this node, by result.",
  );

  constructor(
    node: string,
    version: string,
    private readonly clock: () => Date,
  ) {
    this.info.set({ node, version }, 1);
    this.registry.onCollect(() => this.collectAges());
  }

  /** A finished save on this node (`size` only for a success). */
  saveFinished(kind: SnapshotKind, ok: boolean, durationMs: number, at: Date, size?: number): void {
    const result = ok ? "success" : "failure";
    this.duration.observe({ kind, result }, durationMs / 1000);
    this.results.inc({ kind, location: "local", result });
    if (!ok) return this.failed("local", at);
    if (size !== undefined) this.size.set({ kind }, size);
    this.succeeded("local", at);
  }

  /** A finished upload (`bytes` only for a verified one). */
  uploadFinished(kind: SnapshotKind, ok: boolean, at: Date, bytes?: number): void {
    this.results.inc({ kind, location: "s3", result: ok ? "success" : "failure" });
    if (!ok) return this.failed("s3", at);
    this.uploadBytes.inc({}, bytes ?? 0);
    this.succeeded("s3", at);
  }

  /** A scheduled verify on this node finished (the history's gauges follow on the next render). */
  verifyFinished(ok: boolean, at: Date): void {
    this.verifies.inc({ result: ok ? "success" : "failure" });
    if (ok) this.lastVerifiedRestore.set({}, at.getTime() / 1000);
  }

  skipped(kind: SnapshotKind): void {
    this.results.inc({ kind, location: "local", result: "skipped" });
    this.skips.inc();
  }

  pruneFinished(location: Location, removed: number, failed: number): void {
    this.pruneRemoved.inc({ location }, removed);
    this.pruneRuns.inc({ location, result: failed === 0 ? "success" : "failure" });
  }

  pruneFailed(location: Location): void {
    this.pruneRuns.inc({ location, result: "failure" });
  }

  notification(result: Delivery): void {
    this.notifications.inc({ result });
  }

  schedule(next: Date | undefined, saving: boolean): void {
    if (next) this.nextRun.set({}, next.getTime() / 1000);
    else this.nextRun.clear();
    this.inProgress.set({}, saving ? 1 : 0);
  }

  /** Folds in what this node's directory holds: good copies, their size and the newest one's time. */
  catalog(entries: readonly CatalogEntry[]): void {
    const good = entries.filter((e) => e.status === "ok" && e.manifest);
    this.kept.set({ location: "local" }, good.length);
    this.keptBytes.set(
      { location: "local" },
      good.reduce((sum, e) => sum + e.size, 0),
    );
    const newest = Math.max(...good.map((e) => Date.parse(e.manifest!.createdAt)));
    if (Number.isFinite(newest)) {
      raise(this.lastSuccess, { location: "local" }, newest / 1000);
      raise(this.lastVerified, { location: "local" }, newest / 1000);
    }
  }

  /** The freshness watch's verdict for a location. */
  freshness(location: Location, f: { state: "fresh" | "stale" | "unwatched"; staleAfterMs: number | null }): void {
    if (f.staleAfterMs === null) {
      this.stale.clear({ location });
      this.staleAfter.clear();
      return;
    }
    this.stale.set({ location }, f.state === "stale" ? 1 : 0);
    this.staleAfter.set({}, f.staleAfterMs / 1000);
  }

  /**
   * What the run history holds: this agent's last verified upload (so the s3 last success survives a restart), the
   * last verified restore, and whether the last scheduled verify failed.
   */
  history(
    h: { lastUpload?: { at: string }; lastVerifiedRestore?: { finishedAt: string } },
    verifyFailed: boolean,
  ): void {
    if (h.lastUpload) raise(this.lastSuccess, { location: "s3" }, Date.parse(h.lastUpload.at) / 1000);
    if (h.lastVerifiedRestore) this.lastVerifiedRestore.set({}, Date.parse(h.lastVerifiedRestore.finishedAt) / 1000);
    this.verifyFailed.set({}, verifyFailed ? 1 : 0);
  }

  private succeeded(location: Location, at: Date): void {
    raise(this.lastSuccess, { location }, at.getTime() / 1000);
    raise(this.lastVerified, { location }, at.getTime() / 1000);
  }

  private failed(location: Location, at: Date): void {
    this.lastFailure.set({ location }, at.getTime() / 1000);
  }

  private collectAges(): void {
    const now = this.clock().getTime() / 1000;
    for (const location of ["local", "s3"] as const) {
      const last = this.lastSuccess.get({ location });
      if (last === undefined) this.sinceSuccess.clear({ location });
      else this.sinceSuccess.set({ location }, Math.max(0, Math.round(now - last)));
    }
  }
}

/** Sets a timestamp gauge unless it already holds a later time. */
function raise(gauge: Gauge, labels: Record<string, string>, value: number): void {
  const current = gauge.get(labels);
  if (current === undefined || value > current) gauge.set(labels, value);
}
