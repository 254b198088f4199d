/**
 * The one real FleetNode: a node's operations over its agent's HTTPS API (src/agent/client.ts). Every call the CLI
 * makes to an agent is here, with its route and timeout; nothing else in src/cli or src/fleet talks to an agent.
 */
import type { AgentClient } from "../agent/client.js";
import type { SaveEvent } from "../agent/api.js";
import type { EtcdNode } from "../config/cluster.js";
import type { AgentPreflight, Prepared } from "../restore/fleet.js";
import type { VerifyReport } from "../restore/verify.js";
import type { NodeStatus } from "../schedule/recurring.js";
import type { CatalogEntry } from "../snapshot/catalog.js";
import type { AgentHealth, FleetNode, NodeCleanupAnswer, NodePruneAnswer, NodeRestoreOps } from "./fleet.js";

/** Restore steps that extract, copy or hash a whole snapshot. */
const LONG_MS = 900_000;

export function agentNode(node: EtcdNode, client: AgentClient): FleetNode {
  return {
    node,
    health: () => client.json<AgentHealth>("GET", "/v1/health", undefined, 15_000),
    status: () => client.json<NodeStatus>("GET", "/v1/status"),
    listSnapshots: async () => (await client.json<{ snapshots: CatalogEntry[] }>("GET", "/v1/snapshots")).snapshots,
    save: (body, onEvent) => client.stream("POST", "/v1/snapshots", body, (raw) => onEvent(raw as SaveEvent)),
    upload: (name, settings) =>
      client.json<{ verified: string }>(
        "POST",
        `/v1/snapshots/${encodeURIComponent(name)}/upload`,
        { s3: settings },
        600_000,
      ),
    deleteSnapshot: async (name) => void (await client.json("DELETE", `/v1/snapshots/${encodeURIComponent(name)}`)),
    prune: (policy, dryRun) => client.json<NodePruneAnswer>("POST", "/v1/prune", { policy, dryRun }, 120_000),
    pushSchedule: (body) => client.json<{ since?: string }>("PUT", "/v1/schedule", body),
    pushLineage: (lineage) => client.json<{ updated: boolean }>("PUT", "/v1/schedule/lineage", { lineage }),
    cleanup: (body) => client.json<NodeCleanupAnswer>("POST", "/v1/restore/cleanup", body, 600_000),
    stopMember: async (timeoutMs) => void (await client.json("POST", "/v1/member/stop", undefined, timeoutMs)),
    startMember: async (timeoutMs) => void (await client.json("POST", "/v1/member/start", undefined, timeoutMs)),
    restore: restoreOps(client),
  };
}

/** The restore steps, every one carrying the session id. */
function restoreOps(client: AgentClient): NodeRestoreOps {
  const enc = encodeURIComponent;
  return {
    openSession: (session, name, purpose) =>
      client.json("POST", "/v1/restore/session", { session, name, purpose }, 30_000),
    releaseSession: (session) => client.json("POST", "/v1/restore/session/release", { session }, 30_000),
    preflight: () => client.json<AgentPreflight>("GET", "/v1/restore/preflight"),
    prepare: (session, name, s3) =>
      client.json<Prepared>("POST", "/v1/restore/prepare", { session, name, ...(s3 ? { s3 } : {}) }, 600_000),
    fetch: (session, snapshot, peer, sha256) =>
      client.json("POST", "/v1/restore/fetch", { session, name: snapshot, peer, sha256 }, LONG_MS),
    digest: (snapshot) => client.json("GET", `/v1/restore/${enc(snapshot)}/digest`, undefined, LONG_MS),
    apply: (session, req) => client.json("POST", "/v1/restore/apply", { session, ...req }, LONG_MS),
    rollback: (session, stamp) =>
      client.json("POST", "/v1/restore/rollback", { session, ...(stamp ? { stamp } : {}) }, 120_000),
    finish: async (session, snapshot) =>
      (await client.json<{ hooks: [] }>("POST", "/v1/restore/finish", { session, name: snapshot }, LONG_MS)).hooks,
    health: () => client.json("GET", "/v1/health", undefined, 10_000),
    verify: (session, name) =>
      client.json<VerifyReport & { node: string }>("POST", "/v1/restore/verify", { session, name }, 600_000),
  };
}
