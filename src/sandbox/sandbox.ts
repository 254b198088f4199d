/**
 * `lifeboat sandbox`: a whole cluster on loopback. N etcd members (TLS) on distinct 127.x.y.z addresses, one
 * managed agent per member, and an S3 server with a bucket, all as child processes of their own, recorded in
 * `<dir>/sandbox.json` so that `down` can stop every one of them (and any etcd an agent left behind).
 */
import { spawn } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { isSea } from "node:sea";
import { setTimeout as sleep } from "node:timers/promises";
import { z } from "zod";
import { readJsonFile } from "../config/json-file.js";
import { findEtcdTools } from "../etcd/binaries.js";
import { UserError } from "../util/errors.js";
import { writeFileAtomic } from "../util/fs.js";
import { allocateLoopbackHosts } from "../util/net.js";
import { S3RVER_ACCESS_KEY } from "./s3server.js";

export const SANDBOX_BUCKET = "lifeboat";
export const SANDBOX_FOLDER = "sandbox";
const PORTS = { client: 2379, peer: 2380, agent: 7443, s3: 9000 } as const;

const SandboxFileSchema = z.object({
  dir: z.string(),
  configPath: z.string(),
  s3: z.object({ endpoint: z.string(), pid: z.number() }),
  nodes: z.array(z.object({ name: z.string(), host: z.string(), agentDir: z.string(), pid: z.number() })),
});
export type SandboxInfo = z.infer<typeof SandboxFileSchema>;

export interface SandboxOptions {
  dir: string;
  nodes: number;
  /** etcd series to run ("3.4", "3.5"); default: the newest available. */
  etcdSeries?: string | undefined;
  /** The lifeboat entry script to start children with (default: this process's). */
  entry?: string;
}

/** Hooks the CLI provides: turning cluster.yml into a state file with PKI and one agent folder per node. */
export interface SandboxHooks {
  prepareAgents(configPath: string, agentDirOf: (memberName: string) => string): Promise<void>;
  waitHealthy(configPath: string, timeoutMs: number): Promise<void>;
}

export function sandboxFile(dir: string): string {
  return join(dir, "sandbox.json");
}

export async function readSandbox(dir: string): Promise<SandboxInfo | undefined> {
  return readJsonFile(sandboxFile(dir), SandboxFileSchema);
}

export async function sandboxUp(options: SandboxOptions, hooks: SandboxHooks): Promise<SandboxInfo> {
  const dir = resolve(options.dir);
  const running = await readSandbox(dir);
  if (running && [running.s3.pid, ...running.nodes.map((n) => n.pid)].some(isAlive)) {
    throw new UserError(`a sandbox is already running in ${dir}; stop it with: lifeboat sandbox down --dir ${dir}`);
  }
  if (!Number.isInteger(options.nodes) || options.nodes < 1 || options.nodes > 9) {
    throw new UserError(`--nodes: must be a whole number from 1 to 9 (got ${options.nodes})`);
  }
  const tools = await findEtcdTools(options.etcdSeries ? { series: options.etcdSeries } : {});
  const hosts = await allocateLoopbackHosts(options.nodes + 1, Object.values(PORTS));
  const s3Host = hosts[options.nodes]!;
  const memberHosts = hosts.slice(0, options.nodes);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const configPath = join(dir, "cluster.yml");
  const names = memberHosts.map((_, i) => `node${i + 1}`);
  await writeFileAtomic(configPath, clusterYml(dir, memberHosts, names, s3Host, tools.dir), 0o600);
  const entry = options.entry ?? process.argv[1] ?? "";
  const s3Dir = join(dir, "s3");
  await mkdir(s3Dir, { recursive: true });
  const s3Pid = startChild(
    entry,
    ["sandbox", "s3-server", "--host", s3Host, "--port", String(PORTS.s3), "--data", s3Dir],
    join(dir, "s3.log"),
    // s3rver encrypts list continuation tokens with DES, which OpenSSL 3 keeps in its legacy provider: without it,
    // every listing past 1,000 keys fails with a 500.
    ["--openssl-legacy-provider"],
  );
  const agentDirOf = (member: string) => join(dir, "nodes", member.replace(/^etcd-/, ""), "agent");
  await hooks.prepareAgents(configPath, agentDirOf);
  const nodes = names.map((n, i) => {
    const agentDir = agentDirOf(`etcd-${n}`);
    return {
      name: `etcd-${n}`,
      host: memberHosts[i]!,
      agentDir,
      pid: startChild(entry, ["agent", "--dir", agentDir], join(agentDir, "agent.log")),
    };
  });
  const info: SandboxInfo = { dir, configPath, s3: { endpoint: `http://${s3Host}:${PORTS.s3}`, pid: s3Pid }, nodes };
  await writeFile(sandboxFile(dir), JSON.stringify(info, null, 2) + "\n", { mode: 0o600 });
  try {
    await hooks.waitHealthy(configPath, 60_000);
  } catch (err) {
    await sandboxDown(dir);
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
    for (const n of info.nodes) stopped += await terminate([n.pid], 15_000);
    stopped += await terminate([info.s3.pid], 5_000);
    const etcdPids = await Promise.all(info.nodes.map((n) => readPid(join(n.agentDir, "..", "etcd.pid"))));
    const leftovers = etcdPids.filter((p): p is number => p !== undefined && isEtcd(p));
    stopped += await terminate(leftovers, 5_000);
    await rm(sandboxFile(dir), { force: true });
  }
  if (opts.purge) await rm(dir, { recursive: true, force: true });
  return { stopped };
}

function clusterYml(dir: string, hosts: string[], names: string[], s3Host: string, etcdBin: string): string {
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
      etcd:
        mode: managed
        binary_dir: ${etcdBin}`;
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
`;
}

function startChild(entry: string, args: string[], logFile: string, nodeFlags: string[] = []): number {
  const fd = openSync(logFile, "a", 0o600);
  try {
    // The single executable is its own entry point, and its command line is all Lifeboat's: Node's flags go in
    // NODE_OPTIONS there.
    const sea = isSea();
    const nodeOptions = [process.env.NODE_OPTIONS, ...nodeFlags].filter((o) => o).join(" ");
    const child = spawn(process.execPath, sea ? args : [...nodeFlags, entry, ...args], {
      detached: true,
      stdio: ["ignore", fd, fd],
      ...(sea && nodeFlags.length > 0 ? { env: { ...process.env, NODE_OPTIONS: nodeOptions } } : {}),
    });
    child.unref();
    if (child.pid === undefined) throw new Error(`could not start ${args.join(" ")}`);
    return child.pid;
  } finally {
    closeSync(fd);
  }
}

/** True while `pid` runs; an exited process that its parent (often init, for detached children) has not reaped yet is a
 * zombie and counts as gone. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

/** Guards against a recycled pid: only an etcd process is killed as a leftover. */
function isEtcd(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")[0]?.endsWith("etcd") ?? false;
  } catch {
    return false;
  }
}

async function readPid(path: string): Promise<number | undefined> {
  const text = await readFile(path, "utf8").catch(() => "");
  const pid = Number(text.trim());
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/** SIGTERM, wait up to `graceMs`, then SIGKILL. Returns how many were running. */
async function terminate(pids: number[], graceMs: number): Promise<number> {
  const alive = pids.filter(isAlive);
  for (const pid of alive) process.kill(pid, "SIGTERM");
  const deadline = Date.now() + graceMs;
  while (alive.some(isAlive) && Date.now() < deadline) await sleep(100);
  for (const pid of alive.filter(isAlive)) process.kill(pid, "SIGKILL");
  while (alive.some(isAlive)) await sleep(50);
  return alive.length;
}
