/** What a benchmark run records: the JSON written to bench/results/<date>.json, and the rows of its table. */
import { ratioOf, summarize, type Summary } from "./stats.js";
import type { RpoResult } from "../cases/rpo.js";
import type { RtoResult } from "../cases/rto.js";

/** One measured run of one process. */
export interface Sample {
  wallMs: number;
  /** Peak RSS of the process itself, bytes. */
  peakRss: number;
  /** Peak RSS of the agent during the run, bytes (Lifeboat saves only). */
  agentRss?: number;
  /** CPU time the agent used during the run, ms (all its threads: zlib runs in libuv's pool). */
  agentCpuMs?: number;
  /** The agent's RSS just before the run, bytes: what the peak adds to. */
  agentStartRss?: number;
  /** How long the member was busy streaming (first to last byte, as the agent measured it), ms (Lifeboat saves). */
  memberMs?: number;
  /** Bytes produced (archive, snapshot file), when it matters. */
  bytes?: number;
}

/** A run of the warm-up plus the measured runs of one subject. */
export interface Series {
  label: string;
  warmup: Sample;
  runs: Sample[];
}

export type Metric = "wallMs" | "peakRss" | "agentRss" | "agentCpuMs" | "agentStartRss";

/** A ratio to hold (subject/baseline <= max), or an absolute ceiling for a figure. */
export interface Target {
  max: number;
  text: string;
}

export interface Row {
  case: string;
  what: string;
  metric: Metric;
  subject: { label: string; summary: Summary };
  baseline?: { label: string; summary: Summary };
  ratio?: { ratio: number; pairedMin: number; pairedMax: number };
  target?: Target;
  /** met / missed against the target; "report" when the issue only asks for the figure. */
  verdict: "met" | "missed" | "report";
  note?: string;
}

export function metricOf(series: Series, metric: Metric): Summary {
  return summarize(series.runs.map((r) => r[metric] ?? Number.NaN));
}

/** A row comparing `subject` with `baseline` on `metric`, judged against a ratio target when given. */
export function compareRow(
  c: string,
  what: string,
  metric: Metric,
  subject: Series,
  baseline: Series,
  target?: Target,
  note?: string,
): Row {
  const s = metricOf(subject, metric);
  const b = metricOf(baseline, metric);
  const ratio = ratioOf(s, b);
  return {
    case: c,
    what,
    metric,
    subject: { label: subject.label, summary: s },
    baseline: { label: baseline.label, summary: b },
    ratio,
    ...(target ? { target } : {}),
    verdict: target ? (ratio.ratio <= target.max ? "met" : "missed") : "report",
    ...(note ? { note } : {}),
  };
}

/** A row of one figure, judged against an absolute ceiling when given. */
export function figureRow(
  c: string,
  what: string,
  metric: Metric,
  subject: Series,
  target?: Target,
  note?: string,
): Row {
  const s = metricOf(subject, metric);
  return {
    case: c,
    what,
    metric,
    subject: { label: subject.label, summary: s },
    ...(target ? { target } : {}),
    verdict: target ? (s.max <= target.max ? "met" : "missed") : "report",
    ...(note ? { note } : {}),
  };
}

/** Sums two series run by run (RKE's pipeline: etcdctl, then zip of its file). */
export function sequence(label: string, first: Series, second: Series): Series {
  const add = (a: Sample, b: Sample): Sample => ({
    wallMs: a.wallMs + b.wallMs,
    peakRss: Math.max(a.peakRss, b.peakRss),
    ...(b.bytes === undefined ? {} : { bytes: b.bytes }),
  });
  return { label, warmup: add(first.warmup, second.warmup), runs: first.runs.map((r, i) => add(r, second.runs[i]!)) };
}

export interface CompressionRow {
  method: "store" | "deflate";
  level?: number;
  /** Deflate threads (1: zlib's single stream). */
  threads?: number;
  inputBytes: number;
  outputBytes: number;
  ratio: number;
  wall: Summary;
  /** Input MiB per second at the median wall time (whole process, archive writer over the snapshot file). */
  mibPerSecond: number;
  peakRss: Summary;
}

export interface BenchResult {
  date: string;
  command: string;
  machine: Record<string, string | number>;
  options: { size: number; runs: number; cases: string[]; memoryAt: number[] };
  fill?: { keys: number; valueBytes: number; incompressibleBytes: number; dbSize: number; durationMs: number };
  dbSize: number;
  rows: Row[];
  compression: CompressionRow[];
  series: Record<string, Series>;
  notes: string[];
  /** The revision log's recovery point (bench/cases/rpo.ts), when that case ran. */
  rpo?: RpoResult;
  /** The recovery time from S3 (bench/cases/rto.ts), when that case ran. */
  rto?: RtoResult;
  durationMs: number;
}
