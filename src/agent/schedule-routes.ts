/**
 * The agent routes for recurring snapshots and visibility (docs/design.md "Recurring snapshots, retention and
 * visibility"). All of them sit behind the agent's mutual TLS and are for the CLI only, except /metrics, which a
 * scraper may also read with a `lifeboat-metrics` certificate (one that can do nothing else).
 */
import { routes } from "../api/routes.js";
import type { RecurringAgent } from "../schedule/recurring.js";
import type { Router } from "./http.js";
import { pruneNode, type PruneDeps } from "./prune.js";
import type { SessionInfo } from "./restore-session.js";

/** Registers GET /metrics, GET and PUT /v1/schedule, PUT /v1/schedule/lineage, GET /v1/status and POST /v1/prune. */
export function registerScheduleRoutes(
  router: Router,
  recurring: RecurringAgent,
  deps: Omit<PruneDeps, "metrics"> & { session: () => SessionInfo | undefined },
): void {
  router.route(routes.metrics, () => recurring.renderMetrics());
  router.route(routes.schedule, () => recurring.view());
  router.route(routes.pushSchedule, ({ body }) => recurring.push(body));
  router.route(routes.pushLineage, ({ body }) => recurring.setLineage(body.lineage));
  router.route(routes.status, async () => ({ ...(await recurring.status()), session: deps.session() ?? null }));
  router.route(routes.prune, ({ body }) => pruneNode(body, { ...deps, metrics: recurring.metrics }));
}
