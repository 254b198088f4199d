/**
 * The revision log's format (docs/design.md, "Continuous revision log"): the S3 layout under `.lifeboat-log/`, the
 * chain, segment manifest and head documents, and the segment file (gzip of one JSON line per revision). One schema
 * per document; everything read from S3 passes it before it is used.
 */
import { gunzipSync, gzipSync } from "node:zlib";
import { z } from "zod";
import type { RevisionGroup, WatchEvent } from "../etcd/watch.js";

export const LOG_FORMAT_VERSION = 1;
/** The log's folder inside the S3 folder; the dot keeps it out of RKE's and Lifeboat's snapshot listings. */
export const LOG_PREFIX = ".lifeboat-log/";
export const SEGMENT_SUFFIX = ".seg.gz";

const revision = z.number().int().positive();
const instant = z.iso.datetime({ offset: true });
const hex64 = z.string().regex(/^[0-9a-f]{64}$/, "a sha256 in lowercase hex");
/** A chain's folder name: `<clusterId>-<start, 16 digits>`. */
const chainId = z.string().regex(/^[0-9a-f]{1,16}-[0-9]{16}$/, "a chain ID <clusterId>-<start>");
const decimalId = z.string().regex(/^[0-9]{1,20}$/, "a decimal lease ID");

export const BreakReason = z.enum(["first", "new-cluster", "compacted"]);
export type BreakReason = z.infer<typeof BreakReason>;

export const ChainDoc = z.object({
  formatVersion: z.literal(LOG_FORMAT_VERSION),
  kind: z.literal("lifeboat-log-chain"),
  chain: chainId,
  clusterId: z.string().regex(/^[0-9a-f]{1,16}$/),
  start: revision,
  startedAt: instant,
  reason: BreakReason,
  /** The full snapshot taken when the chain began: `revision` is its manifest's etcd.revision (start - 1). */
  base: z.object({ name: z.string().min(1), revision: z.number().int().nonnegative() }),
  /** For a `compacted` break: the chain before it and the last revision it reached (the gap follows it). */
  previous: z.object({ chain: chainId, last: z.number().int().nonnegative() }).nullable(),
  writer: z.string().min(1),
});
export type ChainDoc = z.infer<typeof ChainDoc>;

export const SegmentManifest = z
  .object({
    formatVersion: z.literal(LOG_FORMAT_VERSION),
    kind: z.literal("lifeboat-log-segment"),
    chain: chainId,
    first: revision,
    last: revision,
    /** The last revision of the segment before this one (`start - 1` for a chain's first segment). */
    previous: z.number().int().nonnegative(),
    firstAt: instant,
    lastAt: instant,
    revisions: z.number().int().positive(),
    events: z.number().int().positive(),
    file: z.string().min(1),
    size: z.number().int().positive(),
    sha256: hex64,
    encryption: z
      .object({ format: z.literal("age"), recipients: z.array(z.string().regex(/^sha256:[0-9a-f]{16}$/)).min(1) })
      .nullable(),
    writer: z.string().min(1),
    writtenAt: instant,
  })
  .refine((m) => m.first <= m.last && m.previous === m.first - 1, "first, last and previous must be consecutive")
  .refine((m) => m.revisions === m.last - m.first + 1, "a segment holds every revision from first to last")
  .refine((m) => m.file === segmentFile(m.first, m.last, m.encryption !== null), "file must be the segment's name");
export type SegmentManifest = z.infer<typeof SegmentManifest>;

export const HeadDoc = z.object({
  formatVersion: z.literal(LOG_FORMAT_VERSION),
  chain: chainId,
  last: z.number().int().nonnegative(),
  confirmedAt: instant,
  writer: z.string().min(1),
});
export type HeadDoc = z.infer<typeof HeadDoc>;

/**
 * `pruned.json`: retention removed the chain's segments up to `through` (every one with `last <= through`), the
 * revision of the chain's oldest kept base. Written before the first of them is removed, so that a reader tells a
 * pruned beginning from a gap.
 */
export const PrunedDoc = z.object({
  formatVersion: z.literal(LOG_FORMAT_VERSION),
  chain: chainId,
  through: z.number().int().nonnegative(),
  /** When that base was taken: the window's start in time. */
  throughAt: instant,
  at: instant,
});
export type PrunedDoc = z.infer<typeof PrunedDoc>;

const LineEvent = z.discriminatedUnion("type", [
  z.object({
    type: z.literal("put"),
    key: z.base64(),
    value: z.base64(),
    create: revision,
    mod: revision,
    version: z.number().int().positive(),
    lease: decimalId,
  }),
  z.object({ type: z.literal("delete"), key: z.base64(), mod: revision }),
]);

export const SegmentLine = z.object({
  rev: revision,
  at: instant,
  events: z.array(LineEvent).min(1),
  leases: z.record(decimalId, z.number().int()).optional(),
});
export type SegmentLine = z.infer<typeof SegmentLine>;

/** One revision as the log keeps it: the watch's group, when the writer saw it, and its leases' granted TTLs. */
export interface LoggedRevision {
  group: RevisionGroup;
  at: string;
  leases?: Record<string, number>;
}

function pad(n: number): string {
  return String(n).padStart(16, "0");
}

export function chainName(clusterId: string, start: number): string {
  return `${clusterId}-${pad(start)}`;
}

export function chainKey(chain: string): string {
  return `${LOG_PREFIX}${chain}/chain.json`;
}

export function prunedKey(chain: string): string {
  return `${LOG_PREFIX}${chain}/pruned.json`;
}

export function headKey(chain: string): string {
  return `${LOG_PREFIX}${chain}/head.json`;
}

export function segmentFile(first: number, last: number, encrypted: boolean): string {
  return `${pad(first)}-${pad(last)}${SEGMENT_SUFFIX}${encrypted ? ".age" : ""}`;
}

export function segmentFileKey(chain: string, file: string): string {
  return `${LOG_PREFIX}${chain}/${file}`;
}

export function segmentManifestKey(chain: string, first: number, last: number): string {
  return `${LOG_PREFIX}${chain}/${pad(first)}-${pad(last)}.json`;
}

/** What a key under LOG_PREFIX is: `{chain, what}` or undefined for anything Lifeboat does not write there. */
export function classifyLogKey(
  key: string,
):
  | { chain: string; what: "chain" | "head" | "pruned" }
  | { chain: string; what: "manifest" | "file"; first: number; last: number }
  | undefined {
  if (!key.startsWith(LOG_PREFIX)) return undefined;
  const rest = key.slice(LOG_PREFIX.length).split("/");
  const [chain, leaf] = rest;
  if (rest.length !== 2 || !chain || !leaf || !chainId.safeParse(chain).success) return undefined;
  if (leaf === "chain.json") return { chain, what: "chain" };
  if (leaf === "head.json") return { chain, what: "head" };
  if (leaf === "pruned.json") return { chain, what: "pruned" };
  const m = /^([0-9]{16})-([0-9]{16})(\.json|\.seg\.gz|\.seg\.gz\.age)$/.exec(leaf);
  if (!m) return undefined;
  const what = m[3] === ".json" ? "manifest" : "file";
  return { chain, what, first: Number(m[1]), last: Number(m[2]) };
}

/** The segment file's bytes: gzip of one line per revision. */
export function encodeSegment(revisions: readonly LoggedRevision[]): Buffer {
  const lines = revisions.map((r) => JSON.stringify(toLine(r)));
  return gzipSync(Buffer.from(lines.join("\n") + "\n", "utf8"), { level: 6 });
}

function toLine(r: LoggedRevision): SegmentLine {
  const events = r.group.events.map((e): SegmentLine["events"][number] =>
    e.type === "put"
      ? {
          type: "put",
          key: e.key.toString("base64"),
          value: e.value.toString("base64"),
          create: e.createRevision,
          mod: e.modRevision,
          version: e.version,
          lease: e.lease,
        }
      : { type: "delete", key: e.key.toString("base64"), mod: e.modRevision },
  );
  return { rev: r.group.revision, at: r.at, events, ...(r.leases ? { leases: r.leases } : {}) };
}

/**
 * Parses a segment file (already checked against its manifest's size and sha256): every line passes the schema, and
 * the lines are exactly the revisions `first … last` of the manifest, in order, each event at its line's revision.
 */
export function decodeSegment(bytes: Buffer, manifest: Pick<SegmentManifest, "first" | "last" | "file">) {
  const text = gunzipSync(bytes, { maxOutputLength: 1 << 30 }).toString("utf8");
  const lines = text.split("\n").filter((l) => l.length > 0);
  const out: LoggedRevision[] = [];
  let expected = manifest.first;
  for (const [i, raw] of lines.entries()) {
    const where = `segment ${manifest.file} line ${i + 1}`;
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch {
      throw new SegmentFormatError(`${where} is not JSON`);
    }
    const parsed = SegmentLine.safeParse(json);
    if (!parsed.success) throw new SegmentFormatError(`${where}: ${parsed.error.issues[0]?.message ?? "invalid"}`);
    const line = parsed.data;
    if (line.rev !== expected)
      throw new SegmentFormatError(`${where} holds revision ${line.rev}, expected ${expected}`);
    if (line.events.some((e) => e.mod !== line.rev))
      throw new SegmentFormatError(`${where}: an event's mod revision differs from its line's ${line.rev}`);
    out.push(fromLine(line));
    expected++;
  }
  if (expected !== manifest.last + 1)
    throw new SegmentFormatError(`segment ${manifest.file} ends at revision ${expected - 1}, not ${manifest.last}`);
  return out;
}

function fromLine(line: SegmentLine): LoggedRevision {
  const events = line.events.map((e): WatchEvent =>
    e.type === "put"
      ? {
          type: "put",
          key: Buffer.from(e.key, "base64"),
          value: Buffer.from(e.value, "base64"),
          createRevision: e.create,
          modRevision: e.mod,
          version: e.version,
          lease: e.lease,
        }
      : {
          type: "delete",
          key: Buffer.from(e.key, "base64"),
          value: Buffer.alloc(0),
          createRevision: 0,
          modRevision: e.mod,
          version: 0,
          lease: "0",
        },
  );
  return { group: { revision: line.rev, events }, at: line.at, ...(line.leases ? { leases: line.leases } : {}) };
}

export class SegmentFormatError extends Error {
  override name = "SegmentFormatError";
}

/**
 * The reader's rule (L2): from `start - 1`, the segment whose `previous` is the revision reached, the one reaching
 * furthest when two have the same. Returns the path taken and the segments it could not reach.
 */
export function followChain<S extends { previous: number; first: number; last: number }>(
  start: number,
  segments: readonly S[],
) {
  const byPrevious = new Map<number, S>();
  for (const s of segments) {
    const other = byPrevious.get(s.previous);
    if (!other || s.last > other.last) byPrevious.set(s.previous, s);
  }
  const path: S[] = [];
  let reached = start - 1;
  for (let next = byPrevious.get(reached); next; next = byPrevious.get(reached)) {
    path.push(next);
    reached = next.last;
  }
  const unreachable = segments.filter((s) => s.first > reached);
  return { path, reached, unreachable };
}
