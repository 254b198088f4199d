/**
 * "Never silently stale": the one freshness rule (src/schedule/freshness.ts), its thresholds, and the agent's watch
 * (src/schedule/watch.ts) with a fake clock and timers: the metric flips, the webhook fires once each way, and the
 * state survives a restart. The whole loop against real agents is in stale-sandbox.test.ts.
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { parseClusterConfig } from "../src/config/cluster.js";
import { buildSchedulePush } from "../src/fleet/schedule.js";
import { defaultStaleAfter, evaluateFreshness, lastVerifyFailed, longestCronGap } from "../src/schedule/freshness.js";
import type { Timers } from "../src/schedule/scheduler.js";
import { FreshnessWatch, WATCH_FILE } from "../src/schedule/watch.js";
import { AgentMetrics } from "../src/telemetry/agent-metrics.js";
import type { NotifyEvent } from "../src/telemetry/notify.js";
import { silentLogger } from "../src/util/log.js";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T0 = new Date("2026-11-27T12:00:00.000Z");
const at = (ms: number) => new Date(T0.getTime() + ms);

describe("the freshness rule", () => {
  it("is stale only when the newest good copy is strictly older than the threshold", () => {
    const rule = (ageMs: number) =>
      evaluateFreshness({ newestGood: T0, staleAfterMs: 2 * HOUR, watchedSince: undefined, now: at(ageMs) });
    assert.deepEqual(rule(HOUR), {
      state: "fresh",
      staleAfterMs: 2 * HOUR,
      newestGood: T0.toISOString(),
      staleAt: at(2 * HOUR).toISOString(),
      watchedSince: null,
    });
    assert.equal(rule(2 * HOUR).state, "fresh");
    assert.equal(rule(2 * HOUR + 1).state, "stale");
  });

  it("without a good copy counts from when watching began; with neither it is stale at once", () => {
    const none = (watchedSince: Date | undefined, now: Date) =>
      evaluateFreshness({ newestGood: undefined, staleAfterMs: HOUR, watchedSince, now }).state;
    assert.equal(none(T0, at(HOUR)), "fresh", "a new cluster gets one threshold for its first snapshot");
    assert.equal(none(T0, at(HOUR + 1)), "stale");
    assert.equal(none(undefined, T0), "stale");
  });

  it("an unwatched location is never stale", () => {
    for (const staleAfterMs of [null, undefined]) {
      const f = evaluateFreshness({ newestGood: undefined, staleAfterMs, watchedSince: undefined, now: at(DAY * 900) });
      assert.equal(f.state, "unwatched");
      assert.equal(f.staleAfterMs, null);
    }
  });

  it("defaults to twice the interval, and for cron to twice the longest gap between consecutive runs", () => {
    assert.equal(defaultStaleAfter({ type: "interval", ms: 12 * HOUR }), DAY);
    assert.equal(defaultStaleAfter({ type: "cron", expression: "0 */6 * * *" }), 12 * HOUR);
    assert.equal(longestCronGap("0 2 * * 1-5"), 3 * DAY, "weekdays only: the weekend is the longest gap");
    assert.equal(longestCronGap("0 0 1 * *"), 31 * DAY, "monthly: the longest month");
    assert.equal(longestCronGap("*/5 * * * *"), 5 * 60_000);
  });

  it("only a failed scheduled verify counts as a verify failure", () => {
    const at = "2026-12-01T10:00:00.000Z";
    assert.equal(lastVerifyFailed({ kind: "recurring", result: "failure", finishedAt: at }), true);
    assert.equal(
      lastVerifyFailed({ kind: "one-time", result: "failure", finishedAt: at }),
      false,
      "its caller saw exit 4",
    );
    assert.equal(lastVerifyFailed({ kind: "recurring", result: "success", finishedAt: at }), false);
    assert.equal(lastVerifyFailed(null), false);
    const failed = { kind: "recurring", result: "failure", finishedAt: at } as const;
    assert.equal(lastVerifyFailed(failed, { finishedAt: at }), true, "the cluster's newest is this node's own");
    assert.equal(lastVerifyFailed(failed, { finishedAt: "2026-12-01T09:00:00.000Z" }), true, "an older one elsewhere");
    assert.equal(lastVerifyFailed(failed, { finishedAt: "2026-12-01T11:00:00.000Z" }), false, "a later one anywhere");
  });
});

describe("lifeboat.schedule.stale_after and the push", () => {
  const base =
    "nodes:\n  - address: 10.0.0.1\n    role: [etcd]\nservices:\n  etcd:\n    backup_config:\n      interval_hours: 6\n";
  const load = (lifeboat: string) => parseClusterConfig(`${base}lifeboat:\n  schedule: ${lifeboat}\n`, "cluster.yml");
  const issues = (lifeboat: string) => {
    try {
      load(lifeboat);
      return [];
    } catch (err) {
      return (err as { issues: { path: string; message: string }[] }).issues.map((i) => `${i.path}: ${i.message}`);
    }
  };

  it("reads a Go duration or off, alone or beside cron or interval", () => {
    assert.equal(load("{ stale_after: 90m }").config.lifeboat.staleAfterMs, 90 * 60_000);
    assert.equal(load("{ stale_after: 'off' }").config.lifeboat.staleAfterMs, null);
    const both = load("{ interval: 30m, stale_after: 2h }").config.lifeboat;
    assert.deepEqual([both.schedule, both.staleAfterMs], [{ intervalMs: 30 * 60_000 }, 2 * HOUR]);
    assert.equal(load("{ interval: 30m }").config.lifeboat.staleAfterMs, undefined);
    assert.deepEqual(issues("{ stale_after: 500ms }"), ["lifeboat.schedule.stale_after: must be at least 1s (or off)"]);
    assert.match(issues("{ stale_after: 2d }")[0] ?? "", /^lifeboat\.schedule\.stale_after: "2d" is not a Go duration/);
  });

  it("every push carries the threshold: explicit, twice the period, kept when snapshots are off, null for off", () => {
    const push = (lifeboat: string, extra = "", flags = {}) =>
      buildSchedulePush(
        parseClusterConfig(`${base}${extra}lifeboat:\n  schedule: ${lifeboat}\n`, "cluster.yml").config,
        undefined,
        flags,
      );
    assert.equal(push("{ stale_after: 6s }", "", { interval: "3s" }).staleAfterMs, 6000);
    assert.equal(push("{ interval: 30m }").staleAfterMs, HOUR);
    assert.equal(push('{ cron: "0 0 * * *" }').staleAfterMs, 2 * DAY);
    assert.equal(push("{ stale_after: 1h }", "", { interval: "20s" }).staleAfterMs, HOUR);
    const off = push("{ stale_after: 6s }", "    snapshot: false\n");
    assert.deepEqual([off.schedule, off.staleAfterMs], [null, 6000], "switching backups off is not silent");
    assert.equal(push("{ interval: 1m }", "    snapshot: false\n").staleAfterMs, 2 * 60_000);
    assert.equal(push("{ stale_after: 'off' }").staleAfterMs, null);
  });
});

/** Timers the test fires by hand. */
class HandTimers implements Timers {
  pending = new Map<number, { ms: number; fn: () => void }>();
  private seq = 0;
  setTimeout(fn: () => void, ms: number): unknown {
    this.pending.set(++this.seq, { ms, fn });
    return this.seq;
  }
  clearTimeout(handle: unknown): void {
    this.pending.delete(handle as number);
  }
  /** The one armed timer's delay. */
  delay(): number | undefined {
    assert.ok(this.pending.size <= 1, "one check armed at a time");
    return [...this.pending.values()][0]?.ms;
  }
  fire(): void {
    const [id, t] = [...this.pending.entries()][0] ?? [];
    assert.ok(id !== undefined && t, "a check is armed");
    this.pending.delete(id);
    t.fn();
  }
}

describe("the agent's freshness watch", () => {
  const dirs: string[] = [];
  after(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  async function harness(dir?: string) {
    const folder = dir ?? (await mkdtemp(join(tmpdir(), "lifeboat-watch-")));
    if (!dir) dirs.push(folder);
    const clock = { now: T0.getTime() };
    const timers = new HandTimers();
    const events: NotifyEvent[] = [];
    const metrics = new AgentMetrics("etcd-a", "0.0.0", () => new Date(clock.now));
    const newest: { value: { name: string; createdAt: Date } | undefined } = { value: undefined };
    const watch = new FreshnessWatch({
      node: "etcd-a",
      dir: folder,
      clock: () => new Date(clock.now),
      timers,
      log: silentLogger,
      notifier: { notify: (e) => void events.push(e) },
      metrics,
      newestGood: async () => newest.value,
    });
    await watch.load();
    const sample = (name: string) => {
      const line = metrics.registry
        .render()
        .split("\n")
        .find((l) => l.startsWith(name + " ") || l.startsWith(name + "{"));
      return line === undefined ? undefined : Number(line.split(" ").at(-1));
    };
    return { dir: folder, clock, timers, events, metrics, newest, watch, sample };
  }

  it("fires once on becoming stale and once on recovery; the metric flips; a restart repeats nothing", async () => {
    const h = await harness();
    h.newest.value = { name: "s1", createdAt: T0 };
    assert.equal((await h.watch.configure(6000)).state, "fresh");
    assert.equal(h.sample('lifeboat_snapshot_stale{location="local"}'), 0);
    assert.equal(h.sample("lifeboat_snapshot_stale_after_seconds"), 6);
    assert.equal(h.timers.delay(), 6001, "the next check is armed for the instant the node goes stale");

    h.clock.now += 6001;
    h.timers.fire();
    assert.equal((await h.watch.check()).state, "stale");
    await h.watch.check();
    assert.deepEqual(
      h.events.map((e) => [e.type, e.node, e.location, e.name, e.staleAfterMs, e.newestGood]),
      [["location.stale", "etcd-a", "local", "s1", 6000, T0.toISOString()]],
      "one event, however often it is checked",
    );
    assert.match(h.events[0]?.reason ?? "", /s1.*older than stale_after 6s/);
    assert.equal(h.sample('lifeboat_snapshot_stale{location="local"}'), 1);
    assert.equal(h.timers.delay(), 60_000, "a stale node is checked again within a minute");
    const stored = JSON.parse(await readFile(join(h.dir, WATCH_FILE), "utf8")) as { stale: boolean };
    assert.equal(stored.stale, true);

    const restarted = await harness(h.dir);
    restarted.clock.now = h.clock.now + 1000;
    restarted.newest.value = h.newest.value;
    assert.equal((await restarted.watch.check()).state, "stale");
    assert.equal(restarted.events.length, 0, "a restarted agent does not announce it again");
    assert.equal(restarted.sample('lifeboat_snapshot_stale{location="local"}'), 1);

    restarted.newest.value = { name: "s2", createdAt: new Date(restarted.clock.now) };
    assert.equal((await restarted.watch.check()).state, "fresh");
    await restarted.watch.check();
    assert.deepEqual(
      restarted.events.map((e) => [e.type, e.name]),
      [["location.recovered", "s2"]],
    );
    assert.equal(restarted.sample('lifeboat_snapshot_stale{location="local"}'), 0);
    restarted.watch.stop();
    h.watch.stop();
    assert.equal(restarted.timers.pending.size, 0, "stopping disarms the check");
  });

  it("a node that never had a good copy goes stale one threshold after watching began; off ends the watch", async () => {
    const h = await harness();
    await h.watch.configure(HOUR);
    h.clock.now += HOUR + 1;
    const f = await h.watch.check();
    assert.equal(f.state, "stale");
    assert.equal(f.watchedSince, T0.toISOString());
    assert.equal(h.events[0]?.type, "location.stale");
    assert.equal(h.events[0]?.name, undefined);
    assert.match(h.events[0]?.reason ?? "", /no good snapshot exists/);

    assert.equal((await h.watch.configure(null)).state, "unwatched");
    assert.equal(h.sample('lifeboat_snapshot_stale{location="local"}'), undefined, "absent when not watched");
    assert.equal(h.sample("lifeboat_snapshot_stale_after_seconds"), undefined);
    assert.equal(h.timers.pending.size, 0);
    assert.equal(h.events.length, 1, "turning the watch off announces nothing");
    h.watch.stop();
  });

  it("a re-push keeps when watching began", async () => {
    const h = await harness();
    await h.watch.configure(HOUR);
    h.clock.now += 30 * 60_000;
    const f = await h.watch.configure(2 * HOUR);
    assert.equal(f.watchedSince, T0.toISOString());
    assert.equal(f.staleAt, at(2 * HOUR).toISOString());
    h.watch.stop();
  });
});
