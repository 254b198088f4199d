/**
 * The revision log's metrics (src/pitr/writer.ts), in the agent's registry: whether this agent writes the log, how
 * far the log has got, its breaks and what it costs in S3 requests. The recovery point to alert on is
 * `time() - max(lifeboat_log_last_segment_timestamp_seconds)` over the cluster's agents.
 */
import type { BreakReason, SegmentManifest } from "../pitr/format.js";
import type { LogMetrics as WriterMetrics } from "../pitr/writer.js";
import type { Registry } from "./metrics.js";

export class LogMetrics implements WriterMetrics {
  private readonly writing;
  private readonly lastRevision;
  private readonly lastSegment;
  private readonly segments;
  private readonly failures;
  private readonly chains;
  private readonly s3Requests;

  constructor(registry: Registry) {
    this.writing = registry.gauge("lifeboat_log_writer", "1 while this agent writes the revision log, else 0.");
    this.lastRevision = registry.gauge(
      "lifeboat_log_last_revision",
      "The last revision this agent committed to the revision log.",
    );
    this.lastSegment = registry.gauge(
      "lifeboat_log_last_segment_timestamp_seconds",
      "When the newest revision of the last segment this agent committed was observed: the recovery point.",
    );
    this.segments = registry.counter("lifeboat_log_segments_total", "Segments this agent committed to S3.");
    this.failures = registry.counter(
      "lifeboat_log_segment_failures_total",
      "Segment commits that failed (the revisions stay pending for the next interval).",
    );
    this.chains = registry.counter(
      "lifeboat_log_chains_started_total",
      "Chains this agent started, by reason (first, new-cluster, compacted: a break with a gap).",
    );
    this.s3Requests = registry.counter("lifeboat_log_s3_requests_total", "S3 requests the revision log made.");
  }

  writer(on: boolean): void {
    this.writing.set({}, on ? 1 : 0);
  }

  segment(m: SegmentManifest): void {
    this.segments.inc();
    this.lastRevision.set({}, m.last);
    this.lastSegment.set({}, Date.parse(m.lastAt) / 1000);
  }

  segmentFailed(): void {
    this.failures.inc();
  }

  chainStarted(reason: BreakReason): void {
    this.chains.inc({ reason });
  }

  requests(n: number): void {
    this.s3Requests.inc({}, n);
  }
}
