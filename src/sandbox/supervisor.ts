/**
 * The sandbox's stand-in for systemd or Docker in external mode: each etcd member runs under a supervisor process of
 * its own, outside every agent, and the agents start, stop and check it only through the shell commands written
 * into cluster.yml (`lifeboat sandbox member-start|member-stop --spec FILE`, and a status check), as they would `docker start etcd`.
 *
 * Semantics follow `Restart=always` and Docker's restart policy: a member that exits on its own is started again
 * (after a backoff); one stopped by the stop command stays stopped. `start` returns once the supervisor runs (the
 * agent then polls the status command, as it polls `systemctl is-active`); `stop` returns once the supervisor and
 * its etcd have exited. The status command (plain shell, written by the sandbox) exits 0 while both run.
 */
import { spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { z } from "zod";
import { DEFAULT_CLUSTER_TOKEN, findMember, initialClusterOf } from "../agent/bundle.js";
import type { ClusterConfig } from "../config/cluster.js";
import { readJsonFile } from "../config/json-file.js";
import { etcdServerFiles, writePemFiles } from "../config/cert-files.js";
import type { ClusterState } from "../config/state.js";
import { findEtcdTools } from "../etcd/binaries.js";
import { ManagedMember } from "../etcd/managed-member.js";
import { pidFileOf, type MemberSpec } from "../etcd/member-spec.js";
import { ConfigError, describeError } from "../util/errors.js";
import { writeFileAtomic } from "../util/fs.js";
import type { Logger } from "../util/log.js";
import { etcdAlive, readPid, runsWith, selfCommand } from "./processes.js";

const Tls = z.object({ caFile: z.string(), certFile: z.string(), keyFile: z.string() });

/** `member.json`: one member's etcd command line (MemberSpec) and where its binaries are. */
export const SupervisedMemberSchema = z.object({
  name: z.string().min(1),
  dataDir: z.string().min(1),
  clientUrl: z.string().url(),
  peerUrl: z.string().url(),
  initialCluster: z.string().min(1),
  initialClusterState: z.enum(["new", "existing"]),
  initialClusterToken: z.string().min(1),
  tls: Tls.optional(),
  logFile: z.string().min(1),
  binaryDir: z.string().min(1),
  quotaBackendBytes: z.number().int().positive().optional(),
});
export type SupervisedMember = z.infer<typeof SupervisedMemberSchema>;

const STOP_TIMEOUT_MS = 30_000;

export async function readMemberSpec(path: string): Promise<SupervisedMember> {
  const spec = await readJsonFile(path, SupervisedMemberSchema);
  if (!spec) throw new ConfigError([{ path: "", message: `cannot read ${path}: no such file` }], path);
  return spec;
}

export async function writeMemberSpec(path: string, spec: SupervisedMember): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(spec, null, 2) + "\n", 0o600);
}

/**
 * Writes the spec and the etcd certificates (RKE's names: `kube-ca.pem`, `kube-etcd-<ip>.pem`, `-key.pem`, 0600) of
 * one member the sandbox runs outside its agent. The state file must already hold the member's etcd certificate.
 */
export async function writeSupervisedMember(options: {
  config: ClusterConfig;
  state: ClusterState;
  memberName: string;
  specPath: string;
}): Promise<void> {
  const node = findMember(options.config, options.memberName);
  if (node.etcd.mode !== "external" || !node.etcd.toolsDir) {
    throw new Error(`${node.memberName}: a supervised member needs external mode and a tools_dir`);
  }
  const dir = dirname(options.specPath);
  const [caFile, certFile, keyFile] = await writePemFiles(dir, etcdServerFiles(options.state, node));
  const base = dirname(node.dataDir);
  await writeMemberSpec(options.specPath, {
    name: node.memberName,
    dataDir: node.dataDir,
    clientUrl: node.clientUrl,
    peerUrl: node.peerUrl,
    initialCluster: initialClusterOf(options.config),
    initialClusterState: "new",
    initialClusterToken: DEFAULT_CLUSTER_TOKEN,
    ...(node.clientUrl.startsWith("https:") && caFile && certFile && keyFile
      ? { tls: { caFile, certFile, keyFile } }
      : {}),
    logFile: join(base, "etcd.log"),
    binaryDir: node.etcd.toolsDir,
    // The sandbox's supervisor is the operator's etcd here: it takes the quota that cluster.yml asks of managed ones.
    ...(options.config.lifeboat.quotaBackendBytes !== undefined
      ? { quotaBackendBytes: options.config.lifeboat.quotaBackendBytes }
      : {}),
  });
}

/** The supervisor's pid file, beside the spec. */
export function supervisorPidFile(specPath: string): string {
  return join(dirname(specPath), "supervisor.pid");
}

/** Starts the member's supervisor unless one runs already. */
export async function startSupervised(specPath: string, entry: string): Promise<"started" | "already running"> {
  const spec = await readMemberSpec(specPath);
  if (supervisorAlive(await readPid(supervisorPidFile(specPath)))) return "already running";
  const fd = openSync(join(dirname(specPath), "supervisor.log"), "a", 0o600);
  try {
    const [command, ...self] = selfCommand(entry);
    const child = spawn(command!, [...self, ...SUPERVISE_ARGS, "--spec", specPath], {
      detached: true,
      stdio: ["ignore", fd, fd],
    });
    child.unref();
    if (child.pid === undefined) throw new Error(`could not start the supervisor of ${spec.name}`);
    await writeFileAtomic(supervisorPidFile(specPath), `${child.pid}\n`, 0o600);
  } finally {
    closeSync(fd);
  }
  return "started";
}

/** Stops the supervisor (which stops its etcd) and waits until both have exited. */
export async function stopSupervised(specPath: string): Promise<"stopped" | "not running"> {
  const spec = await readMemberSpec(specPath);
  const pidFile = supervisorPidFile(specPath);
  const pid = await readPid(pidFile);
  const etcdPid = await readPid(pidFileOf(spec));
  if (!supervisorAlive(pid) && !etcdAlive(etcdPid)) {
    await rm(pidFile, { force: true });
    return "not running";
  }
  if (pid !== undefined && supervisorAlive(pid)) process.kill(pid, "SIGTERM");
  const deadline = Date.now() + STOP_TIMEOUT_MS;
  while ((supervisorAlive(pid) || etcdAlive(etcdPid)) && Date.now() < deadline) await sleep(100);
  // A supervisor that did not stop its member in time: end both, as systemd does after TimeoutStopSec.
  // Each pid only while it is still that process: a pid file can name a pid since given to another process.
  if (supervisorAlive(pid)) process.kill(pid!, "SIGKILL");
  if (etcdAlive(etcdPid)) process.kill(etcdPid!, "SIGKILL");
  while (supervisorAlive(pid) || etcdAlive(etcdPid)) await sleep(50);
  await rm(pidFile, { force: true });
  return "stopped";
}

/**
 * The supervisor's own loop (`lifeboat sandbox supervise`): runs etcd, starts it again whenever it fails to start,
 * and stops it on SIGTERM. Resolves when stopped.
 */
export async function supervise(specPath: string, log: Logger): Promise<void> {
  const spec = await readMemberSpec(specPath);
  const tools = await findEtcdTools({ dir: spec.binaryDir });
  const { binaryDir: _, ...memberSpec } = spec;
  const member = new ManagedMember(memberSpec satisfies MemberSpec, tools, log);
  const stopping = new Promise<void>((resolve) => {
    for (const signal of ["SIGTERM", "SIGINT"] as const) process.once(signal, () => resolve());
  });
  let stopped = false;
  void stopping.then(() => (stopped = true));
  while (!stopped) {
    try {
      // Once started, ManagedMember restarts an etcd that exits on its own; a failed first start is retried here.
      await member.start();
      break;
    } catch (err) {
      log.warn("etcd did not start; trying again", { member: spec.name, error: describeError(err) });
      await Promise.race([sleep(1000), stopping]);
    }
  }
  await stopping;
  await member.stop();
  log.info("stopped", { member: spec.name });
}

/** The supervisor's command (after Lifeboat's own), as it is started and as its pid is recognised. */
const SUPERVISE_ARGS = ["sandbox", "supervise"];

/** Guards against recycled pids: only a process that is this supervisor counts. */
function supervisorAlive(pid: number | undefined): boolean {
  return runsWith(pid, SUPERVISE_ARGS);
}
