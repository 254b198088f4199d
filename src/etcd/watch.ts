/**
 * One Watch stream over the whole keyspace as an async iterable of revision groups and progress notifications: the
 * change feed that point-in-time recovery records between snapshots.
 *
 * Order: etcd sends events in revision order and, unless the watch asks for fragments (this one never does), never
 * splits a revision over two responses, so every group of a response is complete once the response is in. Each group
 * must be newer than the one before: anything else would be a replay or a reordering in the feed, and fails the watch
 * instead of passing silently.
 *
 * Lead-in: etcd 3.5 sends no progress at all to a watch that starts beyond its current revision until it gets there
 * (a watch from "the next revision" of an idle member would never hear of progress). So the watch starts one
 * revision early, and that revision's group is dropped here. Should exactly that revision be compacted, the watch is
 * created again from the revision asked for.
 *
 * Progress: etcd answers a WatchProgressRequest with its current revision. Before 3.4.25 and 3.5.8 it did so without
 * waiting for the events still on their way to this watch (etcd issue #15220): a watch catching up on history was
 * told of a revision it had not been sent yet. So no progress is passed on before the watch has reached the revision
 * the member had when the watch was created, none older than the newest group, and a group that arrives at or below
 * a progress already passed on fails the watch (the consumer restarts from its last group; nothing is lost).
 *
 * Backpressure: messages wait in a queue until the consumer asks for them; above PAUSE_ABOVE the call is paused, so
 * HTTP/2 flow control holds etcd back (which then keeps the rest in its own unsynced-watcher bookkeeping), and no
 * progress is requested while paused.
 */
import type { ClientDuplexStream } from "@grpc/grpc-js";
import { asBuffer } from "../util/chunks.js";
import { RemoteError } from "../util/errors.js";
import { toRemoteError } from "./grpc-errors.js";
import type { Event, WatchRequest, WatchResponse } from "./wire.js";

export interface WatchEvent {
  type: "put" | "delete";
  key: Buffer;
  /** Empty for a delete. */
  value: Buffer;
  /** 0 for a delete. */
  createRevision: number;
  /** The revision of the event (for a delete: the delete's revision). */
  modRevision: number;
  /** 0 for a delete. */
  version: number;
  /** The lease the key is attached to, decimal string, "0" for none (and for deletes). */
  lease: string;
}

/** Every event of one revision (one etcd transaction), in etcd's order. */
export interface RevisionGroup {
  revision: number;
  events: WatchEvent[];
}

export type WatchMessage =
  | { kind: "group"; group: RevisionGroup }
  /** etcd's progress notification: every event up to `revision` has been delivered. */
  | { kind: "progress"; revision: number };

/** The watch's start revision was compacted away: history before compactRevision is gone. */
export class WatchCompactedError extends Error {
  override name = "WatchCompactedError";
  constructor(
    readonly compactRevision: number,
    message = `history before revision ${compactRevision} was compacted`,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

export interface WatchOptions {
  /** The first revision to deliver (inclusive), at least 1. */
  startRevision: number;
  /** Ends the iteration (without an error) and cancels the call. */
  signal?: AbortSignal;
  /** Ask for a progress notification this often. */
  progressEveryMs?: number;
}

export type WatchCall = ClientDuplexStream<WatchRequest, WatchResponse>;

/** Unconsumed messages above which the call is paused, and at or below which it is resumed. */
const PAUSE_ABOVE = 1000;
const RESUME_AT = 500;

const DONE: IteratorReturnResult<undefined> = { done: true, value: undefined };

/**
 * The messages of a watch from `opts.startRevision` over every key. `open` starts the Watch call; it runs once per
 * iteration, when the iteration starts. A cancelled call whose member never answered is dropped after
 * `member.timeoutMs`. Throws RangeError at once for a start revision below 1 (etcd would read
 * that as "from now") or a progress interval that is not positive.
 */
export function watchMessages(
  open: () => Promise<WatchCall>,
  member: { endpoint: string; timeoutMs: number },
  opts: WatchOptions,
): AsyncIterable<WatchMessage> {
  if (!Number.isSafeInteger(opts.startRevision) || opts.startRevision < 1) {
    throw new RangeError(`watch start revision must be an integer of at least 1, got ${opts.startRevision}`);
  }
  if (opts.progressEveryMs !== undefined && !(opts.progressEveryMs > 0)) {
    throw new RangeError(`watch progress interval must be positive, got ${opts.progressEveryMs}`);
  }
  return { [Symbol.asyncIterator]: () => new WatchIterator(open, member.endpoint, opts, member.timeoutMs) };
}

interface Waiter {
  resolve(result: IteratorResult<WatchMessage>): void;
  reject(err: Error): void;
}

class WatchIterator implements AsyncIterator<WatchMessage> {
  private call: WatchCall | undefined;
  private readonly queue: WatchMessage[] = [];
  private readonly waiters: Waiter[] = [];
  /** Why the watch ended; thrown once the queue is drained. */
  private failure: Error | undefined;
  /** The call is cancelled (or about to be), the timer cleared: nothing that arrives matters any more. */
  private released = false;
  /** Nothing more is delivered, not even what is queued. */
  private closed = false;
  private paused = false;
  /** The member has sent its response headers: a cancel from now on reaches it. */
  private answered = false;
  /** The call has its final status: there is nothing left to cancel. */
  private callEnded = false;
  private timer: NodeJS.Timeout | undefined;
  /** The newest revision delivered in a group (one below the start before the first). */
  private lastGroup: number;
  /** The member's revision when the watch was created; progress is passed on once a group has reached it. */
  private createdAt: number | undefined;
  /** The newest revision passed on as progress. */
  private lastProgress = 0;
  /** The watch was created one revision early (see the file comment); its first group is not delivered. */
  private leadIn: boolean;
  /** Events of responses marked as fragments, waiting for the rest of their revision. */
  private fragments: Event[] = [];

  constructor(
    open: () => Promise<WatchCall>,
    private readonly endpoint: string,
    private readonly opts: WatchOptions,
    private readonly cancelWaitMs: number,
  ) {
    this.lastGroup = opts.startRevision - 1;
    this.leadIn = opts.startRevision > 1;
    if (opts.signal?.aborted) {
      this.released = this.closed = true;
      return;
    }
    opts.signal?.addEventListener("abort", this.onAbort, { once: true });
    void this.start(open);
  }

  next(): Promise<IteratorResult<WatchMessage>> {
    if (this.closed) return Promise.resolve(DONE);
    const msg = this.queue.shift();
    if (msg !== undefined) {
      this.resumeIfDrained();
      return Promise.resolve({ value: msg, done: false });
    }
    if (this.failure !== undefined) return Promise.reject(this.takeFailure());
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  /** Called by `break` (and by anything else that stops early): cancels the call and drops what is queued. */
  return(): Promise<IteratorResult<WatchMessage>> {
    this.close();
    return Promise.resolve(DONE);
  }

  private readonly onAbort = (): void => this.close();

  private async start(open: () => Promise<WatchCall>): Promise<void> {
    let call: WatchCall;
    try {
      call = await open();
    } catch (err) {
      return this.fail(toRemoteError(err, this.context()));
    }
    this.call = call;
    call.once("metadata", () => (this.answered = true));
    call.once("status", () => (this.callEnded = true));
    call.on("data", (res: WatchResponse) => this.onResponse(res));
    call.on("error", (err) => this.fail(toRemoteError(err, this.context())));
    call.on("end", () => this.fail(new RemoteError(`etcd member ${this.endpoint}: watch stream ended`, true)));
    this.create(call, this.leadIn ? this.opts.startRevision - 1 : this.opts.startRevision);
    if (this.released) this.cancelCall(call);
  }

  private create(call: WatchCall, from: number): void {
    const all = Buffer.from([0]);
    call.write({ create_request: { key: all, range_end: all, start_revision: String(from) } });
  }

  private onResponse(res: WatchResponse): void {
    if (this.released) return;
    try {
      this.handle(res);
    } catch (err) {
      this.fail(toRemoteError(err, this.context()));
    }
  }

  private handle(res: WatchResponse): void {
    const revision = Number(res.header?.revision ?? 0);
    const compacted = Number(res.compact_revision);
    if (compacted > 0 && this.leadIn && compacted <= this.opts.startRevision && this.call) {
      this.leadIn = false;
      return this.create(this.call, this.opts.startRevision);
    }
    if (compacted > 0) return this.fail(this.compactedError(compacted));
    if (res.canceled) {
      const why = res.cancel_reason || "no reason given";
      return this.fail(new RemoteError(`etcd member ${this.endpoint}: watch cancelled by the member: ${why}`, false));
    }
    if (res.created) return this.onCreated(revision);
    if (res.events.length > 0 || this.fragments.length > 0) return this.onEvents(res.events, res.fragment);
    this.onProgress(revision);
  }

  private onCreated(revision: number): void {
    this.createdAt = revision;
    const every = this.opts.progressEveryMs;
    if (every !== undefined && this.timer === undefined) this.timer = setInterval(() => this.requestProgress(), every);
  }

  private onEvents(events: Event[], fragment: boolean): void {
    this.fragments.push(...events);
    if (fragment) return;
    const all = this.fragments;
    this.fragments = [];
    for (const group of groupsOf(all)) {
      if (group.revision < this.opts.startRevision) continue; // the lead-in
      if (group.revision <= this.lastGroup) {
        throw new Error(`watch sent revision ${group.revision} after revision ${this.lastGroup}`);
      }
      if (group.revision <= this.lastProgress) {
        throw new RemoteError(
          `etcd member ${this.endpoint}: watch sent revision ${group.revision} after reporting progress to revision ` +
            `${this.lastProgress} (etcd before 3.4.25 and 3.5.8 can report progress early); restart the watch`,
          true,
        );
      }
      this.lastGroup = group.revision;
      this.deliver({ kind: "group", group });
    }
  }

  /** See the file comment: only a progress that cannot be ahead of events still to come is passed on. */
  private onProgress(revision: number): void {
    const caughtUp = this.createdAt !== undefined && (this.createdAt <= 1 || this.lastGroup >= this.createdAt);
    if (!caughtUp || revision < this.lastGroup) return;
    this.lastProgress = Math.max(this.lastProgress, revision);
    this.deliver({ kind: "progress", revision });
  }

  private requestProgress(): void {
    if (this.released || this.paused) return;
    this.call?.write({ progress_request: {} });
  }

  private deliver(msg: WatchMessage): void {
    const waiter = this.waiters.shift();
    if (waiter) return waiter.resolve({ value: msg, done: false });
    this.queue.push(msg);
    if (!this.paused && this.queue.length > PAUSE_ABOVE) {
      this.paused = true;
      this.call?.pause();
    }
  }

  private resumeIfDrained(): void {
    if (!this.paused || this.queue.length > RESUME_AT) return;
    this.paused = false;
    this.call?.resume();
  }

  /** Ends the watch with `err`, thrown after what is already queued. Later failures (and cancellation's) are moot. */
  private fail(err: Error): void {
    if (this.released) return;
    this.failure = err;
    this.release();
    const [first, ...rest] = this.waiters.splice(0);
    if (first) first.reject(this.takeFailure());
    for (const w of rest) w.resolve(DONE);
  }

  private takeFailure(): Error {
    const err = this.failure ?? new Error("watch failed");
    this.failure = undefined;
    this.closed = true;
    return err;
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    this.queue.length = 0;
    this.release();
    for (const w of this.waiters.splice(0)) w.resolve(DONE);
  }

  private release(): void {
    if (this.released) return;
    this.released = true;
    clearInterval(this.timer);
    this.timer = undefined;
    this.opts.signal?.removeEventListener("abort", this.onAbort);
    if (this.call) this.cancelCall(this.call);
  }

  /**
   * A cancel issued before the member has answered is lost in grpc-js: the member keeps the stream (a watch stream
   * per early abort, seen in its etcd_debugging_mvcc_watch_stream_total) until the connection closes. etcd answers
   * the create request at once, so the cancel waits for that answer, or at most `cancelWaitMs` for a member that
   * does not answer at all.
   */
  private cancelCall(call: WatchCall): void {
    if (this.callEnded) return;
    if (this.answered) return call.cancel();
    call.resume();
    const fallback = setTimeout(() => call.cancel(), this.cancelWaitMs);
    call.once("metadata", () => call.cancel());
    call.once("status", () => clearTimeout(fallback));
  }

  private compactedError(compactRevision: number): WatchCompactedError {
    const { endpoint, opts } = this;
    return new WatchCompactedError(
      compactRevision,
      `etcd member ${endpoint}: watch from revision ${opts.startRevision} failed: ` +
        `history before revision ${compactRevision} was compacted`,
    );
  }

  private context() {
    return { endpoint: this.endpoint, what: "watch" };
  }
}

/** Consecutive events of one revision form one group. */
function groupsOf(events: Event[]): RevisionGroup[] {
  const groups: RevisionGroup[] = [];
  for (const e of events) {
    const event = toWatchEvent(e);
    const last = groups.at(-1);
    if (last?.revision === event.modRevision) last.events.push(event);
    else groups.push({ revision: event.modRevision, events: [event] });
  }
  return groups;
}

/** A delete's kv carries only the key and the delete's revision; the rest is zeroed here, whatever etcd sends. */
function toWatchEvent(e: Event): WatchEvent {
  const kv = e.kv;
  if (kv === null) throw new Error("watch sent an event without a key");
  const modRevision = Number(kv.mod_revision);
  if (e.type === "Delete") {
    return {
      type: "delete",
      key: asBuffer(kv.key),
      value: Buffer.alloc(0),
      createRevision: 0,
      modRevision,
      version: 0,
      lease: "0",
    };
  }
  return {
    type: "put",
    key: asBuffer(kv.key),
    value: asBuffer(kv.value),
    createRevision: Number(kv.create_revision),
    modRevision,
    version: Number(kv.version),
    lease: kv.lease,
  };
}
