/**
 * A real sandbox (etcd members with TLS, agents as child processes, an S3 server) for integration tests,
 * started through the CLI exactly as an operator would, and torn down in `t.after`.
 */
import { mkdtemp, readdir, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AgentClient } from "../../src/agent/client.js";
import { routes } from "../../src/api/routes.js";
import { agentRunning, restartSandboxAgent, writeSandbox, type SandboxInfo } from "../../src/sandbox/sandbox.js";
import { EtcdMemberClient } from "../../src/etcd/client.js";
import { CA_CERT_NAME, lookupCert, NODE_CERT_NAME, readState } from "../../src/config/state.js";
import { statePathFor } from "../../src/config/cluster.js";
import { BIN, jsonOf, runCli, type CliRun } from "./cli.js";
import { openStore } from "../../src/store/open.js";
import { describeError } from "../../src/util/errors.js";
import type { Store } from "../../src/store/store.js";

export interface TestSandbox {
  dir: string;
  info: SandboxInfo;
  config: string;
  /** Runs `lifeboat <args>`; `--config` is NOT added automatically. */
  cli(args: readonly string[], env?: NodeJS.ProcessEnv): Promise<CliRun>;
  /** An etcd client (kube-node certificate) bound to member `index` (0-based, cluster.yml order). */
  etcd(index: number): Promise<EtcdMemberClient>;
  down(): Promise<void>;
  /**
   * For a failure message: whether each node's agent (the pid `sandbox up` started) still runs, and the last `lines`
   * lines of its agent.log that are not debug lines, so that a failed step or a dead agent says why in CI's output.
   */
  agentsReport(lines?: number): Promise<string>;
  /**
   * Starts node `index`'s agent again (after the test stopped or killed it), as `sandbox up` does, and records its
   * pid in `info` and in sandbox.json, so that `down` stops this agent and not the pid of the one before.
   */
  startAgent(index: number): Promise<number>;
  /** waitFor (below), whose timeout also says how the agents are and what they logged last. */
  waitFor<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs?: number): Promise<T>;
}

/** Who runs the members: the agents (managed), or a supervisor outside them driven by cluster.yml's commands. */
export type EtcdMode = "managed" | "external";

export async function startTestSandbox(
  opts: { nodes?: number; series?: string; etcdMode?: EtcdMode; quotaBackendBytes?: number } = {},
): Promise<TestSandbox> {
  const dir = await mkdtemp(join(tmpdir(), "lifeboat-test-"));
  const series = opts.series ?? process.env.LIFEBOAT_TEST_ETCD_SERIES;
  const args = ["--output", "json", "sandbox", "up", "--dir", dir, "--nodes", String(opts.nodes ?? 3)];
  if (series) args.push("--etcd-series", series);
  if (opts.etcdMode) args.push("--etcd-mode", opts.etcdMode);
  if (opts.quotaBackendBytes) args.push("--quota-backend-bytes", String(opts.quotaBackendBytes));
  const up = await runCli(args);
  if (up.code !== 0) throw new Error(`sandbox up failed (${up.code}):\n${up.stdout}\n${up.stderr}`);
  const info = jsonOf<SandboxInfo>(up);
  const clients: EtcdMemberClient[] = [];
  let stopped = false;
  const sandbox: TestSandbox = {
    dir,
    info,
    config: info.configPath,
    cli: (a, env) => runCli(a, env ? { env } : {}),
    etcd: async (index) => {
      const state = await readState(statePathFor(info.configPath));
      const ca = state && lookupCert(state, CA_CERT_NAME);
      const cert = state && lookupCert(state, NODE_CERT_NAME);
      const node = info.nodes[index];
      if (!ca || !cert?.keyPEM || !node) throw new Error("sandbox state lacks certificates or the node");
      const client = await EtcdMemberClient.connect({
        endpoint: `https://${node.host}:2379`,
        tls: { caPEM: ca.certificatePEM, certPEM: cert.certificatePEM, keyPEM: cert.keyPEM },
      });
      clients.push(client);
      return client;
    },
    agentsReport: async (lines = 20) => {
      const parts = await Promise.all(
        info.nodes.map(async (n) => {
          const text = await readFile(join(n.agentDir, "agent.log"), "utf8").catch(() => "");
          const kept = text.split("\n").filter((l) => l && !l.includes('"level":"debug"'));
          const state = agentRunning(n) ? "runs" : "is NOT running";
          return [`--- ${n.name}: agent ${n.pid} ${state}`, ...kept.slice(-lines).map((l) => l.slice(0, 600))];
        }),
      );
      return parts.flat().join("\n");
    },
    startAgent: async (index) => {
      const node = info.nodes[index];
      if (!node) throw new Error(`the sandbox has no node ${index}`);
      node.pid = restartSandboxAgent(node.agentDir, BIN);
      await writeSandbox(info);
      return node.pid;
    },
    waitFor: async (what, probe, timeoutMs) => {
      try {
        return await waitFor(what, probe, timeoutMs);
      } catch (err) {
        throw new Error(`${(err as Error).message}\n${await sandbox.agentsReport()}`, { cause: err });
      }
    },
    down: async () => {
      if (stopped) return;
      stopped = true;
      clients.forEach((c) => c.close());
      const down = await runCli(["sandbox", "down", "--dir", dir, "--purge"]);
      if (down.code !== 0) throw new Error(`sandbox down failed: ${down.stderr}`);
    },
  };
  return sandbox;
}

/**
 * Polls `probe` every 200 ms until it yields a value (not undefined/false); fails naming `what` after `timeoutMs`,
 * and the error of the last attempt if it threw.
 */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false>,
  timeoutMs = 45_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let failed: unknown;
    const value = await probe().catch((err: unknown) => {
      failed = err;
      return undefined;
    });
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) {
      const last = failed === undefined ? "" : `; the last attempt failed: ${describeError(failed)}`;
      throw new Error(`timed out waiting for ${what}${last}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The sandbox's S3 folder as a store (s3rver accepts any secret with its access key); close it when done. */
export function sandboxS3(info: SandboxInfo): Store {
  return openStore({
    endpoint: info.s3.endpoint,
    bucket: "lifeboat",
    folder: "sandbox",
    accessKey: "S3RVER",
    secretKey: "S3RVER",
    addressing: "path",
  });
}

export async function readText(path: string): Promise<string> {
  return readFile(path, "utf8");
}

/** Every process (other than this one) whose command line mentions `text`, as "pid: command line". */
export async function processesMentioning(text: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, "utf8").catch(() => "");
    if (cmdline.includes(text)) found.push(`${entry}: ${cmdline.split("\0").join(" ").slice(0, 200)}`);
  }
  return found;
}

/** Every sample of an agent's /metrics, by series (name and labels as printed). */
export async function scrapeMetrics(agent: AgentClient): Promise<Map<string, number>> {
  const res = await agent.download(routes.metrics);
  let text = "";
  for await (const chunk of res.body) text += String(chunk);
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    const m = /^(\S+) (\S+)$/.exec(line);
    if (m && !line.startsWith("#")) out.set(m[1]!, Number(m[2]));
  }
  return out;
}
