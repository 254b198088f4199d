/**
 * The agent's operations, one handler each, wired to a Router. State that matters (snapshots, the member's
 * data) lives on disk and in etcd; the only in-memory state is the single-flight flag for snapshot saves.
 */
import { saveOptions } from "../snapshot/save-options.js";
import { listCatalog } from "../snapshot/catalog.js";
import { archiveKey, manifestKey } from "../snapshot/manifest.js";
import { removeCopy } from "../snapshot/prune.js";
import { saveSnapshot } from "../snapshot/save.js";
import { closing } from "../store/open.js";
import type { Store } from "../store/store.js";
import { describeError, NotFoundError } from "../util/errors.js";
import { parseParam, SaveRequest, SnapshotName, UploadRequest, type SaveEvent } from "./api.js";
import { RestoreSessions } from "./restore-session.js";
import { HttpError, readJson, Router, sendJson, type RequestContext } from "./http.js";
import { registerCleanupRoutes } from "./cleanup-routes.js";
import type { AgentDeps } from "./deps.js";
import { removeRestoreFiles } from "../restore/steps.js";
import { registerRestoreRoutes, sessionExpired } from "./restore-routes.js";
import { SaveFlight } from "../snapshot/flight.js";
import { registerScheduleRoutes } from "./schedule-routes.js";

/** The agent's routes, and the restore sessions they share (closed when the agent stops). */
export function agentRouter(deps: AgentDeps): { router: Router; sessions: RestoreSessions } {
  const router = new Router();
  const flight = deps.recurring?.flight ?? new SaveFlight();
  const sessions = new RestoreSessions({
    flight,
    pauseSchedule: (reason) => deps.recurring?.pause(reason) ?? Promise.resolve(),
    resumeSchedule: () => deps.recurring?.resume(),
    removeLeftovers: (reason) => removeRestoreFiles(deps, reason),
    clock: deps.clock,
    leaseMs: deps.sessionLeaseMs ?? SESSION_LEASE_MS,
    onExpired: sessionExpired(deps),
  });

  router.on("GET", "/v1/info", { allow: ["cli"] }, async ({ res }) => {
    sendJson(res, 200, {
      node: deps.config.node,
      version: deps.version,
      etcdMode: deps.member.mode,
      clientUrl: deps.config.etcd.clientUrl,
      snapshotDir: deps.config.snapshotDir,
      saving: flight.current ?? null,
      session: sessions.current ?? null,
    });
  });

  router.on("GET", "/v1/health", { allow: ["cli"] }, async ({ res }) => {
    sendJson(res, 200, { node: deps.config.node, member: await deps.member.state(), ...(await deps.etcd.health()) });
  });

  router.on("GET", "/v1/member", { allow: ["cli"] }, async ({ res }) => {
    sendJson(res, 200, { node: deps.config.node, mode: deps.member.mode, state: await deps.member.state() });
  });

  for (const action of ["start", "stop"] as const) {
    router.on("POST", `/v1/member/${action}`, { allow: ["cli"] }, async ({ res }) => {
      deps.log.info(`member ${action} requested`);
      await deps.member[action]();
      sendJson(res, 200, { node: deps.config.node, state: await deps.member.state() });
    });
  }

  router.on("GET", "/v1/snapshots", { allow: ["cli"] }, async ({ res }) => {
    sendJson(res, 200, {
      node: deps.config.node,
      snapshots: await listCatalog(deps.local, `node:${deps.config.node}`),
    });
  });

  router.on("POST", "/v1/snapshots", { allow: ["cli"] }, async (ctx) => {
    const body = await readJson(ctx.req, SaveRequest);
    const release = await claimForSave(flight, body, ctx, deps);
    if (!release) return;
    try {
      await streamSave(ctx, body, deps);
    } finally {
      release();
    }
  });

  router.on("POST", "/v1/snapshots/:name/upload", { allow: ["cli"] }, async ({ req, res, params }) => {
    const name = parseParam(SnapshotName, params.name, "snapshot name");
    const body = await readJson(req, UploadRequest);
    const uploaded = await closing(deps.makeS3(body.s3), (remote) => uploadExisting(name, remote, deps));
    sendJson(res, 200, uploaded);
  });

  router.on("DELETE", "/v1/snapshots/:name", { allow: ["cli"] }, async ({ res, params }) => {
    const name = parseParam(SnapshotName, params.name, "snapshot name");
    const removed = await removeCopy(deps.local, { name, key: archiveKey(name) });
    sendJson(res, 200, { node: deps.config.node, removed });
  });

  if (deps.restore) registerRestoreRoutes(router, { ...deps, ...deps.restore, sessions });
  registerCleanupRoutes(router, { ...deps, flight, sessions });
  if (deps.recurring)
    registerScheduleRoutes(router, deps.recurring, {
      ...deps,
      node: deps.config.node,
      session: () => sessions.current,
    });
  return { router, sessions };
}

/** A restore session lives this long without a renewal from its CLI (which renews every few seconds). */
const SESSION_LEASE_MS = 60_000;

/**
 * Claims the flight for a one-time save. A recurring save that holds it is waited for (bounded by the request's
 * `waitSeconds`; "waiting" events keep the CLI's silence timeout from firing); a restore or another one-time save is
 * refused at once with 409. Resolves undefined when the wait ran out: the response then already says so.
 */
async function claimForSave(flight: SaveFlight, body: SaveRequest, ctx: RequestContext, deps: AgentDeps) {
  const now = flight.tryAcquire(body.name, "one-time");
  if (now) return now;
  if (flight.held?.kind !== "recurring" || body.waitSeconds === 0)
    throw new HttpError(409, `${flight.current} already in progress on ${deps.config.node}`);
  const { res } = ctx;
  const gone = new AbortController();
  res.on("close", () => gone.abort());
  res.writeHead(200, { "content-type": "application/x-ndjson" });
  const waiting = () => res.write(JSON.stringify({ type: "waiting", for: flight.current ?? "" }) + "\n");
  waiting();
  const heartbeat = setInterval(waiting, 5_000);
  try {
    const release = await flight.acquire(body.name, "one-time", {
      waitMs: body.waitSeconds * 1000,
      mayWait: (h) => h.kind === "recurring",
      signal: gone.signal,
    });
    if (release) return release;
    const error = `${flight.current ?? "another save"} still holds ${deps.config.node} after ${body.waitSeconds} s`;
    res.end(JSON.stringify({ type: "error", error, kind: "Busy" }) + "\n");
    return undefined;
  } finally {
    clearInterval(heartbeat);
  }
}

async function streamSave(ctx: RequestContext, body: SaveRequest, deps: AgentDeps): Promise<void> {
  const { res } = ctx;
  if (!res.headersSent) res.writeHead(200, { "content-type": "application/x-ndjson" });
  const emit = (event: SaveEvent) => res.write(JSON.stringify(event) + "\n");
  const gone = new AbortController();
  res.on("close", () => {
    if (!res.writableFinished) gone.abort(new Error("client went away"));
  });
  const signal = AbortSignal.any([gone.signal, ctx.stopping]);
  let lastProgress = 0;
  const startedAt = deps.clock();
  try {
    const run = { name: body.name, kind: body.kind, node: deps.config.node, version: deps.version, signal };
    const remote = body.s3 ? deps.makeS3(body.s3) : undefined;
    const result = await closing(remote, (remote) =>
      saveSnapshot(saveOptions(body, run), {
        source: deps.etcd,
        local: deps.local,
        remote,
        log: deps.log.child({ snapshot: body.name }),
        clock: deps.clock,
        sleep: deps.sleep,
        onProgress: (bytes) => {
          const now = Date.now();
          if (now - lastProgress < 250) return;
          lastProgress = now;
          emit({ type: "progress", bytes });
        },
      }),
    );
    emit({ type: "result", result });
    await deps.recurring?.observeSave(body.name, body.kind, { ok: true, result, startedAt });
  } catch (err) {
    await saveFailed(err, body, { emit, startedAt, stopping: ctx.stopping }, deps);
  }
  res.end();
}

/** Reports a failed save; one cut short by the agent stopping says so, naming it neither a member nor a disk fault. */
async function saveFailed(
  err: unknown,
  body: SaveRequest,
  ctx: { emit: (event: SaveEvent) => void; startedAt: Date; stopping: AbortSignal },
  deps: AgentDeps,
): Promise<void> {
  const interrupted = ctx.stopping.aborted;
  const reason = describeError(interrupted ? ctx.stopping.reason : err);
  const error = interrupted ? `interrupted: ${reason}` : reason;
  deps.log.warn(interrupted ? "snapshot interrupted; nothing is kept" : "snapshot failed", { name: body.name, error });
  ctx.emit({ type: "error", error, kind: interrupted ? "Interrupted" : err instanceof Error ? err.name : "Error" });
  const outcome = { ok: false as const, error: reason, startedAt: ctx.startedAt, interrupted };
  await deps.recurring?.observeSave(body.name, body.kind, outcome);
}

/** Uploads a snapshot this node already holds (when the chosen uploader failed). Manifest last. */
async function uploadExisting(name: string, remote: Store, deps: AgentDeps) {
  // Without its manifest a snapshot is not complete on this node, whatever else is there.
  await deps.local.stat(manifestKey(name)).catch((err: unknown) => {
    throw err instanceof NotFoundError
      ? new NotFoundError(`no snapshot ${name} on ${deps.config.node}`, { cause: err })
      : err;
  });
  const put = await remote.put(archiveKey(name), await deps.local.get(archiveKey(name)));
  await remote.put(manifestKey(name), await deps.local.get(manifestKey(name)));
  return { node: deps.config.node, key: put.key, verified: put.verified };
}
