/**
 * The alerting rules and the Grafana dashboard that ship in deploy/: their shape, and, with promtool (Debian's
 * prometheus package, unpacked by scripts/ensure-promtool.sh), `promtool check rules`, the rules' unit tests
 * (`promtool test rules`: each alert fires when it should, with its labels and text), and every dashboard query
 * parsed by promtool as a recording rule. That every metric named there exists in a real agent's /metrics is checked
 * in stale-sandbox.test.ts.
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { describe, it } from "node:test";
import { stringify as stringifyYaml } from "yaml";
import {
  allExpressions,
  DASHBOARD,
  findPromtool,
  promtool,
  readDashboard,
  readRules,
  RULE_TESTS,
  RULES,
} from "./helpers/monitoring.js";

const ALERTS = ["LifeboatSnapshotStale", "LifeboatS3Stale", "LifeboatVerifyFailed", "LifeboatAgentDown"];

describe("deploy/prometheus and deploy/grafana", () => {
  it("the rules hold every alert, each with a severity, a summary and a description", async () => {
    const rules = (await readRules()).groups.flatMap((g) => g.rules);
    assert.deepEqual(
      rules.map((r) => r.alert),
      ALERTS,
    );
    for (const r of rules) {
      assert.ok(["critical", "warning"].includes(r.labels?.severity ?? ""), `${r.alert}: severity`);
      assert.ok(r.annotations?.summary && r.annotations.description, `${r.alert}: summary and description`);
      assert.ok(r.expr.trim().length > 0);
    }
    assert.match(rules.find((r) => r.alert === "LifeboatAgentDown")?.expr ?? "", /^up\{job="lifeboat"\} == 0$/);
    assert.match(await readFile(RULES, "utf8"), /^ {6}# - alert: LifeboatRevisionLogBehind$/m, "placeholder kept");
  });

  it("the dashboard is an importable Grafana dashboard whose every panel queries Lifeboat's metrics", async () => {
    const dashboard = await readDashboard();
    assert.equal(dashboard.uid, "lifeboat-backups");
    const raw = JSON.parse(await readFile(DASHBOARD, "utf8")) as { __inputs: { name: string }[] };
    assert.deepEqual(
      raw.__inputs.map((i) => i.name),
      ["DS_PROMETHEUS"],
    );
    assert.ok(dashboard.panels.length >= 8);
    for (const p of dashboard.panels) assert.ok(p.targets?.length, `panel "${p.title}" has queries`);
  });

  it("promtool checks the rules, runs their unit tests, and parses every dashboard query", async (t) => {
    const bin = await findPromtool();
    const expressions = await allExpressions();
    for (const { where, expr } of expressions) assert.ok(balanced(expr), `${where}: brackets balance`);
    if (!bin) {
      t.diagnostic("promtool not found (scripts/ensure-promtool.sh): the rules were checked for structure only");
      return;
    }
    const check = await promtool(bin, ["check", "rules", RULES], dirname(RULES));
    assert.equal(check.code, 0, check.output);
    assert.match(check.output, /SUCCESS: 4 rules found/);
    const unit = await promtool(bin, ["test", "rules", RULE_TESTS], dirname(RULE_TESTS));
    assert.equal(unit.code, 0, unit.output);
    const dir = await mkdtemp(join(tmpdir(), "lifeboat-promql-"));
    try {
      const panels = expressions.filter((e) => e.where.startsWith("panel"));
      const recording = panels.map((e, i) => ({ record: `lifeboat:dashboard_query_${i}`, expr: e.expr }));
      const file = join(dir, "dashboard-queries.yml");
      await writeFile(file, stringifyYaml({ groups: [{ name: "dashboard", rules: recording }] }));
      const parsed = await promtool(bin, ["check", "rules", file], dir);
      assert.equal(parsed.code, 0, parsed.output);
      assert.match(parsed.output, new RegExp(`SUCCESS: ${panels.length} rules found`));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

/** Round, square and curly brackets balance, outside strings. */
function balanced(expr: string): boolean {
  const open: string[] = [];
  const pairs: Record<string, string> = { ")": "(", "]": "[", "}": "{" };
  let quoted = false;
  for (const c of expr) {
    if (c === '"') quoted = !quoted;
    if (quoted) continue;
    if ("([{".includes(c)) open.push(c);
    else if (c in pairs && open.pop() !== pairs[c]) return false;
  }
  return open.length === 0 && !quoted;
}
