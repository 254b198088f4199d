/** The markdown written beside the JSON and printed at the end: machine, database, one table of ratios, notes. */
import { formatSize } from "./args.js";
import type { BenchResult, CompressionRow, Row } from "./results.js";
import type { Summary } from "./stats.js";
import { rpoLines } from "../cases/rpo.js";
import { rtoLines } from "../cases/rto.js";

export function renderMarkdown(r: BenchResult): string {
  const m = r.machine;
  const lines = [
    `# Lifeboat benchmark, ${r.date}`,
    "",
    `- Command: \`${r.command}\``,
    `- Machine: ${m.cpu}, ${m.cores} cores, ${m.memory} RAM; ${m.os}; Node ${m.node}; etcd ${m.etcd}`,
    `- Load average (1 min) at start ${m.loadStart}, at end ${m.loadEnd} (other work on the machine shows here)`,
    `- Database: ${formatSize(r.options.size)} asked, etcd dbSize ${formatSize(r.dbSize)}${fillText(r)}`,
    `- Each case: 1 warm-up + ${r.options.runs} measured runs, subject and baseline interleaved in the same invocation.` +
      " Times are whole processes measured from outside (wall, peak RSS from /proc VmHWM): median (min-max)." +
      " Ratio: median over median, paired per-run range in brackets.",
    `- Total time of the run: ${(r.durationMs / 60_000).toFixed(1)} min`,
    "",
    "| Case | What | Lifeboat | Baseline | Ratio | Target | Verdict |",
    "| --- | --- | --- | --- | --- | --- | --- |",
    ...r.rows.map(row),
  ];
  if (r.compression.length) lines.push("", ...compressionTable(r.compression));
  if (r.rpo) lines.push(...rpoLines(r.rpo));
  if (r.rto) lines.push(...rtoLines(r.rto));
  if (r.notes.length) lines.push("", "## Notes", "", ...r.notes.map((n) => `- ${n}`));
  return lines.join("\n") + "\n";
}

function fillText(r: BenchResult): string {
  const f = r.fill;
  if (!f) return "";
  const share = ((100 * f.incompressibleBytes) / f.valueBytes).toFixed(0);
  return (
    `; ${f.keys} keys, ${formatSize(f.valueBytes)} of values (1-100 KB, ${share}% random base64),` +
    ` filled in ${(f.durationMs / 1000).toFixed(0)} s`
  );
}

function row(r: Row): string {
  const value = (s: Summary) => (r.metric === "wallMs" || r.metric === "agentCpuMs" ? time(s) : mem(s));
  const baseline = r.baseline ? `${r.baseline.label}: ${value(r.baseline.summary)}` : "-";
  const ratio = r.ratio
    ? `**${r.ratio.ratio.toFixed(2)}x** [${r.ratio.pairedMin.toFixed(2)}-${r.ratio.pairedMax.toFixed(2)}]`
    : "-";
  return `| ${r.case} | ${r.what} | ${r.subject.label}: ${value(r.subject.summary)} | ${baseline} | ${ratio} | ${
    r.target?.text ?? "report"
  } | ${verdict(r)} |`;
}

function verdict(r: Row): string {
  if (r.verdict === "report") return r.note ?? "reported";
  if (!r.target) return r.verdict;
  const actual = r.ratio ? r.ratio.ratio : r.subject.summary.max;
  const by = ((actual / r.target.max - 1) * 100).toFixed(0);
  return r.verdict === "met" ? "met" : `**missed** by ${by}%`;
}

function compressionTable(rows: CompressionRow[]): string[] {
  return [
    "## Compression: Lifeboat's archive writer over the snapshot file (trailer check, sha256, CRC-32, deflate)",
    "",
    "| Setting | Archive / snapshot | Speed (MiB/s of snapshot) | Wall | Peak RSS |",
    "| --- | --- | --- | --- | --- |",
    ...rows.map(
      (c) =>
        `| ${c.level === undefined ? c.method : `${c.method} level ${c.level}`}` +
        `${(c.threads ?? 1) > 1 ? `, ${c.threads} threads` : ""} | ${(c.ratio * 100).toFixed(1)}% | ` +
        `${c.mibPerSecond.toFixed(0)} | ${time(c.wall)} | ${mem(c.peakRss)} |`,
    ),
  ];
}

function time(s: Summary): string {
  const f = (ms: number) => (ms >= 10_000 ? (ms / 1000).toFixed(1) : (ms / 1000).toFixed(2));
  return `${f(s.median)} s (${f(s.min)}-${f(s.max)})`;
}

function mem(s: Summary): string {
  const f = (b: number) => (b / 1024 ** 2).toFixed(0);
  return `${f(s.median)} MiB (${f(s.min)}-${f(s.max)})`;
}
