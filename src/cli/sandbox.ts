/** `lifeboat sandbox up|status|down` and the hidden `sandbox s3-server` the sandbox runs as a child. */
import { once } from "node:events";
import { writeAgentBundle } from "../agent/bundle.js";
import {
  agentRunning,
  readSandbox,
  s3Running,
  sandboxDown,
  sandboxUp,
  SANDBOX_BUCKET,
  type SandboxInfo,
} from "../sandbox/sandbox.js";
import { startS3Server } from "../sandbox/s3server.js";
import { startSupervised, stopSupervised, supervise, writeSupervisedMember } from "../sandbox/supervisor.js";
import { ensureClusterPki, writeState } from "../config/state.js";
import { ExitCode, UserError } from "../util/errors.js";
import type { CliDeps } from "./deps.js";
import { clusterHealth, type NodeHealth } from "../fleet/health.js";
import { loadConfigAndState } from "../fleet/open.js";
import { formatElapsed, table } from "./output.js";

export interface SandboxUpOptions {
  dir: string;
  nodes: number;
  etcdSeries?: string | undefined;
  etcdMode?: "managed" | "external" | undefined;
  quotaBackendBytes?: number | undefined;
}

export async function startSandbox(options: SandboxUpOptions, deps: CliDeps): Promise<SandboxInfo> {
  return sandboxUp(options, {
    prepareAgents: async (configPath, agentDirOf, memberSpecOf) => {
      // The sandbox is a new cluster: it creates its CA, as `lifeboat cert init` does.
      const loaded = await loadConfigAndState(configPath, deps.out, { init: true });
      const { config } = loaded;
      let { state } = loaded;
      if (memberSpecOf) {
        // The members run outside the agents, with server certificates from the cluster CA (as RKE's etcd does).
        const members = config.etcdNodes.map((n) => n.memberName);
        ({ state } = await ensureClusterPki(state, config, { etcdServerCertsFor: members }));
        await writeState(loaded.statePath, state);
        for (const memberName of members) {
          await writeSupervisedMember({ config, state, memberName, specPath: memberSpecOf(memberName) });
        }
      }
      for (const node of config.etcdNodes) {
        await writeAgentBundle({ config, state, memberName: node.memberName, outDir: agentDirOf(node.memberName) });
      }
    },
    waitHealthy: async (configPath, timeoutMs) => {
      await waitHealthy(configPath, timeoutMs, deps);
    },
  });
}

/** Polls every agent until each member is healthy with a leader. */
export async function waitHealthy(configPath: string, timeoutMs: number, deps: CliDeps): Promise<NodeHealth[]> {
  const fleet = await deps.openFleet(configPath, deps.out, 5_000);
  try {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const health = await clusterHealth(fleet);
      if (health.every((h) => h.ok)) return health;
      if (Date.now() > deadline) {
        const bad = health.filter((h) => !h.ok).map((h) => `${h.node}: ${h.reason ?? "?"}`);
        throw new Error(`cluster not healthy after ${timeoutMs} ms: ${bad.join("; ")}`);
      }
      await deps.sleep(250);
    }
  } finally {
    fleet.close();
  }
}

export async function runSandboxUp(options: SandboxUpOptions, deps: CliDeps): Promise<void> {
  const started = Date.now();
  const info = await startSandbox(options, deps);
  deps.out.line(`sandbox up in ${formatElapsed(Date.now() - started)}: ${info.dir}`);
  deps.out.line(`  cluster.yml  ${info.configPath}`);
  deps.out.line(`  S3           ${info.s3.endpoint} bucket ${SANDBOX_BUCKET}`);
  deps.out.line(
    info.etcdMode === "external"
      ? "  etcd         external: one supervisor per member, started and stopped by the agents through cluster.yml's commands"
      : "  etcd         managed: each agent runs its member",
  );
  deps.out.line(
    table(
      ["MEMBER", "ADDRESS", "AGENT PID"],
      info.nodes.map((n) => [n.name, n.host, String(n.pid)]),
    ),
  );
  deps.out.line(`try: lifeboat etcd health --config ${info.configPath}`);
  deps.out.result(info);
}

export async function runSandboxStatus(options: { dir: string }, deps: CliDeps): Promise<void> {
  const info = await readSandbox(options.dir);
  if (!info)
    throw new UserError(`no sandbox in ${options.dir} (start one with: lifeboat sandbox up --dir ${options.dir})`);
  const fleet = await deps.openFleet(info.configPath, deps.out, 5_000);
  try {
    const health = await clusterHealth(fleet);
    const rows = info.nodes.map((n) => {
      const h = health.find((x) => x.node === n.name);
      return [
        n.name,
        n.host,
        agentRunning(n) ? `running (${n.pid})` : "DEAD",
        h?.ok ? "healthy" : `UNHEALTHY ${h?.reason ?? ""}`,
        h?.isLeader ? "yes" : "",
      ];
    });
    rows.push(["s3", info.s3.endpoint, s3Running(info) ? `running (${info.s3.pid})` : "DEAD", "", ""]);
    deps.out.line(table(["PROCESS", "ADDRESS", "AGENT", "MEMBER", "LEADER"], rows));
    deps.out.result({ ...info, health });
    if (!health.every((h) => h.ok)) deps.setExitCode(ExitCode.partial);
  } finally {
    fleet.close();
  }
}

export async function runSandboxDown(options: { dir: string; purge: boolean }, deps: CliDeps): Promise<void> {
  const { stopped } = await sandboxDown(options.dir, { purge: options.purge });
  deps.out.line(`sandbox down: stopped ${stopped} process(es)${options.purge ? `, removed ${options.dir}` : ""}`);
  deps.out.result({ stopped });
}

/** `lifeboat sandbox member-start|member-stop --spec FILE`: the external-mode commands written into cluster.yml. */
export async function runSandboxMember(
  action: "start" | "stop",
  options: { spec: string },
  deps: CliDeps,
): Promise<void> {
  const entry = process.argv[1] ?? "";
  deps.out.line(action === "start" ? await startSupervised(options.spec, entry) : await stopSupervised(options.spec));
}

export async function runSupervisor(options: { spec: string }, deps: CliDeps): Promise<void> {
  await supervise(options.spec, deps.log);
}

export async function runS3Server(options: { host: string; port: number; data: string }): Promise<void> {
  const server = await startS3Server({
    host: options.host,
    port: options.port,
    dir: options.data,
    buckets: [SANDBOX_BUCKET],
  });
  await Promise.race([once(process, "SIGTERM"), once(process, "SIGINT")]);
  await server.stop();
}
