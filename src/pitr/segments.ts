/**
 * Writing one chain's segments (docs/design.md, "Continuous revision log"): the revisions the watch delivered wait
 * in memory until the next flush (every interval, or early at the size bound); a flush puts the segment file, then
 * its manifest (the commit point, L1), then the head. Nothing here decides who writes: the caller (writer.ts) is the
 * elected writer and asks `stillLeading` before each commit.
 */
import { Readable } from "node:stream";
import { createHash } from "node:crypto";
import { encryptStream, recipientFingerprint } from "../crypto/age.js";
import type { Store } from "../store/store.js";
import {
  encodeSegment,
  headKey,
  LOG_FORMAT_VERSION,
  segmentFile,
  segmentFileKey,
  segmentManifestKey,
  type HeadDoc,
  type LoggedRevision,
  type SegmentManifest,
} from "./format.js";

/** Bytes a revision takes in memory, roughly: its keys and values and a fixed overhead per event. */
export function sizeOf(r: LoggedRevision): number {
  return r.group.events.reduce((n, e) => n + e.key.length + e.value.length + 96, 64);
}

export interface SegmentSink {
  store: Store;
  chain: string;
  node: string;
  recipients?: readonly string[] | undefined;
  clock: () => Date;
  /** Called before each commit: false (or a throw) means another agent may be writing, so nothing is committed. */
  stillLeading(): Promise<boolean>;
  /** Counts every S3 request the log makes (for the metrics). */
  requests(n: number): void;
}

export class NotLeading extends Error {
  override name = "NotLeading";
}

/** The pending revisions of one chain and what was committed so far. */
export class SegmentBuffer {
  private pending: LoggedRevision[] = [];
  private bytes = 0;
  /** The last revision committed (`start - 1` before the first segment). */
  committed: number;
  lastCommit: SegmentManifest | undefined;

  constructor(
    private readonly sink: SegmentSink,
    committed: number,
  ) {
    this.committed = committed;
  }

  get pendingBytes(): number {
    return this.bytes;
  }

  get pendingRevisions(): number {
    return this.pending.length;
  }

  add(r: LoggedRevision): void {
    const expected = this.committed + this.pending.length + 1;
    if (r.group.revision !== expected) {
      throw new Error(`the watch delivered revision ${r.group.revision}, expected ${expected}`);
    }
    this.pending.push(r);
    this.bytes += sizeOf(r);
  }

  /**
   * Commits what is pending as one segment (nothing when nothing is). A failed put leaves everything pending for the
   * next flush; a manifest is written only after its file was put and verified.
   */
  async flush(): Promise<SegmentManifest | undefined> {
    const batch = this.pending.slice();
    if (!batch.length) return undefined;
    const first = batch[0]!.group.revision;
    const last = batch[batch.length - 1]!.group.revision;
    const body = encodeSegment(batch);
    const stored = await this.seal(body);
    const file = segmentFile(first, last, stored.encrypted);
    if (!(await this.sink.stillLeading())) throw new NotLeading("this agent no longer holds the log's lease");
    await this.sink.store.put(segmentFileKey(this.sink.chain, file), stored.bytes, { size: stored.bytes.length });
    const manifest: SegmentManifest = {
      formatVersion: LOG_FORMAT_VERSION,
      kind: "lifeboat-log-segment",
      chain: this.sink.chain,
      first,
      last,
      previous: first - 1,
      firstAt: batch[0]!.at,
      lastAt: batch[batch.length - 1]!.at,
      revisions: batch.length,
      events: batch.reduce((n, r) => n + r.group.events.length, 0),
      file,
      size: stored.bytes.length,
      sha256: createHash("sha256").update(stored.bytes).digest("hex"),
      encryption: stored.encrypted
        ? { format: "age", recipients: (this.sink.recipients ?? []).map(recipientFingerprint) }
        : null,
      writer: this.sink.node,
      writtenAt: this.sink.clock().toISOString(),
    };
    await this.sink.store.put(
      segmentManifestKey(this.sink.chain, first, last),
      Buffer.from(JSON.stringify(manifest, null, 2) + "\n"),
    );
    this.sink.requests(2);
    this.pending = this.pending.slice(batch.length);
    this.bytes = this.pending.reduce((n, r) => n + sizeOf(r), 0);
    this.committed = last;
    this.lastCommit = manifest;
    return manifest;
  }

  /** Rewrites head.json: at `confirmedAt` the member had nothing after the last committed revision. */
  async writeHead(confirmedAt: Date): Promise<void> {
    const head: HeadDoc = {
      formatVersion: LOG_FORMAT_VERSION,
      chain: this.sink.chain,
      last: this.committed,
      confirmedAt: confirmedAt.toISOString(),
      writer: this.sink.node,
    };
    await this.sink.store.put(headKey(this.sink.chain), Buffer.from(JSON.stringify(head) + "\n"));
    this.sink.requests(1);
  }

  private async seal(body: Buffer): Promise<{ bytes: Buffer; encrypted: boolean }> {
    const recipients = this.sink.recipients;
    if (!recipients?.length) return { bytes: body, encrypted: false };
    const cipher = await encryptStream(Readable.from([body]), recipients);
    const chunks: Buffer[] = [];
    for await (const chunk of cipher.stream as AsyncIterable<Buffer>) chunks.push(chunk);
    return { bytes: Buffer.concat(chunks), encrypted: true };
  }
}
