/**
 * The restore coordinator's view of the cluster (src/restore/fleet.ts), implemented over the agent API: one
 * `RestoreAgent` per etcd node, S3 for the coordinator's own look-ups, and the members' health.
 */
import type { AgentClient } from "../agent/client.js";
import type { S3Settings } from "../config/s3-settings.js";
import type { RestoreNode } from "../restore/apply.js";
import type { AgentPreflight, MemberHealth, Prepared, RestoreAgent, S3Source } from "../restore/fleet.js";
import type { CatalogEntry } from "../snapshot/catalog.js";
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
      client.json("POST", "/v1/restore/session", { session, name, purpose }, 30_000),
    releaseSession: (session) => client.json("POST", "/v1/restore/session/release", { session }, 30_000),
    listSnapshots: async () => (await client.json<{ snapshots: CatalogEntry[] }>("GET", "/v1/snapshots")).snapshots,
    preflight: () => client.json<AgentPreflight>("GET", "/v1/restore/preflight"),
    prepare: (session, name, source) =>
      client.json<Prepared>(
        "POST",
        "/v1/restore/prepare",
        { session, name, ...(source.kind === "s3" && s3 ? { s3 } : {}) },
        600_000,
      ),
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
  const enc = encodeURIComponent;
  return {
    name,
    agent,
    fetch: (snapshot, peer, sha256) =>
      client.json("POST", "/v1/restore/fetch", { session, name: snapshot, peer, sha256 }, LONG_MS),
    digest: (snapshot) => client.json("GET", `/v1/restore/${enc(snapshot)}/digest`, undefined, LONG_MS),
    stopMember: async () => void (await client.json("POST", "/v1/member/stop", undefined, 120_000)),
    startMember: async (timeoutMs) => void (await client.json("POST", "/v1/member/start", undefined, timeoutMs)),
    apply: (req) => client.json("POST", "/v1/restore/apply", { session, ...req }, LONG_MS),
    rollback: (stamp) => client.json("POST", "/v1/restore/rollback", { session, ...(stamp ? { stamp } : {}) }, 120_000),
    finish: async (snapshot) =>
      (await client.json<{ hooks: [] }>("POST", "/v1/restore/finish", { session, name: snapshot }, LONG_MS)).hooks,
    health: () => client.json("GET", "/v1/health", undefined, 10_000),
  };
}
