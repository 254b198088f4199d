/** `lifeboat etcd health`: each member's health as its own agent sees it, and the cluster verdict. */
import { clusterHealth, type NodeHealth } from "../fleet/health.js";
import { exitCodeOfFailures } from "../util/errors.js";
import type { CliDeps } from "./deps.js";
import { formatBytes, table } from "./output.js";

export async function runHealth(options: { config: string }, deps: CliDeps): Promise<NodeHealth[]> {
  const fleet = await deps.openFleet(options.config, deps.out);
  try {
    const health = await clusterHealth(fleet);
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
    deps.setExitCode(exitCodeOfFailures(health.length - healthy, health.length));
    return health;
  } finally {
    fleet.close();
  }
}
