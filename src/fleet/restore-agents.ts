/**
 * The restore coordinator's view of the cluster (src/restore/fleet.ts) over the fleet: one `RestoreAgent` per etcd
 * node, S3 for the coordinator's own look-ups, the members' health, the state file, and the lineage push.
 */
import type { S3Settings } from "../config/s3-settings.js";
import type { IdentitySource } from "../crypto/age.js";
import type { RestoreNode } from "../restore/apply.js";
import type { CoordinatorDeps } from "../restore/coordinator.js";
import type { MemberHealth, RestoreAgent, S3Source } from "../restore/fleet.js";
import { s3Location } from "../store/s3-location.js";
import type { Fleet, FleetNode, FleetOutput, OpenStore } from "./fleet.js";
import { clusterHealth } from "./health.js";
import { pushLineage } from "./lineage.js";

/** The nodes of `fleet`; `s3` is the target a prepare from S3 downloads from (after the S3 flags). */
export function restoreAgents(
  fleet: Pick<Fleet, "nodes">,
  s3: S3Settings | undefined,
  identity?: IdentitySource,
): RestoreAgent[] {
  return fleet.nodes.map((n) => ({
    name: n.node.memberName,
    endpoint: n.node.agent.endpoint,
    openSession: (session, name, purpose) => n.restore.openSession(session, name, purpose),
    releaseSession: (session) => n.restore.releaseSession(session),
    listSnapshots: () => n.listSnapshots(),
    preflight: () => n.restore.preflight(),
    progress: () => n.restore.progress(),
    prepare: (session, name, source, replay) =>
      n.restore.prepare(session, name, source.kind === "s3" ? s3 : undefined, identity, replay),
    checkIdentity: (name, source) => n.restore.checkIdentity(name, source.kind === "s3" ? s3 : undefined, identity),
    node: (session) => restoreNode(n, session),
  }));
}

export function s3Source(s3: S3Settings | undefined, openStore: OpenStore): S3Source | undefined {
  return s3 ? { location: s3Location(s3), open: () => openStore(s3) } : undefined;
}

export async function memberHealth(fleet: Pick<Fleet, "nodes">): Promise<MemberHealth[]> {
  return (await clusterHealth(fleet)).map((h) => ({
    node: h.node,
    isLeader: h.isLeader,
    clusterId: h.clusterId,
    revision: h.revision,
  }));
}

/** Everything the coordinator needs from the cluster; the command adds output, clock, sleep and confirm. */
export function restoreView(
  fleet: Fleet,
  s3: S3Settings | undefined,
  openStore: OpenStore,
  out: FleetOutput,
  identity?: IdentitySource,
): Pick<CoordinatorDeps, "agents" | "s3" | "health" | "state" | "pushLineage"> {
  return {
    agents: restoreAgents(fleet, s3, identity),
    s3: s3Source(s3, openStore),
    health: () => memberHealth(fleet),
    state: { path: fleet.statePath, current: fleet.state },
    pushLineage: async () => void (await pushLineage(fleet, out)),
  };
}

/** One node as the executor sees it, every step carrying the session id. */
function restoreNode(n: FleetNode, session: string): RestoreNode {
  return {
    name: n.node.memberName,
    agent: n.node.agent.endpoint,
    fetch: (snapshot, peer, expect) => n.restore.fetch(session, snapshot, peer, expect),
    stopMember: () => n.stopMember(120_000),
    startMember: (timeoutMs) => n.startMember(timeoutMs),
    apply: (req) => n.restore.apply(session, req),
    rollback: (stamp) => n.restore.rollback(session, stamp),
    finish: (snapshot) => n.restore.finish(session, snapshot),
    health: () => n.restore.health(),
  };
}
