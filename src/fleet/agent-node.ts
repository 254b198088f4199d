/**
 * The one real FleetNode: a node's operations over its agent's HTTPS API. Every call the CLI makes to an agent is
 * here, by its entry in the route table (src/api/routes.ts), with its timeout; the client parses every answer with
 * the route's schema. Nothing else in src/cli or src/fleet talks to an agent.
 */
import type { AgentClient } from "../agent/client.js";
import { routes } from "../api/routes.js";
import type { EtcdNode } from "../config/cluster.js";
import type { FleetNode, NodeRestoreOps } from "./fleet.js";

/** Restore steps that extract, copy or hash a whole snapshot. */
const LONG_MS = 900_000;

export function agentNode(node: EtcdNode, client: AgentClient): FleetNode {
  return {
    node,
    health: () => client.call(routes.health, { timeoutMs: 15_000 }),
    info: () => client.call(routes.info, { timeoutMs: 15_000 }),
    status: () => client.call(routes.status),
    listSnapshots: async () => (await client.call(routes.listSnapshots)).snapshots,
    save: (body, onEvent) => client.callStream(routes.saveSnapshot, { body, onEvent }),
    upload: (name, settings, encryption) =>
      client.call(routes.uploadSnapshot, {
        params: { name },
        body: { s3: settings, ...(encryption ? { encryption } : {}) },
        timeoutMs: 600_000,
      }),
    deleteSnapshot: async (name) => void (await client.call(routes.deleteSnapshot, { params: { name } })),
    prune: (policy, dryRun) => client.call(routes.prune, { body: { policy, dryRun }, timeoutMs: 120_000 }),
    pushSchedule: (body) => client.call(routes.pushSchedule, { body }),
    pushLineage: (lineage) => client.call(routes.pushLineage, { body: { lineage: [...lineage] } }),
    cleanup: (body) => client.call(routes.cleanup, { body, timeoutMs: 600_000 }),
    stopMember: async (timeoutMs) => void (await client.call(routes.stopMember, { timeoutMs })),
    startMember: async (timeoutMs) => void (await client.call(routes.startMember, { timeoutMs })),
    restore: restoreOps(client),
  };
}

/** The restore steps, every one carrying the session id. */
function restoreOps(client: AgentClient): NodeRestoreOps {
  return {
    openSession: (session, name, purpose) =>
      client.call(routes.openSession, { body: { session, name, purpose }, timeoutMs: 30_000 }),
    releaseSession: (session) => client.call(routes.releaseSession, { body: { session }, timeoutMs: 30_000 }),
    preflight: () => client.call(routes.preflight),
    progress: () => client.call(routes.restoreProgress, { timeoutMs: 10_000 }),
    prepare: (session, name, s3, identity, replay) =>
      client.call(routes.prepare, {
        body: {
          session,
          name,
          ...(s3 ? { s3 } : {}),
          ...(identity ? { identity } : {}),
          ...(replay ? { replay } : {}),
        },
        timeoutMs: 600_000,
      }),
    checkIdentity: (name, s3, identity) =>
      client.call(routes.checkIdentity, {
        body: { name, ...(s3 ? { s3 } : {}), ...(identity ? { identity } : {}) },
        timeoutMs: 60_000,
      }),
    fetch: (session, snapshot, peer, expect) =>
      client.call(routes.fetch, { body: { session, name: snapshot, peer, ...expect }, timeoutMs: LONG_MS }),
    apply: (session, req) => client.call(routes.apply, { body: { session, ...req }, timeoutMs: LONG_MS }),
    rollback: (session, stamp) =>
      client.call(routes.rollback, { body: { session, ...(stamp ? { stamp } : {}) }, timeoutMs: 120_000 }),
    finish: async (session, snapshot) =>
      (await client.call(routes.finish, { body: { session, name: snapshot }, timeoutMs: LONG_MS })).hooks,
    health: () => client.call(routes.health, { timeoutMs: 10_000 }),
    verify: (session, name, expected) =>
      client.call(routes.verify, { body: { session, name, expected: expected ?? null }, timeoutMs: 600_000 }),
  };
}
