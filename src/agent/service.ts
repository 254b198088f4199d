/**
 * The agent's routes, one handler per entry of the route table (src/api/routes.ts), wired to a Router: the node and
 * snapshot routes here, the others in restore-routes.ts, cleanup-routes.ts and schedule-routes.ts. State that
 * matters (snapshots, the member's data) lives on disk and in etcd; the only in-memory state is the single save
 * flight and the restore session.
 */
import { routes } from "../api/routes.js";
import type { SaveEvent, SaveRequest } from "../api/snapshots.js";
import { findCopy, listCatalog, refreshListingIndex } from "../snapshot/catalog.js";
import type { SaveFlight } from "../snapshot/flight.js";
import { archiveKey } from "../snapshot/manifest.js";
import { uploadCopy, type SaveEncryption } from "../snapshot/seal.js";
import { countedSource, type SourceProgress } from "../snapshot/counted-source.js";
import { removeCopy } from "../snapshot/prune.js";
import { saveSnapshot } from "../snapshot/save.js";
import { saveOptions } from "../snapshot/save-options.js";
import { closing } from "../store/open.js";
import type { Store } from "../store/store.js";
import { ChecksumMismatchError, describeError, NotFoundError } from "../util/errors.js";
import { registerCleanupRoutes } from "./cleanup-routes.js";
import type { AgentDeps } from "./deps.js";
import { HttpError, Router, type EventStream, type RequestContext, type RouterOptions } from "./http.js";
import { registerRestoreRoutes, sessionExpired } from "./restore-routes.js";
import { RestoreSessions } from "./restore-session.js";
import { loopbackVerifyRunner } from "./scheduled-verify.js";
import { registerScheduleRoutes } from "./schedule-routes.js";
import { ServedFiles } from "../restore/served.js";
import { removeRestoreFiles, VerifiedFiles } from "../restore/steps.js";

/** The agent's routes, and the restore sessions they share (closed when the agent stops). */
export function agentRouter(
  deps: AgentDeps,
  options: RouterOptions = {},
): { router: Router; sessions: RestoreSessions } {
  const router = new Router(options);
  const { flight } = deps.recurring;
  const served = new ServedFiles();
  const verified = new VerifiedFiles();
  const sessions = new RestoreSessions({
    flight,
    pauseSchedule: (reason) => deps.recurring.pause(reason),
    resumeSchedule: () => deps.recurring.resume(),
    removeLeftovers: async (reason) => {
      verified.clear();
      await served.releaseAll(reason);
      await removeRestoreFiles(deps, reason);
    },
    clock: deps.clock,
    leaseMs: deps.sessionLeaseMs ?? SESSION_LEASE_MS,
    onExpired: sessionExpired(deps),
  });
  deps.recurring.useVerifyRunner(loopbackVerifyRunner(deps, sessions));
  registerNodeRoutes(router, deps, sessions);
  registerSnapshotRoutes(router, deps);
  registerRestoreRoutes(router, { ...deps, sessions, served, verified });
  registerCleanupRoutes(router, { ...deps, flight, sessions });
  registerScheduleRoutes(router, deps.recurring, { ...deps, node: deps.config.node, session: () => sessions.current });
  return { router, sessions };
}

/** A restore session lives this long without a renewal from its CLI (which renews every few seconds). */
const SESSION_LEASE_MS = 60_000;

function registerNodeRoutes(router: Router, deps: AgentDeps, sessions: RestoreSessions): void {
  const { node } = deps.config;
  router.route(routes.info, async () => ({
    node,
    version: deps.version,
    etcdMode: deps.member.mode,
    clientUrl: deps.config.etcd.clientUrl,
    snapshotDir: deps.config.snapshotDir,
    saving: deps.recurring.flight.current ?? null,
    session: sessions.current ?? null,
  }));
  router.route(routes.health, async () => ({
    node,
    member: await deps.member.state(),
    ...(await deps.etcd.health()),
  }));
  router.route(routes.member, async () => ({ node, mode: deps.member.mode, state: await deps.member.state() }));
  for (const [route, action] of [
    [routes.startMember, "start"],
    [routes.stopMember, "stop"],
  ] as const) {
    router.route(route, async () => {
      deps.log.info(`member ${action} requested`);
      await deps.member[action]();
      return { node, state: await deps.member.state() };
    });
  }
}

function registerSnapshotRoutes(router: Router, deps: AgentDeps): void {
  const { node } = deps.config;
  const { flight } = deps.recurring;
  router.route(routes.listSnapshots, async () => ({
    node,
    snapshots: await listCatalog(deps.local, `node:${node}`),
  }));
  router.route(routes.saveSnapshot, async (ctx) => {
    const release = await claimForSave(flight, ctx.body, ctx, deps);
    if (!release) return;
    try {
      await streamSave(ctx, ctx.body, deps);
    } finally {
      release();
    }
  });
  router.route(routes.uploadSnapshot, async ({ params, body }) =>
    closing(deps.makeS3(body.s3), (remote) => uploadExisting(params.name, remote, body.encryption, deps)),
  );
  router.route(routes.deleteSnapshot, async ({ params }) => {
    // The archive is the one the manifest names (`.zip.age` when encrypted), or `<name>.zip` without one.
    const copy = await findCopy(deps.local, params.name, `node:${node}`);
    return { node, removed: await removeCopy(deps.local, copy ?? { name: params.name, key: archiveKey(params.name) }) };
  });
}

type SaveContext = RequestContext & EventStream<SaveEvent>;

/**
 * Claims the flight for a one-time save. A recurring save that holds it is waited for (bounded by the request's
 * `waitSeconds`; "waiting" events keep the CLI's silence timeout from firing); a restore or another one-time save is
 * refused at once with 409. Resolves undefined when the wait ran out: the response then already says so.
 */
async function claimForSave(flight: SaveFlight, body: SaveRequest, ctx: SaveContext, deps: AgentDeps) {
  const now = flight.tryAcquire(body.name, "one-time");
  if (now) return now;
  if (flight.held?.kind !== "recurring" || body.waitSeconds === 0)
    throw new HttpError(409, `${flight.current} already in progress on ${deps.config.node}`);
  const gone = new AbortController();
  ctx.res.on("close", () => gone.abort());
  const waiting = () => ctx.emit({ type: "waiting", for: flight.current ?? "" });
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
    ctx.emit({ type: "error", error, kind: "Busy" });
    return undefined;
  } finally {
    clearInterval(heartbeat);
  }
}

async function streamSave(ctx: SaveContext, body: SaveRequest, deps: AgentDeps): Promise<void> {
  const { res, emit } = ctx;
  ctx.open();
  const gone = new AbortController();
  res.on("close", () => {
    if (!res.writableFinished) gone.abort(new Error("client went away"));
  });
  const signal = AbortSignal.any([gone.signal, ctx.stopping]);
  let lastProgress = 0;
  let read: SourceProgress = { read: 0 };
  const startedAt = deps.clock();
  try {
    const run = { name: body.name, kind: body.kind, node: deps.config.node, version: deps.version, signal };
    const remote = body.s3 ? deps.makeS3(body.s3) : undefined;
    const result = await closing(remote, async (remote) => {
      const saved = await saveSnapshot(saveOptions(body, run), {
        source: countedSource(deps.etcd, (p) => (read = p)),
        local: deps.local,
        remote,
        log: deps.log.child({ snapshot: body.name }),
        clock: deps.clock,
        sleep: deps.sleep,
        onProgress: (bytes) => {
          const now = Date.now();
          if (now - lastProgress < 250) return;
          lastProgress = now;
          emit({ type: "progress", bytes, read: read.read, ...(read.expected ? { total: read.expected } : {}) });
        },
      });
      if (remote && saved.upload?.ok) await refreshListingIndex(remote, deps.log);
      return saved;
    });
    emit({ type: "result", result });
    await deps.recurring.observeSave(body.name, body.kind, { ok: true, result, startedAt });
  } catch (err) {
    await saveFailed(err, body, { emit, startedAt, stopping: ctx.stopping }, deps);
  }
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
  await deps.recurring.observeSave(body.name, body.kind, outcome);
}

/** Uploads a snapshot this node already holds (when the chosen uploader failed). Manifest last. */
async function uploadExisting(name: string, remote: Store, encryption: SaveEncryption | undefined, deps: AgentDeps) {
  // Without its manifest a snapshot is not complete on this node, whatever else is there.
  const copy = await findCopy(deps.local, name, `node:${deps.config.node}`);
  if (!copy?.manifest) throw new NotFoundError(`no snapshot ${name} on ${deps.config.node}`);
  if (copy.status !== "ok") throw new ChecksumMismatchError(`snapshot ${name} on ${deps.config.node}: ${copy.reason}`);
  const put = await uploadCopy(deps.local, remote, copy.manifest, encryption);
  await refreshListingIndex(remote, deps.log);
  return { node: deps.config.node, key: put.key, verified: put.verified };
}
