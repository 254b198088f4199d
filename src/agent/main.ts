/**
 * Starting and stopping one agent: load agent.json, connect to the local member (exactly one endpoint),
 * build the member controller (managed or external), serve the API over mutual TLS, and shut down cleanly.
 */
import { once } from "node:events";
import type { Server } from "node:https";
import { setTimeout as sleep } from "node:timers/promises";
import { findEtcdTools } from "../etcd/binaries.js";
import { EtcdMemberClient } from "../etcd/client.js";
import { ExternalMember, ManagedMember, type MemberController } from "../etcd/member.js";
import { LocalStore } from "../store/local.js";
import { openStore } from "../store/open.js";
import type { Logger } from "../util/log.js";
import { loadAgentConfig, readTls, type AgentConfig } from "./config.js";
import { createAgentServer, InFlight } from "./http.js";
import { splitHostPort } from "./client.js";
import { agentRouter } from "./service.js";
import { toolsFinder } from "./restore-routes.js";
import { RecurringAgent } from "../schedule/recurring.js";

export interface RunningAgent {
  config: AgentConfig;
  server: Server;
  /** Stops serving, then stops a managed member. Idempotent. */
  stop(): Promise<void>;
}

export async function startAgent(dir: string, log: Logger, version: string): Promise<RunningAgent> {
  const config = await loadAgentConfig(dir);
  const alog = log.child({ node: config.node });
  const tls = await readTls(config.dir, config.tls);
  const etcdTls = config.etcd.tls ? await readTls(config.dir, config.etcd.tls) : undefined;
  const member = await memberController(config, alog);
  const etcd = await EtcdMemberClient.connect({
    endpoint: config.etcd.clientUrl,
    ...(etcdTls ? { tls: etcdTls } : {}),
    timeoutMs: 10_000,
  });
  const local = new LocalStore(config.snapshotDir);
  // No save runs before the agent does: a temp file in the folder is what a crash cut short (a spooled snapshot
  // is as large as the database).
  const stale = await local.removeScratch();
  if (stale.length) alog.info("removed temp files a stopped save left", { files: stale.length });
  const recurring = new RecurringAgent({
    node: config.node,
    dir: config.dir,
    version,
    etcd,
    local,
    makeS3: (s) => openStore(s),
    log: alog,
    clock: () => new Date(),
    sleep: abortableSleep,
  });
  const { router, sessions } = agentRouter(
    {
      recurring,
      config,
      etcd,
      member,
      local,
      makeS3: (s) => openStore(s),
      log: alog,
      clock: () => new Date(),
      sleep: abortableSleep,
      version,
      tls,
      tools: toolsFinder(config.etcd.toolsDir),
    },
    // Tests set it: every answer is checked against its schema before it is sent.
    { checkResponses: process.env.LIFEBOAT_CHECK_RESPONSES === "1" },
  );
  const requests = new InFlight();
  const server = createAgentServer({ tls, router, log: alog, requests });
  const [host, port] = splitHostPort(config.listen);
  server.listen(port, host);
  await once(server, "listening");
  if (member.mode === "managed") await member.start();
  await recurring.start();
  alog.info("agent listening", { listen: config.listen, etcd: config.etcd.clientUrl, mode: member.mode });
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      alog.info("agent stopping");
      await stopWork(server, requests, recurring, alog);
      await sessions.closeAny("the agent is stopping");
      if (member.mode === "managed") await member.stop();
      etcd.close();
      alog.info("agent stopped");
    })());
  return { config, server, stop };
}

/** How long running requests get to end after the agent aborts them (a save removes its temp file in milliseconds). */
const STOP_GRACE_MS = 30_000;

/**
 * Stops taking requests, aborts every save (the recurring run and one-time requests alike) and waits until each has
 * removed what it left half-made and recorded itself as interrupted; only then may the member stop and the process
 * exit.
 */
async function stopWork(server: Server, requests: InFlight, recurring: RecurringAgent, log: Logger): Promise<void> {
  server.close();
  server.closeIdleConnections();
  const [drained] = await Promise.all([
    requests.stop(new Error("the agent is stopping"), STOP_GRACE_MS),
    recurring.stop(),
  ]);
  if (!drained) log.warn("requests still running after the grace period; stopping anyway", { running: requests.size });
  server.closeAllConnections();
}

/** A pause that ends early, rejecting, when `signal` aborts. */
function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return sleep(ms, undefined, signal ? { signal } : {});
}

async function memberController(config: AgentConfig, log: Logger): Promise<MemberController> {
  const { etcd } = config;
  if (etcd.mode === "external") {
    if (!etcd.external) throw new Error("agent.json: etcd.external is required in external mode");
    const { startCommand, stopCommand, statusCommand } = etcd.external;
    return new ExternalMember({
      startCommand: startCommand || refuse("start_command"),
      stopCommand: stopCommand || refuse("stop_command"),
      statusCheck: statusCommand ?? tcpProbe(etcd.clientUrl),
    });
  }
  if (!etcd.managed) throw new Error("agent.json: etcd.managed is required in managed mode");
  const m = etcd.managed;
  const tools = await findEtcdTools(etcd.toolsDir ? { dir: etcd.toolsDir } : {});
  const serverTls = m.serverTls;
  return new ManagedMember(
    {
      name: config.node,
      dataDir: etcd.dataDir,
      clientUrl: etcd.clientUrl,
      peerUrl: etcd.peerUrl,
      initialCluster: m.initialCluster,
      initialClusterState: m.initialClusterState,
      initialClusterToken: m.initialClusterToken,
      logFile: m.logFile,
      ...(m.quotaBackendBytes !== undefined ? { quotaBackendBytes: m.quotaBackendBytes } : {}),
      ...(serverTls
        ? {
            tls: {
              caFile: resolveIn(config, serverTls.ca),
              certFile: resolveIn(config, serverTls.cert),
              keyFile: resolveIn(config, serverTls.key),
            },
          }
        : {}),
    },
    tools,
    log,
  );
}

/** The command used when cluster.yml gives none: it fails, saying which key to set. */
function refuse(key: string): string {
  return `echo "lifeboat: this node has no lifeboat.etcd.${key} in cluster.yml (external mode)" >&2; exit 2`;
}

/** A status check for external mode: the member runs while its client port accepts connections. */
function tcpProbe(clientUrl: string): string {
  const url = new URL(clientUrl);
  return `bash -c 'exec 3<>/dev/tcp/${url.hostname}/${url.port || "2379"}'`;
}

function resolveIn(config: AgentConfig, path: string): string {
  return path.startsWith("/") ? path : `${config.dir}/${path}`;
}
