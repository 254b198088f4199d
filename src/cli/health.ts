/** `lifeboat etcd health`: each member's health as its own agent sees it, and the cluster verdict. */
import { routes } from "../api/routes.js";
import { describeError, ExitCode } from "../util/errors.js";
import type { CliDeps } from "./deps.js";
import { openCluster, type OpenCluster } from "./cluster.js";
import { formatBytes, table } from "./output.js";

export interface NodeHealth {
  node: string;
  agent: string;
  ok: boolean;
  isLeader: boolean;
  member?: string;
  memberId?: string;
  leaderId?: string;
  clusterId?: string;
  revision?: number;
  dbSize?: number;
  version?: string;
  alarms: string[];
  reason?: string;
}

export async function clusterHealth(cluster: OpenCluster): Promise<NodeHealth[]> {
  return Promise.all(
    cluster.agents.map(async ({ node, client }): Promise<NodeHealth> => {
      const base = { node: node.memberName, agent: node.agent.endpoint, alarms: [] as string[] };
      try {
        const h = await client.call(routes.health, { timeoutMs: 15_000 });
        const reason = !h.reachable
          ? `etcd unreachable: ${h.error ?? "no answer"}`
          : !h.hasLeader
            ? "no leader"
            : h.alarms.length
              ? `alarm: ${h.alarms.join(", ")}`
              : undefined;
        const out: NodeHealth = {
          ...base,
          ok: reason === undefined,
          isLeader: h.reachable && h.memberId !== undefined && h.memberId === h.leaderId,
          alarms: h.alarms,
        };
        for (const key of ["member", "memberId", "leaderId", "clusterId", "revision", "dbSize", "version"] as const) {
          if (h[key] !== undefined) Object.assign(out, { [key]: h[key] });
        }
        if (reason) out.reason = reason;
        return out;
      } catch (err) {
        return { ...base, ok: false, isLeader: false, reason: `agent: ${describeError(err)}` };
      }
    }),
  );
}

export async function runHealth(options: { config: string }, deps: CliDeps): Promise<NodeHealth[]> {
  const cluster = await openCluster(options.config, deps.out);
  try {
    const health = await clusterHealth(cluster);
    deps.out.line(
      table(
        ["NODE", "AGENT", "HEALTH", "LEADER", "REVISION", "DB SIZE", "VERSION", "NOTE"],
        health.map((h) => [
          h.node,
          h.agent,
          h.ok ? "healthy" : "UNHEALTHY",
          h.isLeader ? "yes" : "",
          h.revision === undefined ? "-" : String(h.revision),
          h.dbSize === undefined ? "-" : formatBytes(h.dbSize),
          h.version ?? "-",
          h.reason ?? "",
        ]),
      ),
    );
    const healthy = health.filter((h) => h.ok).length;
    deps.out.line(`${healthy} of ${health.length} members healthy`);
    deps.out.result({ nodes: health, healthy, total: health.length });
    deps.setExitCode(healthy === health.length ? ExitCode.ok : healthy === 0 ? ExitCode.failure : ExitCode.partial);
    return health;
  } finally {
    cluster.close();
  }
}
