/**
 * The restore coordinator's view of the cluster (src/restore/fleet.ts), implemented over the agent API: one
 * `RestoreAgent` per etcd node, S3 for the coordinator's own look-ups, and the members' health.
 */
import type { AgentClient } from "../agent/client.js";
import { routes } from "../api/routes.js";
import type { S3Settings } from "../config/s3-settings.js";
import type { RestoreNode } from "../restore/apply.js";
import type { MemberHealth, RestoreAgent, S3Source } from "../restore/fleet.js";
import type { OpenCluster } from "./cluster.js";
import { clusterHealth } from "./health.js";
import { openStore } from "../store/open.js";
import { s3Location } from "../store/s3-location.js";

const LONG_MS = 900_000;

/** The agents of `cluster`; `s3` is the target a prepare from S3 downloads from (after the S3 flags). */
export function restoreAgents(cluster: OpenCluster, s3: S3Settings | undefined): RestoreAgent[] {
  return cluster.agents.map(({ node, client }) => ({
    name: node.memberName,
    endpoint: node.agent.endpoint,
    openSession: (session, name, purpose) =>
      client.call(routes.openSession, { body: { session, name, purpose }, timeoutMs: 30_000 }),
    releaseSession: (session) => client.call(routes.releaseSession, { body: { session }, timeoutMs: 30_000 }),
    listSnapshots: async () => (await client.call(routes.listSnapshots)).snapshots,
    preflight: () => client.call(routes.preflight),
    prepare: (session, name, source) =>
      client.call(routes.prepare, {
        body: { session, name, ...(source.kind === "s3" && s3 ? { s3 } : {}) },
        timeoutMs: 600_000,
      }),
    node: (session) => restoreNode(node.memberName, node.agent.endpoint, client, session),
  }));
}

export function s3Source(s3: S3Settings | undefined): S3Source | undefined {
  return s3 ? { location: s3Location(s3), open: () => openStore(s3) } : undefined;
}

export async function memberHealth(cluster: OpenCluster): Promise<MemberHealth[]> {
  return (await clusterHealth(cluster)).map((h) => ({
    node: h.node,
    isLeader: h.isLeader,
    clusterId: h.clusterId,
    revision: h.revision,
  }));
}

/** One node over the agent API, every step carrying the session id. */
function restoreNode(name: string, agent: string, client: AgentClient, session: string): RestoreNode {
  return {
    name,
    agent,
    fetch: (snapshot, peer, sha256) =>
      client.call(routes.fetch, { body: { session, name: snapshot, peer, sha256 }, timeoutMs: LONG_MS }),
    digest: (snapshot) => client.call(routes.digest, { params: { name: snapshot }, timeoutMs: LONG_MS }),
    stopMember: async () => void (await client.call(routes.stopMember, { timeoutMs: 120_000 })),
    startMember: async (timeoutMs) => void (await client.call(routes.startMember, { timeoutMs })),
    apply: (req) => client.call(routes.apply, { body: { session, ...req }, timeoutMs: LONG_MS }),
    rollback: (stamp) =>
      client.call(routes.rollback, { body: { session, ...(stamp ? { stamp } : {}) }, timeoutMs: 120_000 }),
    finish: async (snapshot) =>
      (await client.call(routes.finish, { body: { session, name: snapshot }, timeoutMs: LONG_MS })).hooks,
    health: () => client.call(routes.health, { timeoutMs: 10_000 }),
  };
}
