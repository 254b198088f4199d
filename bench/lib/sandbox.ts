/**
 * A sandbox for the benchmark, started and stopped through the real CLI (`lifeboat sandbox up|down`), plus what the
 * cases need around it: variants of cluster.yml (no S3, another S3 folder) that share the sandbox's state file, an
 * etcd client bound to one member, the TLS files of an agent folder, and the agents' pids.
 */
import { copyFile, mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse, stringify } from "yaml";
import { statePathFor } from "../../src/config/cluster.js";
import { EtcdMemberClient } from "../../src/etcd/client.js";
import { S3RVER_ACCESS_KEY } from "../../src/sandbox/s3server.js";
import { SANDBOX_BUCKET, SANDBOX_FOLDER, type SandboxInfo } from "../../src/sandbox/sandbox.js";
import { openStore } from "../../src/store/open.js";
import type { Store } from "../../src/store/store.js";
import { measure, measureOk, type MeasureOptions, type Measured } from "./proc.js";

/** The CLI entry the benchmark drives, as an operator would run it. */
export const LIFEBOAT_BIN = fileURLToPath(new URL("../../bundle/cli/bin.js", import.meta.url));

/** Runs `lifeboat <args>` as a measured child process. */
export function lifeboat(args: readonly string[], opts: MeasureOptions = {}): Promise<Measured> {
  return measure(process.execPath, [LIFEBOAT_BIN, ...args], opts);
}

/** Runs `lifeboat <args>`, rejecting on a non-zero exit. */
export function lifeboatOk(args: readonly string[], opts: MeasureOptions = {}): Promise<Measured> {
  return measureOk(process.execPath, [LIFEBOAT_BIN, ...args], opts);
}

export interface MemberTls {
  caFile: string;
  certFile: string;
  keyFile: string;
}

export interface BenchSandbox {
  dir: string;
  info: SandboxInfo;
  /** cluster.yml as the sandbox wrote it (with S3). */
  config: string;
  /** TLS files of member `i`'s agent folder: kube-ca, and the etcd client certificate agents use. */
  clientTls(i: number): MemberTls;
  /** An etcd client bound to member `i` (closed by `down`). */
  etcd(i: number): Promise<EtcdMemberClient>;
  /** A store on the sandbox's S3 server, in `folder` (default: the folder cluster.yml names). Close it after use. */
  s3(folder?: string): Store;
  /** A copy of cluster.yml (same state file) changed by `edit`; returns its path. */
  variant(name: string, edit: (doc: ClusterYml) => void): Promise<string>;
  down(keep?: boolean): Promise<void>;
}

/** The parts of cluster.yml the variants touch; everything else is carried over untouched. */
export interface ClusterYml {
  services: { etcd: { backup_config: { s3backupconfig?: Record<string, unknown> } } };
  lifeboat?: Record<string, unknown>;
  [key: string]: unknown;
}

/** Sandboxes started and not yet stopped, so that an interrupted run can still stop them. */
const running = new Set<string>();

/** Stops every sandbox this process started (for a SIGINT mid-run); never throws. */
export async function stopAllSandboxes(): Promise<void> {
  for (const dir of [...running]) {
    await measure(process.execPath, [LIFEBOAT_BIN, "sandbox", "down", "--dir", dir, "--purge"]).catch(() => undefined);
    running.delete(dir);
  }
}

export async function startSandbox(opts: {
  nodes: number;
  etcdSeries?: string | undefined;
  /** etcd's backend quota for every member (`sandbox up --quota-backend-bytes`); default etcd's 2 GiB. */
  quotaBackendBytes?: number | undefined;
}): Promise<BenchSandbox> {
  const dir = await mkdtemp(join(tmpdir(), "lifeboat-bench-"));
  const args = ["--output", "json", "sandbox", "up", "--dir", dir, "--nodes", String(opts.nodes)];
  if (opts.etcdSeries) args.push("--etcd-series", opts.etcdSeries);
  if (opts.quotaBackendBytes) args.push("--quota-backend-bytes", String(opts.quotaBackendBytes));
  running.add(dir);
  const up = await lifeboatOk(args, { timeoutMs: 120_000, env: { NODE_OPTIONS: withLegacyProvider() } });
  const info = JSON.parse(up.stdout) as SandboxInfo;
  const clients: EtcdMemberClient[] = [];
  const clientTls = (i: number): MemberTls => {
    const agentDir = nodeOf(info, i).agentDir;
    return {
      caFile: join(agentDir, "ca.pem"),
      certFile: join(agentDir, "etcd-client.pem"),
      keyFile: join(agentDir, "etcd-client-key.pem"),
    };
  };
  return {
    dir,
    info,
    config: info.configPath,
    clientTls,
    etcd: async (i) => {
      const tls = clientTls(i);
      const [caPEM, certPEM, keyPEM] = await Promise.all(
        [tls.caFile, tls.certFile, tls.keyFile].map((f) => readFile(f, "utf8")),
      );
      const client = await EtcdMemberClient.connect({
        endpoint: `https://${nodeOf(info, i).host}:2379`,
        tls: { caPEM: caPEM!, certPEM: certPEM!, keyPEM: keyPEM! },
        timeoutMs: 30_000,
      });
      clients.push(client);
      return client;
    },
    s3: (folder = SANDBOX_FOLDER) =>
      openStore({
        endpoint: info.s3.endpoint,
        bucket: SANDBOX_BUCKET,
        folder,
        accessKey: S3RVER_ACCESS_KEY,
        secretKey: S3RVER_ACCESS_KEY,
        addressing: "path",
      }),
    variant: (name, edit) => writeVariant(info.configPath, name, edit),
    down: async (keep = false) => {
      clients.forEach((c) => c.close());
      running.delete(dir);
      if (keep) return;
      await lifeboatOk(["sandbox", "down", "--dir", dir, "--purge"], { timeoutMs: 120_000 });
    },
  };
}

/**
 * s3rver paginates listings (over 1,000 keys) with DES continuation tokens, which Node 20's OpenSSL 3 only has in its
 * legacy provider: without it every second page is a 500. The S3 server child inherits this from `sandbox up`.
 */
function withLegacyProvider(): string {
  const current = process.env.NODE_OPTIONS ?? "";
  return current.includes("--openssl-legacy-provider") ? current : `${current} --openssl-legacy-provider`.trim();
}

function nodeOf(info: SandboxInfo, i: number): SandboxInfo["nodes"][number] {
  const node = info.nodes[i];
  if (!node) throw new Error(`the sandbox has no member ${i}`);
  return node;
}

/** Writes `<dir>/cluster-<name>.yml` and the state file beside it (the CLI reads `<basename>.rkestate`). */
async function writeVariant(configPath: string, name: string, edit: (doc: ClusterYml) => void): Promise<string> {
  const doc = parse(await readFile(configPath, "utf8")) as ClusterYml;
  edit(doc);
  const base = basename(configPath, ".yml");
  const path = join(dirname(configPath), `${base}-${name}.yml`);
  await writeFile(path, stringify(doc), { mode: 0o600 });
  await copyFile(statePathFor(configPath), statePathFor(path));
  return path;
}
