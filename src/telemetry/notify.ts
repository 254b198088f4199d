/**
 * Webhook notifications: one JSON event per failed snapshot, failed upload or failed prune (and per success when
 * `onSuccess`). Events wait in a bounded in-memory queue and are posted by one background worker, retried with
 * exponential backoff, so a slow or dead receiver never delays or fails a snapshot. When the queue is full the
 * oldest event is dropped (and logged): a burst of failures must not grow memory without bound.
 *
 * The webhook URL may hold a token (Slack, Teams): it is never logged, only its origin.
 */
import { describeError } from "../util/errors.js";
import type { Logger } from "../util/log.js";
import { registerSecret } from "../util/redact.js";
import { z } from "zod";

/** Where failure (and optionally success) events go. */
export const NotifySettings = z.object({
  webhookUrl: z.url({ protocol: /^https?$/ }),
  headers: z.record(z.string(), z.string()).default({}),
  onSuccess: z.boolean().default(false),
});
export type NotifySettings = z.infer<typeof NotifySettings>;

export type NotifyEventType =
  | "snapshot.failed"
  | "snapshot.succeeded"
  | "upload.failed"
  | "prune.failed"
  /** The node's newest good snapshot became older than stale_after (once), and later was not any more (once). */
  | "location.stale"
  | "location.recovered"
  /** A scheduled verify (src/schedule/verify.ts) found the newest snapshot unrestorable, or (with onSuccess) did not. */
  | "verify.failed"
  | "verify.succeeded";

/** The JSON body posted to the webhook. */
export interface NotifyEvent {
  type: NotifyEventType;
  time: string;
  node: string;
  /** The snapshot; for location events, the newest good one (absent when there is none). */
  name?: string;
  /** Absent on location events. */
  kind?: "one-time" | "recurring";
  /** Where the failure happened: this node's directory or S3. */
  location?: "local" | "s3";
  reason?: string;
  size?: number;
  revision?: number;
  clusterId?: string;
  catchUp?: boolean;
  /** Location events: the threshold and the newest good copy's creation time. */
  staleAfterMs?: number | null;
  newestGood?: string | null;
}

export type Delivery = "delivered" | "failed" | "dropped";

/** Posts `body` and resolves with the HTTP status; rejects on a network error or timeout. */
export type PostFn = (
  url: string,
  headers: Record<string, string>,
  body: string,
  signal: AbortSignal,
) => Promise<number>;

export interface NotifierOptions {
  /** Read when an event is queued and again when it is posted, so a new push takes effect at once. */
  settings: () => NotifySettings | undefined;
  log: Logger;
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  post?: PostFn;
  /** Events kept waiting at most (default 100). */
  maxQueue?: number;
  /** Tries per event (default 6: about a minute of backoff in total). */
  attempts?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Per request (default 10 s). */
  timeoutMs?: number;
  onResult?: (result: Delivery, event: NotifyEvent) => void;
}

export class Notifier {
  private readonly queue: NotifyEvent[] = [];
  private worker: Promise<void> | undefined;
  private readonly closing = new AbortController();

  constructor(private readonly options: NotifierOptions) {}

  /** Queues `event` if notifications are configured (and success events are wanted); never blocks, never throws. */
  notify(event: NotifyEvent): void {
    const settings = this.options.settings();
    if (!settings || this.closing.signal.aborted) return;
    if (event.type.endsWith(".succeeded") && !settings.onSuccess) return;
    for (const value of Object.values(settings.headers)) registerSecret(value);
    this.queue.push(event);
    if (this.queue.length > (this.options.maxQueue ?? 100)) {
      const dropped = this.queue.shift();
      if (dropped) this.finish("dropped", dropped, "the notification queue is full");
    }
    this.worker ??= this.work().finally(() => (this.worker = undefined));
  }

  /** Resolves once every queued event was delivered or given up. */
  async drain(): Promise<void> {
    while (this.worker) await this.worker;
  }

  /** Stops retrying and drops what is still queued; resolves when the worker has ended. */
  async close(): Promise<void> {
    this.closing.abort(new Error("the agent is stopping"));
    await this.drain();
  }

  private async work(): Promise<void> {
    for (let event = this.queue.shift(); event; event = this.queue.shift()) {
      if (this.closing.signal.aborted) {
        this.finish("dropped", event, "the agent is stopping");
        continue;
      }
      await this.deliver(event);
    }
  }

  private async deliver(event: NotifyEvent): Promise<void> {
    const attempts = this.options.attempts ?? 6;
    let last = "";
    for (let attempt = 1; attempt <= attempts; attempt++) {
      const settings = this.options.settings();
      if (!settings) return this.finish("dropped", event, "notifications were turned off");
      const outcome = await this.postOnce(settings, event);
      if (outcome === "ok") return this.finish("delivered", event);
      last = outcome.reason;
      if (!outcome.retry || attempt === attempts || this.closing.signal.aborted) break;
      const delay = Math.min(
        (this.options.baseDelayMs ?? 1000) * 2 ** (attempt - 1),
        this.options.maxDelayMs ?? 30_000,
      );
      await this.sleep(delay);
    }
    this.finish("failed", event, last);
  }

  private async postOnce(
    settings: NotifySettings,
    event: NotifyEvent,
  ): Promise<"ok" | { retry: boolean; reason: string }> {
    const signal = AbortSignal.any([this.closing.signal, AbortSignal.timeout(this.options.timeoutMs ?? 10_000)]);
    const headers = { ...settings.headers, "content-type": "application/json" };
    try {
      const status = await (this.options.post ?? fetchPost)(
        settings.webhookUrl,
        headers,
        JSON.stringify(event),
        signal,
      );
      if (status >= 200 && status < 300) return "ok";
      return { retry: status >= 500 || status === 408 || status === 429, reason: `HTTP ${status}` };
    } catch (err) {
      return { retry: true, reason: describeError(err).replaceAll(settings.webhookUrl, originOf(settings.webhookUrl)) };
    }
  }

  private async sleep(ms: number): Promise<void> {
    const sleep = this.options.sleep ?? abortableSleep;
    await sleep(ms, this.closing.signal).catch(() => undefined);
  }

  private finish(result: Delivery, event: NotifyEvent, reason?: string): void {
    const settings = this.options.settings();
    const fields = { type: event.type, name: event.name, webhook: settings ? originOf(settings.webhookUrl) : null };
    if (result === "delivered") this.options.log.debug("notification delivered", fields);
    else this.options.log.warn(`notification ${result}`, { ...fields, reason });
    this.options.onResult?.(result, event);
  }
}

function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return "(invalid URL)";
  }
}

const fetchPost: PostFn = async (url, headers, body, signal) => {
  const res = await fetch(url, { method: "POST", headers, body, signal, redirect: "error" });
  await res.body?.cancel();
  return res.status;
};

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason as Error);
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason as Error);
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
