/**
 * What ships for Prometheus users (deploy/prometheus/lifeboat-rules.yml, deploy/grafana/lifeboat-dashboard.json),
 * read for the tests: every expression, the metric names they use, and promtool when it is there
 * (scripts/ensure-promtool.sh keeps it in ~/.cache/lifeboat/promtool).
 */
import { execFile } from "node:child_process";
import { access, readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { parse as parseYaml } from "yaml";

/** The repository (the tests run from dist/test). */
export const REPO = fileURLToPath(new URL("../../../", import.meta.url));
export const RULES = join(REPO, "deploy", "prometheus", "lifeboat-rules.yml");
export const RULE_TESTS = join(REPO, "deploy", "prometheus", "lifeboat-rules.test.yml");
export const DASHBOARD = join(REPO, "deploy", "grafana", "lifeboat-dashboard.json");

export interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export async function readRules(): Promise<{ groups: { name: string; rules: Rule[] }[] }> {
  return parseYaml(await readFile(RULES, "utf8")) as { groups: { name: string; rules: Rule[] }[] };
}

export interface Panel {
  title: string;
  type: string;
  targets?: { expr: string }[];
}

export async function readDashboard(): Promise<{ uid: string; title: string; panels: Panel[] }> {
  return JSON.parse(await readFile(DASHBOARD, "utf8")) as { uid: string; title: string; panels: Panel[] };
}

/** Every PromQL expression of the rules and the dashboard, with where it comes from. */
export async function allExpressions(): Promise<{ where: string; expr: string }[]> {
  const rules = (await readRules()).groups.flatMap((g) =>
    g.rules.map((r) => ({ where: `rule ${r.alert ?? r.record}`, expr: r.expr })),
  );
  const panels = (await readDashboard()).panels.flatMap((p) =>
    (p.targets ?? []).map((t) => ({ where: `panel "${p.title}"`, expr: t.expr })),
  );
  return [...rules, ...panels];
}

/** The Lifeboat metric names an expression uses (a histogram's `_bucket` series names its family). */
export function lifeboatMetrics(expr: string): string[] {
  return [...new Set([...expr.matchAll(/\blifeboat_[a-z0-9_]+/g)].map((m) => m[0]))];
}

/** promtool on PATH, or where scripts/ensure-promtool.sh puts it; undefined when neither. */
export async function findPromtool(): Promise<string | undefined> {
  const cached = join(process.env.LIFEBOAT_CACHE ?? join(homedir(), ".cache", "lifeboat"), "promtool", "promtool");
  const onPath = (process.env.PATH ?? "").split(":").map((d) => join(d, "promtool"));
  for (const candidate of [cached, ...onPath]) {
    if (
      await access(candidate).then(
        () => true,
        () => false,
      )
    )
      return candidate;
  }
  return undefined;
}

export async function promtool(bin: string, args: string[], cwd: string): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(bin, args, { cwd, timeout: 60_000 });
    return { code: 0, output: stdout + stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === "number" ? e.code : 1, output: `${e.stdout ?? ""}${e.stderr ?? ""}` };
  }
}
