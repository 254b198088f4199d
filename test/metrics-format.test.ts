/**
 * The hand-written Prometheus exposition: every line must be what a Prometheus server parses (text format 0.0.4),
 * and the agent's metrics must say when the last success and the last failure happened.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Registry } from "../src/telemetry/metrics.js";
import { AgentMetrics } from "../src/telemetry/agent-metrics.js";

/** One sample line: name, optional {labels}, value (a Go float). */
const SAMPLE =
  /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\["\\n])*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\["\\n])*")*)\})? (-?\d+(?:\.\d+)?(?:e[+-]?\d+)?|\+Inf|-Inf|NaN)$/;

/** Checks the grammar of a whole exposition and returns its samples. */
function parseExposition(text: string): Map<string, number> {
  assert.ok(text.endsWith("\n"), "ends with a newline");
  const samples = new Map<string, number>();
  const typed = new Set<string>();
  for (const line of text.slice(0, -1).split("\n")) {
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.+)$/.exec(line);
    if (meta) {
      if (meta[1] === "TYPE") {
        assert.ok(!typed.has(meta[2]!), `one TYPE line for ${meta[2]}`);
        assert.match(meta[3]!, /^(counter|gauge|histogram|summary|untyped)$/);
        typed.add(meta[2]!);
      }
      continue;
    }
    const m = SAMPLE.exec(line);
    assert.ok(m, `not a valid sample line: ${JSON.stringify(line)}`);
    const family = m[1]!.replace(/_(bucket|sum|count)$/, "");
    assert.ok(typed.has(m[1]!) || typed.has(family), `${m[1]} sampled before its TYPE line`);
    samples.set(`${m[1]}${m[2] ?? ""}`, m[4] === "+Inf" ? Infinity : Number(m[4]));
  }
  return samples;
}

describe("Prometheus text format", () => {
  it("renders counters, gauges and histograms with escaped labels", () => {
    const r = new Registry();
    const c = r.counter("demo_total", "A counter.\nSecond line with a \\ backslash.");
    c.inc({ path: 'a"b\\c\nd' }, 2);
    c.inc({ path: 'a"b\\c\nd' });
    const g = r.gauge("demo_gauge", "A gauge.");
    g.set({}, 1.5);
    const h = r.histogram("demo_seconds", "A histogram.", [1, 0.1, 10]);
    for (const v of [0.05, 0.5, 5, 50]) h.observe({ kind: "x" }, v);
    r.gauge("demo_empty", "Never set: no HELP/TYPE lines either.");
    const text = r.render();
    const samples = parseExposition(text);
    assert.equal(samples.get('demo_total{path="a\\"b\\\\c\\nd"}'), 3);
    assert.equal(samples.get("demo_gauge"), 1.5);
    assert.deepEqual(
      ["0.1", "1", "10", "+Inf"].map((le) => samples.get(`demo_seconds_bucket{kind="x",le="${le}"}`)),
      [1, 2, 3, 4],
      "cumulative buckets in increasing order, +Inf = count",
    );
    assert.equal(samples.get('demo_seconds_sum{kind="x"}'), 55.55);
    assert.equal(samples.get('demo_seconds_count{kind="x"}'), 4);
    assert.match(text, /^# HELP demo_total A counter\.\\nSecond line with a \\\\ backslash\.$/m);
    assert.doesNotMatch(text, /demo_empty/);
  });

  it("refuses to decrease a counter and to register a bad name", () => {
    const r = new Registry();
    assert.throws(() => r.counter("x_total", "x").inc({}, -1), /cannot decrease/);
    assert.throws(() => r.gauge("bad-name", "x"), /invalid metric name/);
  });
});

describe("agent metrics", () => {
  it("report the last success, the last failure, and the seconds since the last success", () => {
    let now = Date.parse("2026-11-27T12:00:00Z");
    const m = new AgentMetrics("etcd-a", "1.2.3", () => new Date(now));
    m.saveFinished("recurring", true, 1500, new Date("2026-11-27T11:59:58Z"), 4096);
    m.uploadFinished("recurring", true, new Date("2026-11-27T11:59:58Z"), 4096);
    now += 90_000;
    m.saveFinished("recurring", false, 200, new Date(now));
    m.uploadFinished("one-time", false, new Date(now));
    m.pruneFinished("local", 2, 0);
    m.skipped("recurring");
    const s = parseExposition(m.registry.render());
    const t = (iso: string) => Date.parse(iso) / 1000;
    assert.equal(s.get('lifeboat_agent_info{node="etcd-a",version="1.2.3"}'), 1);
    assert.equal(
      s.get('lifeboat_snapshot_last_success_timestamp_seconds{location="local"}'),
      t("2026-11-27T11:59:58Z"),
    );
    assert.equal(
      s.get('lifeboat_snapshot_last_failure_timestamp_seconds{location="local"}'),
      t("2026-11-27T12:01:30Z"),
    );
    assert.equal(s.get('lifeboat_snapshot_last_failure_timestamp_seconds{location="s3"}'), t("2026-11-27T12:01:30Z"));
    assert.equal(s.get('lifeboat_snapshot_last_verified_timestamp_seconds{location="s3"}'), t("2026-11-27T11:59:58Z"));
    assert.equal(s.get('lifeboat_snapshot_seconds_since_last_success{location="local"}'), 92);
    assert.equal(s.get('lifeboat_snapshots_total{kind="recurring",location="local",result="success"}'), 1);
    assert.equal(s.get('lifeboat_snapshots_total{kind="recurring",location="local",result="failure"}'), 1);
    assert.equal(s.get('lifeboat_snapshots_total{kind="recurring",location="local",result="skipped"}'), 1);
    assert.equal(s.get('lifeboat_snapshots_total{kind="one-time",location="s3",result="failure"}'), 1);
    assert.equal(s.get('lifeboat_snapshot_duration_seconds_count{kind="recurring",result="failure"}'), 1);
    assert.equal(s.get('lifeboat_snapshot_size_bytes{kind="recurring"}'), 4096);
    assert.equal(s.get("lifeboat_upload_bytes_total"), 4096);
    assert.equal(s.get('lifeboat_prune_removed_total{location="local"}'), 2);
    assert.equal(s.get("lifeboat_schedule_skipped_total"), 1);
  });

  it("take the last success from the node's manifests, so it survives a restart", () => {
    const m = new AgentMetrics("etcd-a", "1", () => new Date("2026-11-27T13:00:00Z"));
    const before = parseExposition(m.registry.render());
    assert.equal(before.has('lifeboat_snapshot_seconds_since_last_success{location="local"}'), false, "absent, not 0");
    const manifest = (createdAt: string) => ({ createdAt }) as never;
    m.catalog([
      {
        name: "a",
        location: "node:etcd-a",
        format: "zip",
        key: "a.zip",
        size: 10,
        modified: "",
        status: "ok",
        manifest: manifest("2026-11-27T12:00:00Z"),
      },
      {
        name: "b",
        location: "node:etcd-a",
        format: "zip",
        key: "b.zip",
        size: 20,
        modified: "",
        status: "ok",
        manifest: manifest("2026-11-27T12:30:00Z"),
      },
      { name: "c", location: "node:etcd-a", format: "zip", key: "c.zip", size: 99, modified: "", status: "broken" },
    ]);
    const s = parseExposition(m.registry.render());
    assert.equal(s.get('lifeboat_snapshot_seconds_since_last_success{location="local"}'), 1800);
    assert.equal(s.get('lifeboat_snapshots_kept{location="local"}'), 2);
    assert.equal(s.get('lifeboat_snapshots_kept_bytes{location="local"}'), 30);
  });
});
