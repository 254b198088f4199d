/**
 * The agent's watch over its own node's freshness (src/schedule/freshness.ts has the rule): it sets the stale
 * metric, and posts one webhook event when the node becomes stale and one when it recovers. The threshold and whether
 * the node was last reported stale are kept in `freshness.json` beside schedule.json, so a restart neither repeats
 * an event nor misses a recovery, and removing the schedule (`services.etcd.snapshot: false`) does not silence the
 * watch: a node whose backups were switched off goes stale like any other (`stale_after: off` ends the watch).
 *
 * The node is checked after every save, on every push, status and scrape, at the instant it would go stale, and at
 * least once a minute (a deleted copy, a wall-clock jump).
 */
import { join } from "node:path";
import { z } from "zod";
import { readJsonFile } from "../config/json-file.js";
import type { AgentMetrics } from "../telemetry/agent-metrics.js";
import type { Notifier } from "../telemetry/notify.js";
import { describeError } from "../util/errors.js";
import { formatDuration } from "../util/duration.js";
import { writeFileAtomic } from "../util/fs.js";
import type { Logger } from "../util/log.js";
import { evaluateFreshness, type Freshness } from "./freshness.js";
import type { Timers } from "./scheduler.js";

export const WATCH_FILE = "freshness.json";
const MAX_WAIT_MS = 60_000;

const WatchFile = z.object({
  version: z.literal(1),
  /** The threshold last pushed; null: not watched. */
  staleAfterMs: z.number().nullable(),
  /** When watching began (kept across pushes while watched): without a good copy, the age counts from here. */
  since: z.string().nullable(),
  /** Whether the node was last reported stale (metric and webhook). */
  stale: z.boolean(),
});
type WatchFile = z.infer<typeof WatchFile>;

export interface WatchDeps {
  node: string;
  /** The agent's folder. */
  dir: string;
  clock: () => Date;
  timers: Timers;
  log: Logger;
  notifier: Pick<Notifier, "notify">;
  metrics: Pick<AgentMetrics, "freshness">;
  /** The newest good copy in this node's directory. */
  newestGood(): Promise<{ name: string; createdAt: Date } | undefined>;
}

export class FreshnessWatch {
  private state: WatchFile = { version: 1, staleAfterMs: null, since: null, stale: false };
  private timer: unknown;
  private checking: Promise<Freshness> | undefined;
  private stopped = false;

  constructor(private readonly deps: WatchDeps) {}

  /** Reads freshness.json; a missing one is an unwatched node, an unreadable one is logged and treated the same. */
  async load(): Promise<void> {
    try {
      const stored = await readJsonFile(join(this.deps.dir, WATCH_FILE), WatchFile);
      if (stored) this.state = stored;
    } catch (err) {
      this.deps.log.warn("ignoring an unreadable freshness state", { error: describeError(err) });
    }
  }

  /** A pushed threshold (null: no watch). Watching starts now unless it was already on. */
  async configure(staleAfterMs: number | null): Promise<Freshness> {
    const since = staleAfterMs === null ? null : (this.state.since ?? this.deps.clock().toISOString());
    this.state = { ...this.state, staleAfterMs, since, stale: staleAfterMs === null ? false : this.state.stale };
    await this.persist();
    return this.check();
  }

  /** Evaluates the node now (one check at a time), updates the metric, and notifies a change. */
  check(): Promise<Freshness> {
    const previous = this.checking ?? Promise.resolve(undefined);
    const next = previous.catch(() => undefined).then(() => this.evaluate());
    this.checking = next;
    return next;
  }

  stop(): void {
    this.stopped = true;
    this.disarm();
  }

  private async evaluate(): Promise<Freshness> {
    const now = this.deps.clock();
    const newest = await this.deps.newestGood().catch((err: unknown) => {
      this.deps.log.warn("cannot list this node's snapshots for the freshness check", { error: describeError(err) });
      return undefined;
    });
    const freshness = evaluateFreshness({
      newestGood: newest?.createdAt,
      staleAfterMs: this.state.staleAfterMs,
      watchedSince: this.state.since ? new Date(this.state.since) : undefined,
      now,
    });
    this.deps.metrics.freshness("local", freshness);
    const stale = freshness.state === "stale";
    if (stale !== this.state.stale) {
      this.state = { ...this.state, stale };
      await this.persist();
      this.announce(freshness, newest?.name, now);
    }
    this.arm(freshness, now);
    return freshness;
  }

  private announce(f: Freshness, name: string | undefined, now: Date): void {
    const threshold = formatDuration(f.staleAfterMs ?? 0);
    const newest = f.newestGood
      ? `the newest good snapshot${name ? ` (${name})` : ""} was taken at ${f.newestGood}`
      : "";
    const reason =
      f.state === "stale"
        ? `${newest || "no good snapshot exists"}: older than stale_after ${threshold}`
        : `${newest}: within stale_after ${threshold} again`;
    const fields = { location: "local" as const, staleAfterMs: f.staleAfterMs, newestGood: f.newestGood, reason };
    if (f.state === "stale") this.deps.log.warn("this node's backups are stale", fields);
    else this.deps.log.info("this node's backups are fresh again", fields);
    this.deps.notifier.notify({
      type: f.state === "stale" ? "location.stale" : "location.recovered",
      time: now.toISOString(),
      node: this.deps.node,
      ...(name ? { name } : {}),
      ...fields,
    });
  }

  /** The next check: when the node would go stale, and at least once a minute while watched. */
  private arm(f: Freshness, now: Date): void {
    this.disarm();
    if (this.stopped || f.staleAfterMs === null) return;
    const until = f.state === "fresh" && f.staleAt ? Date.parse(f.staleAt) - now.getTime() + 1 : MAX_WAIT_MS;
    const delay = Math.max(1, Math.min(until, MAX_WAIT_MS));
    this.timer = this.deps.timers.setTimeout(() => {
      this.timer = undefined;
      this.check().catch((err: unknown) =>
        this.deps.log.warn("the freshness check failed", { error: describeError(err) }),
      );
    }, delay);
  }

  private disarm(): void {
    if (this.timer !== undefined) this.deps.timers.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private async persist(): Promise<void> {
    try {
      await writeFileAtomic(join(this.deps.dir, WATCH_FILE), JSON.stringify(this.state, null, 2) + "\n", 0o600);
    } catch (err) {
      this.deps.log.warn("cannot write the freshness state", { error: describeError(err) });
    }
  }
}
