/** Every member's health as its own agent sees it, and the one verdict per node the commands act on. */
import { healthProblem } from "../etcd/health.js";
import { describeError } from "../util/errors.js";
import type { Fleet, FleetNode } from "./fleet.js";

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

export async function clusterHealth(fleet: Pick<Fleet, "nodes">): Promise<NodeHealth[]> {
  return Promise.all(fleet.nodes.map(nodeHealth));
}

async function nodeHealth(fleetNode: FleetNode): Promise<NodeHealth> {
  const { node } = fleetNode;
  const base = { node: node.memberName, agent: node.agent.endpoint, alarms: [] as string[] };
  try {
    const h = await fleetNode.health();
    const reason = healthProblem(h);
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
}
