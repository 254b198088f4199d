/**
 * The agent's operations, one handler each, wired to a Router. State that matters (snapshots, the member's
 * data) lives on disk and in etcd; the only in-memory state is the single-flight flag for snapshot saves.
 */
import { saveOptions } from "./save-options.js";
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { join } from "node:path";
import type { EtcdMemberClient } from "../etcd/client.js";
import type { MemberController } from "../etcd/member.js";
import type { EtcdTools } from "../etcd/binaries.js";
import { listCatalog } from "../snapshot/catalog.js";
import { archiveKey, manifestKey } from "../snapshot/manifest.js";
import { saveSnapshot, type SaveDeps } from "../snapshot/save.js";
import type { Store } from "../store/store.js";
import { describeError, NotFoundError } from "../util/errors.js";
import type { Logger } from "../util/log.js";
import type { S3Settings } from "./api.js";
import { SaveRequest, UploadRequest, type SaveEvent } from "./api.js";
import type { AgentConfig } from "./config.js";
import { HttpError, readJson, Router, sendJson, type RequestContext, type TlsFiles } from "./http.js";
import { registerRestoreRoutes } from "./restore-routes.js";
import type { RecurringAgent } from "./recurring.js";
import { SaveFlight } from "./recurring-flight.js";
import { registerScheduleRoutes } from "./schedule-routes.js";

export interface AgentDeps {
  config: AgentConfig;
  etcd: EtcdMemberClient;
  member: MemberController;
  local: Store;
  makeS3: (settings: S3Settings) => Store;
  log: Logger;
  clock: () => Date;
  sleep: SaveDeps["sleep"];
  version: string;
  /** What the restore routes need beyond the rest: this agent's TLS (as a client of peers) and the etcd tools. */
  restore?: { tls: TlsFiles; tools: () => Promise<EtcdTools> };
  /** Recurring snapshots, metrics and notifications; its save flight is shared with POST /v1/snapshots. */
  recurring?: RecurringAgent;
}

export function agentRouter(deps: AgentDeps): Router {
  const router = new Router();
  const flight = deps.recurring?.flight ?? new SaveFlight();

  router.on("GET", "/v1/info", async ({ res }) => {
    sendJson(res, 200, {
      node: deps.config.node,
      version: deps.version,
      etcdMode: deps.member.mode,
      clientUrl: deps.config.etcd.clientUrl,
      snapshotDir: deps.config.snapshotDir,
      saving: flight.current ?? null,
    });
  });

  router.on("GET", "/v1/health", async ({ res }) => {
    sendJson(res, 200, { node: deps.config.node, member: await deps.member.state(), ...(await deps.etcd.health()) });
  });

  router.on("GET", "/v1/member", async ({ res }) => {
    sendJson(res, 200, { node: deps.config.node, mode: deps.member.mode, state: await deps.member.state() });
  });

  for (const action of ["start", "stop"] as const) {
    router.on("POST", `/v1/member/${action}`, async ({ res }) => {
      deps.log.info(`member ${action} requested`);
      await deps.member[action]();
      sendJson(res, 200, { node: deps.config.node, state: await deps.member.state() });
    });
  }

  router.on("GET", "/v1/snapshots", async ({ res }) => {
    sendJson(res, 200, {
      node: deps.config.node,
      snapshots: await listCatalog(deps.local, `node:${deps.config.node}`),
    });
  });

  router.on("POST", "/v1/snapshots", async (ctx) => {
    const body = await readJson(ctx.req, SaveRequest);
    const release = flight.tryAcquire(body.name);
    if (!release) throw new HttpError(409, `snapshot ${flight.current} already in progress on ${deps.config.node}`);
    try {
      await streamSave(ctx, body, deps);
    } finally {
      release();
    }
  });

  router.on("POST", "/v1/snapshots/:name/upload", async ({ req, res, params }) => {
    const body = await readJson(req, UploadRequest);
    sendJson(res, 200, await uploadExisting(params.name ?? "", deps.makeS3(body.s3), deps));
  });

  router.on("DELETE", "/v1/snapshots/:name", async ({ res, params }) => {
    const name = params.name ?? "";
    const keys = [manifestKey(name), archiveKey(name)];
    // The manifest goes first: a half-deleted snapshot must never list as good.
    for (const key of keys) await deps.local.remove(key);
    sendJson(res, 200, { node: deps.config.node, removed: keys });
  });

  if (deps.restore) registerRestoreRoutes(router, { ...deps, ...deps.restore, flight });
  if (deps.recurring) registerScheduleRoutes(router, deps.recurring, { ...deps, node: deps.config.node });
  return router;
}

async function streamSave(ctx: RequestContext, body: SaveRequest, deps: AgentDeps): Promise<void> {
  const { res } = ctx;
  res.writeHead(200, { "content-type": "application/x-ndjson" });
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
    const result = await saveSnapshot(saveOptions(body, run), {
      source: deps.etcd,
      local: deps.local,
      remote: body.s3 ? deps.makeS3(body.s3) : undefined,
      log: deps.log.child({ snapshot: body.name }),
      clock: deps.clock,
      sleep: deps.sleep,
      onProgress: (bytes) => {
        const now = Date.now();
        if (now - lastProgress < 250) return;
        lastProgress = now;
        emit({ type: "progress", bytes });
      },
    });
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
  const dir = deps.config.snapshotDir;
  const archive = join(dir, archiveKey(name));
  const manifest = join(dir, manifestKey(name));
  const info = await stat(manifest).catch(() => undefined);
  if (!info) throw new NotFoundError(`no snapshot ${name} on ${deps.config.node}`);
  const put = await remote.put(archiveKey(name), createReadStream(archive));
  await remote.put(manifestKey(name), createReadStream(manifest));
  return { node: deps.config.node, key: put.key, verified: put.verified };
}
