/**
 * Case 9, the recovery point of the revision log (issue: point-in-time recovery): a 3-node sandbox with
 * `lifeboat.continuous` (interval 10 s) takes a steady 50 writes/s; every write's acknowledgement time is kept. At a
 * known instant every agent and every member is killed (SIGKILL) and every data directory deleted; `snapshot-restore --latest` then brings the
 * cluster back from S3 alone. The loss is the acknowledged writes the restored cluster lacks, in writes and in seconds
 * (from the last recovered write's acknowledgement to the last acknowledged one); the target is interval + 5 s. What
 * the log costs is measured over the load: the writer agent's CPU time and peak RSS against an agent that does not
 * write it (same sandbox, same load), and the log's S3 requests per hour (its own counter).
 */
import { readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { AgentClient } from "../../src/agent/client.js";
import { loadAgentConfig } from "../../src/agent/config.js";
import { routes } from "../../src/api/routes.js";
import { statePathFor } from "../../src/config/cluster.js";
import { readState } from "../../src/config/state.js";
import { cliTls } from "../../src/fleet/open.js";
import { listChains, readSegmentManifest } from "../../src/pitr/catalog.js";
import { WRITER_KEY } from "../../src/pitr/writer.js";
import { restartSandboxAgent } from "../../src/sandbox/sandbox.js";
import { cpuMs, readPeak, resetPeak } from "../lib/proc.js";
import { LIFEBOAT_BIN, lifeboatOk, type BenchSandbox } from "../lib/sandbox.js";

const INTERVAL_S = 10;
const WRITES_PER_SECOND = 50;
const LOAD_SECONDS = 60;
const PREFIX = "/rpo/";

export interface RpoResult {
  intervalSeconds: number;
  writesPerSecond: number;
  acknowledged: number;
  recovered: number;
  lostWrites: number;
  lossSeconds: number;
  targetSeconds: number;
  verdict: "met" | "missed";
  restoreMs: number;
  writer: { node: string; cpuMs: number; peakRss: number };
  other: { node: string; cpuMs: number; peakRss: number };
  s3RequestsPerHour: number;
  /** How long after the writer's last committed segment the kill came (the worst moment is just below an interval). */
  killedAfterSegmentSeconds: number;
  loadSeconds: number;
}

export async function runRpo(o: { sandbox: BenchSandbox; log: (line: string) => void }): Promise<RpoResult> {
  const { sandbox, log } = o;
  const config = await sandbox.variant("rpo", (doc) => {
    doc.lifeboat = {
      ...doc.lifeboat,
      schedule: { interval: "24h" },
      continuous: { enabled: true, interval: `${INTERVAL_S}s` },
    };
  });
  await lifeboatOk(["etcd", "schedule", "push", "--jitter", "0s", "--config", config]);
  const s3 = sandbox.s3();
  const etcd = await sandbox.etcd(0);
  const state = await readState(statePathFor(config));
  if (!state) throw new Error("the sandbox has no state file");
  const agents = sandbox.info.nodes.map((n) => new AgentClient({ endpoint: `${n.host}:7443`, tls: cliTls(state) }));
  try {
    await until("the log's first chain", async () => (await listChains(s3)).some((c) => c.doc));
    const writerName = await until("a writer", async () => {
      const text = await etcd.get(WRITER_KEY);
      return text ? (JSON.parse(text) as { node: string }).node : undefined;
    });
    const wi = sandbox.info.nodes.findIndex((n) => n.name === writerName);
    const oi = wi === 0 ? 1 : 0;
    const [writer, other] = [sandbox.info.nodes[wi]!, sandbox.info.nodes[oi]!];
    const requestsBefore = await s3Requests(agents[wi]!);
    for (const n of [writer, other]) resetPeak(n.pid);
    const cpuBefore = [cpuMs(writer.pid), cpuMs(other.pid)];
    log(`  steady load: ${WRITES_PER_SECOND} writes/s for ${LOAD_SECONDS} s; the log's writer is ${writerName}`);
    const acked: number[] = [];
    const started = Date.now();
    // After LOAD_SECONDS the cost is read and the kill planned for the worst moment: just before the writer's next
    // segment (the newest committed one's time plus an interval, less 300 ms), while the writes go on.
    let stopAt = started + (LOAD_SECONDS + 3 * INTERVAL_S) * 1000;
    let lastCommitted = 0;
    let measured: Promise<{ cost: Pick<RpoResult, "writer" | "other">; requests: number; loadMs: number }> | undefined;
    const chain = (await listChains(s3)).find((c) => c.doc)!.chain;
    for (let seq = 0; Date.now() < stopAt; seq++) {
      const due = started + (seq * 1000) / WRITES_PER_SECOND;
      if (due > Date.now()) await sleep(due - Date.now());
      await etcd.put(`${PREFIX}${String(seq).padStart(8, "0")}`, String(seq));
      acked[seq] = Date.now();
      if (!measured && Date.now() - started >= LOAD_SECONDS * 1000) {
        const loadMs = Date.now() - started;
        const cost = {
          writer: { node: writer.name, cpuMs: cpuMs(writer.pid) - cpuBefore[0]!, peakRss: readPeak(writer.pid) },
          other: { node: other.name, cpuMs: cpuMs(other.pid) - cpuBefore[1]!, peakRss: readPeak(other.pid) },
        };
        measured = (async () => {
          const requests = (await s3Requests(agents[wi]!)) - requestsBefore;
          const view = (await listChains(s3)).find((c) => c.chain === chain)!;
          const newest = await readSegmentManifest(s3, chain, view.path.at(-1)!);
          lastCommitted = Date.parse(newest.writtenAt);
          let at = lastCommitted + INTERVAL_S * 1000 - 300;
          while (at < Date.now() + 500) at += INTERVAL_S * 1000;
          stopAt = at;
          return { cost, requests, loadMs };
        })();
      }
    }
    const { cost, requests, loadMs } = await measured!;
    // The kill is at least one interval after the segment read above, so the writer committed one more meanwhile at
    // about lastCommitted + k intervals: the time since the newest one is the remainder.
    const sinceSegment = Math.round(((Date.now() - lastCommitted) % (INTERVAL_S * 1000)) / 100) / 10;
    log(`  disaster: every agent and every member killed (SIGKILL), every data directory deleted`);
    const killedAt = Date.now();
    await loseEverything(sandbox);
    log(`  agents started again on the empty nodes (${Date.now() - killedAt} ms after the kill)`);
    const restoreStarted = Date.now();
    await lifeboatOk(["--output", "json", "etcd", "snapshot-restore", "--latest", "--yes", "--config", config], {
      timeoutMs: 15 * 60_000,
    });
    const restoreMs = Date.now() - restoreStarted;
    const restored = await sandbox.etcd(1);
    const keys = (await restored.rangeAll()).kvs.map((kv) => kv.key.toString()).filter((k) => k.startsWith(PREFIX));
    const seqs = keys.map((k) => Number(k.slice(PREFIX.length))).sort((a, b) => a - b);
    const recovered = seqs.length;
    if (seqs.some((s, i) => s !== i)) throw new Error("the restored writes are not a prefix of the acknowledged ones");
    const last = acked.length - 1;
    const lossMs = recovered === 0 ? acked[last]! - started : acked[last]! - acked[recovered - 1]!;
    const lossSeconds = Math.round(lossMs / 100) / 10;
    const targetSeconds = INTERVAL_S + 5;
    return {
      intervalSeconds: INTERVAL_S,
      writesPerSecond: WRITES_PER_SECOND,
      acknowledged: acked.length,
      recovered,
      lostWrites: acked.length - recovered,
      lossSeconds,
      targetSeconds,
      verdict: lossSeconds <= targetSeconds ? "met" : "missed",
      restoreMs,
      ...cost,
      s3RequestsPerHour: Math.round((requests * 3_600_000) / loadMs),
      killedAfterSegmentSeconds: sinceSegment,
      loadSeconds: Math.round(loadMs / 1000),
    };
  } finally {
    agents.forEach((a) => a.close());
    await s3.close();
  }
}

/**
 * A total loss: every agent and every etcd process killed at once (nothing gets to flush or say goodbye), every data
 * directory deleted; then the agents are started again, as a reinstalled node would start them, so that the restore
 * has agents to talk to. Their pids go back into sandbox.json for `sandbox down`.
 */
async function loseEverything(sandbox: BenchSandbox): Promise<void> {
  const dataDirs = await Promise.all(
    sandbox.info.nodes.map(async (n) => (await loadAgentConfig(n.agentDir)).etcd.dataDir),
  );
  const members = await pidsWhoseArgsName(dataDirs.map((d) => `--data-dir=${d}`));
  for (const pid of [...sandbox.info.nodes.map((n) => n.pid), ...members]) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  await sleep(500);
  for (const dir of dataDirs) await rm(dir, { recursive: true, force: true });
  for (const n of sandbox.info.nodes) n.pid = restartSandboxAgent(n.agentDir, LIFEBOAT_BIN);
  await writeFile(join(sandbox.dir, "sandbox.json"), JSON.stringify(sandbox.info, null, 2) + "\n", { mode: 0o600 });
}

async function pidsWhoseArgsName(needles: string[]): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const cmd = await readFile(`/proc/${entry}/cmdline`, "utf8").catch(() => "");
    if (needles.some((n) => cmd.includes(n))) found.push(Number(entry));
  }
  return found;
}

async function s3Requests(agent: AgentClient): Promise<number> {
  const res = await agent.download(routes.metrics);
  let text = "";
  for await (const chunk of res.body) text += String(chunk);
  const m = /^lifeboat_log_s3_requests_total(?:\{[^}]*\})? (\S+)$/m.exec(text);
  return m ? Number(m[1]) : 0;
}

async function until<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(250);
  }
}

/** The markdown section of the case. */
export function rpoLines(r: RpoResult): string[] {
  const mib = (b: number) => `${(b / 1024 / 1024).toFixed(0)} MiB`;
  return [
    "",
    "## Recovery point (revision log)",
    "",
    `Steady load of ${r.writesPerSecond} writes/s for ${r.loadSeconds} s and on, log interval ${r.intervalSeconds} s; at the worst moment (${r.killedAfterSegmentSeconds} s after the writer's last committed segment, just before its next) every agent and member killed (SIGKILL), every data directory deleted, the agents started again on the empty nodes, and \`snapshot-restore --latest\` from S3 alone (${(r.restoreMs / 1000).toFixed(1)} s).`,
    "",
    "| Figure | Value | Target | Verdict |",
    "| --- | --- | --- | --- |",
    `| acknowledged writes lost | ${r.lostWrites} of ${r.acknowledged} | | report |`,
    `| loss in seconds (last recovered ack to last ack) | ${r.lossSeconds} s | <= interval + 5 s = ${r.targetSeconds} s | ${r.verdict} |`,
    `| CPU of the writing agent over the load | ${(r.writer.cpuMs / 1000).toFixed(1)} s (${r.writer.node}) vs ${(r.other.cpuMs / 1000).toFixed(1)} s for an agent that does not write (${r.other.node}) | | report |`,
    `| peak RSS of the writing agent | ${mib(r.writer.peakRss)} vs ${mib(r.other.peakRss)} | | report |`,
    `| S3 requests of the log | ${r.s3RequestsPerHour} per hour | | report |`,
  ];
}
