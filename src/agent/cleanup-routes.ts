/**
 * The agent's side of `lifeboat etcd restore-cleanup` (docs/design.md "Restore leftovers"): list what restores left
 * on this node, and remove it under a keep policy. A cleanup holds the node's single save flight while it removes,
 * so no restore (whose session holds the same flight) can start under it, and it refuses while a restore or verify
 * session is open or a save runs.
 */
import type { CleanupRequest, CleanupResponse } from "../api/restore.js";
import { routes } from "../api/routes.js";
import { applyCleanup, listLeftovers, planCleanup } from "../restore/leftovers.js";
import type { SaveFlight } from "../snapshot/flight.js";
import type { Logger } from "../util/log.js";
import type { AgentConfig } from "./config.js";
import type { Router } from "./http.js";
import type { RestoreSessions } from "./restore-session.js";

export interface CleanupRouteDeps {
  config: Pick<AgentConfig, "node" | "restoreDir" | "etcd">;
  flight: SaveFlight;
  sessions: Pick<RestoreSessions, "current">;
  clock: () => Date;
  log: Logger;
}

/** Registers GET /v1/restore/leftovers and POST /v1/restore/cleanup. */
export function registerCleanupRoutes(router: Router, deps: CleanupRouteDeps): void {
  router.route(routes.leftovers, () => leftovers(deps));
  router.route(routes.cleanup, ({ body }) => cleanup(body, deps));
}

function dirsOf(deps: CleanupRouteDeps) {
  return { dataDir: deps.config.etcd.dataDir, restoreDir: deps.config.restoreDir };
}

async function leftovers(deps: CleanupRouteDeps) {
  return { node: deps.config.node, busy: busyReason(deps) ?? null, ...(await listLeftovers(dirsOf(deps))) };
}

async function cleanup(body: CleanupRequest, deps: CleanupRouteDeps): Promise<CleanupResponse> {
  const { node } = deps.config;
  // Checked and claimed with no await in between: nothing can take the flight in the meantime.
  const busy = busyReason(deps);
  const release = body.dryRun || busy ? undefined : deps.flight.tryAcquire("restore cleanup");
  try {
    const policy = { keep: body.keep, ...(busy ? { busy } : {}) };
    const plan = planCleanup(await listLeftovers(dirsOf(deps)), policy, deps.clock());
    if (body.dryRun || plan.refused) return { node, dryRun: body.dryRun, plan };
    return { node, dryRun: false, plan, result: await applyCleanup(plan, deps.log) };
  } finally {
    release?.();
  }
}

function busyReason({ flight, sessions }: CleanupRouteDeps): string | undefined {
  const session = sessions.current;
  if (session) return `busy with a ${session.purpose} of ${session.name} (session ${session.id}); retry when it ends`;
  const holder = flight.current;
  return holder === undefined ? undefined : `busy with ${holder}: a snapshot save is in progress; retry when it ends`;
}
