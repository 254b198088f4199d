/**
 * `lifeboat sandbox`: a whole cluster on loopback. N etcd members (TLS) on distinct 127.x.y.z addresses, one
 * managed agent per member, and an S3 server with a bucket, all as child processes of their own, recorded in
 * `<dir>/sandbox.json` so that `down` can stop every one of them (and any etcd an agent left behind).
 */
import { spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { z } from "zod";
import { readJsonFile } from "../config/json-file.js";
import { findEtcdTools } from "../etcd/binaries.js";
import { AGENT_PROCESS_ENV } from "../util/agent-env.js";
import { UserError } from "../util/errors.js";
import { writeFileAtomic } from "../util/fs.js";
import { allocateLoopbackHosts } from "../util/net.js";
import { shellCommand, shellQuote } from "../util/shell.js";
import { S3RVER_ACCESS_KEY } from "./s3server.js";
import { etcdAlive, isAlive, readPid, runsWith, selfCommand, terminate } from "./processes.js";
import { startSupervised, stopSupervised, supervisorPidFile } from "./supervisor.js";

export { isAlive };

export const SANDBOX_BUCKET = "lifeboat";
export const SANDBOX_FOLDER = "sandbox";
const PORTS = { client: 2379, peer: 2380, agent: 7443, s3: 9000 } as const;

const SandboxFileSchema = z.object({
  dir: z.string(),
  configPath: z.string(),
  s3: z.object({ endpoint: z.string(), pid: z.number() }),
  /** managed: each agent runs its member; external: a supervisor per member runs it, outside the agents. */
  etcdMode: z.enum(["managed", "external"]).default("managed"),
  nodes: z.array(
    z.object({
      name: z.string(),
      host: z.string(),
      agentDir: z.string(),
      pid: z.number(),
      /** External mode: the member's supervisor spec (`lifeboat sandbox member … --spec`). */
      memberSpec: z.string().optional(),
    }),
  ),
});
export type SandboxInfo = z.infer<typeof SandboxFileSchema>;

export interface SandboxOptions {
  dir: string;
  nodes: number;
  /** etcd series to run ("3.4", "3.5"); default: the newest available. */
  etcdSeries?: string | undefined;
  /** The lifeboat entry script to start children with (default: this process's). */
  entry?: string;
  /** Who runs the etcd members (default managed: the agents). */
  etcdMode?: "managed" | "external" | undefined;
  /** etcd's backend quota for every member (`lifeboat.etcd.quota_backend_bytes` in the sandbox's cluster.yml). */
  quotaBackendBytes?: number | undefined;
}

/**
 * Hooks the CLI provides: turning cluster.yml into a state file with PKI and one agent folder per node, and in
 * external mode each member's supervisor spec (with its etcd certificates) at `memberSpecOf(member)`.
 */
export interface SandboxHooks {
  prepareAgents(
    configPath: string,
    agentDirOf: (memberName: string) => string,
    memberSpecOf?: (memberName: string) => string,
  ): Promise<void>;
  waitHealthy(configPath: string, timeoutMs: number): Promise<void>;
}

export function sandboxFile(dir: string): string {
  return join(dir, "sandbox.json");
}

/** Writes `info` to its sandbox.json: `sandbox up`, and a test that starts a process of the sandbox again. */
export async function writeSandbox(info: SandboxInfo): Promise<void> {
  await writeFile(sandboxFile(info.dir), JSON.stringify(info, null, 2) + "\n", { mode: 0o600 });
}

export async function readSandbox(dir: string): Promise<SandboxInfo | undefined> {
  return readJsonFile(sandboxFile(dir), SandboxFileSchema);
}

/** True while the node's agent runs: its pid, with its own `agent --dir` on the command line (not a reused pid). */
export function agentRunning(node: Pick<SandboxInfo["nodes"][number], "pid" | "agentDir">): boolean {
  return runsWith(node.pid, agentArgs(node.agentDir));
}

/** True while the sandbox's S3 server runs (its pid, still running `sandbox s3-server`). */
export function s3Running(info: Pick<SandboxInfo, "s3">): boolean {
  return runsWith(info.s3.pid, S3_SERVER_ARGS);
}

const agentArgs = (agentDir: string) => ["agent", "--dir", agentDir];
const S3_SERVER_ARGS = ["sandbox", "s3-server"];

export async function sandboxUp(options: SandboxOptions, hooks: SandboxHooks): Promise<SandboxInfo> {
  const dir = resolve(options.dir);
  const running = await readSandbox(dir);
  if (running && (s3Running(running) || running.nodes.some(agentRunning))) {
    throw new UserError(`a sandbox is already running in ${dir}; stop it with: lifeboat sandbox down --dir ${dir}`);
  }
  if (!Number.isInteger(options.nodes) || options.nodes < 1 || options.nodes > 9) {
    throw new UserError(`--nodes: must be a whole number from 1 to 9 (got ${options.nodes})`);
  }
  const tools = await findEtcdTools({
    ...(options.etcdSeries ? { series: options.etcdSeries } : {}),
    developerCache: true,
  });
  const hosts = await allocateLoopbackHosts(options.nodes + 1, Object.values(PORTS));
  const s3Host = hosts[options.nodes]!;
  const memberHosts = hosts.slice(0, options.nodes);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const configPath = join(dir, "cluster.yml");
  const names = memberHosts.map((_, i) => `node${i + 1}`);
  const entry = options.entry ?? process.argv[1] ?? "";
  const external = options.etcdMode === "external";
  const memberSpecOf = (member: string) => join(dir, "nodes", member.replace(/^etcd-/, ""), "member", "member.json");
  const control = (n: string) =>
    external ? externalControl(entry, memberSpecOf(`etcd-${n}`), join(dir, "nodes", n, "etcd.pid")) : undefined;
  await writeFileAtomic(
    configPath,
    clusterYml(dir, memberHosts, names, s3Host, tools.dir, control, options.quotaBackendBytes),
    0o600,
  );
  const s3Dir = join(dir, "s3");
  await mkdir(s3Dir, { recursive: true });
  const s3Pid = startChild(
    entry,
    [...S3_SERVER_ARGS, "--host", s3Host, "--port", String(PORTS.s3), "--data", s3Dir],
    join(dir, "s3.log"),
    // s3rver encrypts list continuation tokens with DES, which OpenSSL 3 keeps in its legacy provider: without it,
    // every listing past 1,000 keys fails with a 500.
    ["--openssl-legacy-provider"],
  );
  const agentDirOf = (member: string) => join(dir, "nodes", member.replace(/^etcd-/, ""), "agent");
  const info: SandboxInfo = {
    dir,
    configPath,
    s3: { endpoint: `http://${s3Host}:${PORTS.s3}`, pid: s3Pid },
    etcdMode: external ? "external" : "managed",
    nodes: [],
  };
  try {
    await hooks.prepareAgents(configPath, agentDirOf, external ? memberSpecOf : undefined);
    // External mode: the members run before their agents, as an operator's etcd does.
    if (external) await Promise.all(names.map((n) => startSupervised(memberSpecOf(`etcd-${n}`), entry)));
    for (const [i, n] of names.entries()) {
      const agentDir = agentDirOf(`etcd-${n}`);
      info.nodes.push({
        name: `etcd-${n}`,
        host: memberHosts[i]!,
        agentDir,
        pid: startAgentChild(entry, agentDir),
        ...(external ? { memberSpec: memberSpecOf(`etcd-${n}`) } : {}),
      });
    }
    await writeSandbox(info);
    await hooks.waitHealthy(configPath, 60_000);
  } catch (err) {
    // Whatever failed, nothing it started keeps running: the S3 server, the agents so far, external members.
    await writeSandbox(info).catch(() => undefined);
    await sandboxDown(dir).catch(() => undefined);
    if (external) await Promise.all(names.map((n) => stopSupervised(memberSpecOf(`etcd-${n}`)).catch(() => undefined)));
    throw err;
  }
  return info;
}

/** Stops every process the sandbox started: agents (which stop their etcd), the S3 server, and any leftover etcd. */
export async function sandboxDown(dirOption: string, opts: { purge?: boolean } = {}): Promise<{ stopped: number }> {
  const dir = resolve(dirOption);
  const info = await readSandbox(dir);
  let stopped = 0;
  if (info) {
    // One at a time: members stopped all at once wait for each other (leadership transfer) for several seconds.
    for (const n of info.nodes) stopped += await terminate([n.pid], 15_000, (pid) => agentRunning({ ...n, pid }));
    for (const n of info.nodes) {
      if (n.memberSpec)
        stopped += (await stopSupervised(n.memberSpec).catch(() => "not running")) === "stopped" ? 1 : 0;
    }
    stopped += await terminate([info.s3.pid], 5_000, (pid) => runsWith(pid, S3_SERVER_ARGS));
    const etcdPids = await Promise.all(info.nodes.map((n) => readPid(join(n.agentDir, "..", "etcd.pid"))));
    stopped += await terminate(
      etcdPids.filter((p): p is number => p !== undefined),
      5_000,
      etcdAlive,
    );
    await rm(sandboxFile(dir), { force: true });
  }
  if (opts.purge) await rm(dir, { recursive: true, force: true });
  return { stopped };
}

/** The three shell commands of an external member, run by its agent (the sandbox's `docker start etcd`). */
interface ExternalControl {
  start: string;
  stop: string;
  status: string;
}

/** `etcdPidFile`: where the member's supervisor keeps its etcd's pid (beside the data directory). */
function externalControl(entry: string, specPath: string, etcdPidFile: string): ExternalControl {
  const base = shellCommand([...selfCommand(entry), "sandbox"]);
  const command = (action: string) => `${base} member-${action} --spec ${shellQuote(specPath)}`;
  // The status check is polled while members start and stop: plain shell, as cheap as `systemctl is-active`.
  const alive = (pidFile: string) => `kill -0 "$(cat ${shellQuote(pidFile)} 2>/dev/null)" 2>/dev/null`;
  const status = `${alive(supervisorPidFile(specPath))} && ${alive(etcdPidFile)}`;
  return { start: command("start"), stop: command("stop"), status };
}

function etcdYml(etcdBin: string, control: ExternalControl | undefined): string {
  if (!control) {
    return `      etcd:
        mode: managed
        tools_dir: ${etcdBin}`;
  }
  return `      etcd:
        mode: external
        tools_dir: ${etcdBin}
        start_command: ${JSON.stringify(control.start)}
        stop_command: ${JSON.stringify(control.stop)}
        status_command: ${JSON.stringify(control.status)}`;
}

function clusterYml(
  dir: string,
  hosts: string[],
  names: string[],
  s3Host: string,
  etcdBin: string,
  controlOf: (name: string) => ExternalControl | undefined,
  quotaBackendBytes: number | undefined,
): string {
  const nodes = hosts.map((h, i) => {
    const n = names[i]!;
    const base = join(dir, "nodes", n);
    return `  - address: ${h}
    hostname_override: ${n}
    role: [controlplane, etcd, worker]
    lifeboat:
      agent: ${h}:${PORTS.agent}
      snapshot_dir: ${join(base, "snapshots")}
      restore_dir: ${join(base, "restore")}
      data_dir: ${join(base, "etcd-data")}
${etcdYml(etcdBin, controlOf(n))}`;
  });
  return `# Written by \`lifeboat sandbox up\`: a loopback cluster for trying Lifeboat. RKE's schema plus Lifeboat's keys.
cluster_name: lifeboat-sandbox
nodes:
${nodes.join("\n")}
services:
  etcd:
    snapshot: true
    backup_config:
      interval_hours: 12
      retention: 6
      s3backupconfig:
        access_key: ${S3RVER_ACCESS_KEY}
        secret_key: ${S3RVER_ACCESS_KEY}
        bucket_name: ${SANDBOX_BUCKET}
        region: us-east-1
        endpoint: http://${s3Host}:${PORTS.s3}
        folder: ${SANDBOX_FOLDER}
lifeboat:
  s3:
    addressing: path
  snapshot:
    retries: 2
    retry_pause_seconds: 1
${quotaBackendBytes === undefined ? "" : `  etcd:\n    quota_backend_bytes: ${quotaBackendBytes}\n`}`;
}

/**
 * Starts the agent of `agentDir` again, detached, logging to its agent.log as `sandbox up` does (`entry`: the lifeboat
 * script to run it with); returns its pid. For tests and the benchmark, which kill agents on purpose.
 */
export function restartSandboxAgent(agentDir: string, entry: string): number {
  return startAgentChild(entry, agentDir);
}

/** An agent of the sandbox, with the environment an installed agent gets (util/agent-env.ts). */
function startAgentChild(entry: string, agentDir: string): number {
  return startChild(entry, agentArgs(agentDir), join(agentDir, "agent.log"), [], AGENT_PROCESS_ENV);
}

function startChild(
  entry: string,
  args: string[],
  logFile: string,
  nodeFlags: string[] = [],
  extraEnv: Readonly<Record<string, string>> = {},
): number {
  const fd = openSync(logFile, "a", 0o600);
  try {
    // Inside the single executable Node's flags go in NODE_OPTIONS: its command line is all Lifeboat's.
    const [command, ...self] = selfCommand(entry);
    const sea = self.length === 0;
    const nodeOptions = [process.env.NODE_OPTIONS, ...nodeFlags].filter((o) => o).join(" ");
    const child = spawn(command!, sea ? args : [...nodeFlags, ...self, ...args], {
      detached: true,
      stdio: ["ignore", fd, fd],
      env: { ...process.env, ...extraEnv, ...(sea && nodeFlags.length > 0 ? { NODE_OPTIONS: nodeOptions } : {}) },
    });
    child.unref();
    if (child.pid === undefined) throw new Error(`could not start ${args.join(" ")}`);
    return child.pid;
  } finally {
    closeSync(fd);
  }
}
