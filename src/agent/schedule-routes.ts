/**
 * The agent routes for recurring snapshots and visibility (docs/design.md "Recurring snapshots, retention and
 * visibility"). All of them sit behind the agent's mutual TLS and are for the CLI only, except /metrics, which a
 * scraper may also read with a `lifeboat-metrics` certificate (one that can do nothing else).
 */
import { pruneNode, PruneRequest } from "./prune.js";
import type { RecurringAgent } from "../schedule/recurring.js";
import { readJson, sendJson, type Router } from "./http.js";
import { LineagePush, SchedulePush } from "../schedule/spec.js";
import type { PruneDeps } from "./prune.js";
import type { SessionInfo } from "./restore-session.js";

/** Registers GET /metrics, GET and PUT /v1/schedule, PUT /v1/schedule/lineage, GET /v1/status and POST /v1/prune. */
export function registerScheduleRoutes(
  router: Router,
  recurring: RecurringAgent,
  deps: Omit<PruneDeps, "metrics"> & { session: () => SessionInfo | undefined },
): void {
  router.on("GET", "/metrics", { allow: ["cli", "metrics"] }, async ({ res }) => {
    const text = await recurring.renderMetrics();
    res.writeHead(200, {
      "content-type": "text/plain; version=0.0.4; charset=utf-8",
      "content-length": Buffer.byteLength(text),
    });
    res.end(text);
  });

  router.on("GET", "/v1/schedule", { allow: ["cli"] }, async ({ res }) => {
    sendJson(res, 200, await recurring.view());
  });

  router.on("PUT", "/v1/schedule", { allow: ["cli"] }, async ({ req, res }) => {
    const body = await readJson(req, SchedulePush);
    sendJson(res, 200, await recurring.push(body));
  });

  router.on("PUT", "/v1/schedule/lineage", { allow: ["cli"] }, async ({ req, res }) => {
    const body = await readJson(req, LineagePush);
    sendJson(res, 200, await recurring.setLineage(body.lineage));
  });

  router.on("GET", "/v1/status", { allow: ["cli"] }, async ({ res }) => {
    sendJson(res, 200, { ...(await recurring.status()), session: deps.session() ?? null });
  });

  router.on("POST", "/v1/prune", { allow: ["cli"] }, async ({ req, res }) => {
    const body = await readJson(req, PruneRequest);
    sendJson(res, 200, await pruneNode(body, { ...deps, metrics: recurring.metrics }));
  });
}
