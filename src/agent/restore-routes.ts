/**
 * The agent's restore routes (docs/design.md "Restore", src/restore/README.md): request schemas, who may call, and
 * the session check (src/agent/restore-session.ts); the steps themselves are the node side in src/restore/
 * (source.ts, steps.ts). Every name is parsed by `SnapshotName` at the boundary, and every path is proven to stay in
 * its folder.
 */
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { z } from "zod";
import { verifySnapshotFile } from "../archive/trailer.js";
import { findEtcdTools, type EtcdTools } from "../etcd/binaries.js";
import { supportsBumpRevision } from "../etcd/restore-tool.js";
import { exists, latestRestoredRecord, readRollbackRecord, retireRollbackRecord } from "../restore/node.js";
import { prepare } from "../restore/source.js";
import { closing } from "../store/open.js";
import {
  apply,
  fetchFromPeer,
  removeRestoreFiles,
  rollback,
  runHooks,
  verifyPrepared,
  type PeerDownload,
} from "../restore/steps.js";
import { NotFoundError } from "../util/errors.js";
import { insideDir } from "../util/fs.js";
import { parseParam, S3Settings, SessionId, SnapshotName, Stamp } from "./api.js";
import { AgentClient } from "./client.js";
import { HttpError, readJson, sendJson, type Router, type TlsFiles } from "./http.js";
import type { AgentDeps } from "./deps.js";
import type { RestoreSessions } from "./restore-session.js";

const Sha256 = z.string().regex(/^[0-9a-f]{64}$/);
const HostPort = z.string().regex(/^[0-9A-Za-z.-]{1,253}:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/, "expected host:port");
const SessionRequest = z.object({
  session: SessionId,
  name: SnapshotName,
  purpose: z.enum(["restore", "verify", "rollback"]),
});
const SessionRef = z.object({ session: SessionId });
const Step = z.object({ session: SessionId, name: SnapshotName });
const PrepareRequest = Step.extend({ s3: S3Settings.optional() });
const FetchRequest = Step.extend({ peer: HostPort, sha256: Sha256 });
const ApplyRequest = Step.extend({
  sha256: Sha256,
  initialCluster: z.string().min(1).max(65_536),
  initialClusterToken: z.string().regex(/^[0-9A-Za-z._-]{1,200}$/),
  bumpRevision: z.number().int().min(0).default(0),
  stamp: Stamp,
});
/** `stamp`: undo that successful restore (its `restored-<stamp>.json`) when no restore is pending. */
const RollbackRequest = SessionRef.extend({ stamp: Stamp.optional() });

export interface RestoreRouteDeps extends AgentDeps {
  /** This agent's own certificate, used as a client certificate to fetch from a peer agent. */
  tls: TlsFiles;
  tools: () => Promise<EtcdTools>;
  sessions: RestoreSessions;
}

export function registerRestoreRoutes(router: Router, deps: RestoreRouteDeps): void {
  const { config, sessions } = deps;
  const restoreDir = config.restoreDir;
  const snapshotPath = (name: string) => insideDir(restoreDir, name);
  /** The prepared file of the open session: a peer may read only what this node is serving now. */
  const served = (raw: string | undefined) => {
    const name = parseParam(SnapshotName, raw, "snapshot name");
    if (sessions.current?.name !== name) throw new NotFoundError(`no prepared snapshot ${name} on ${config.node}`);
    return snapshotPath(name);
  };

  router.on("POST", "/v1/restore/session", { allow: ["cli"] }, async ({ req, res }) => {
    const body = await readJson(req, SessionRequest);
    // A rollback holds the node exactly as a restore does.
    const purpose = body.purpose === "verify" ? "verify" : "restore";
    sendJson(res, 200, { node: config.node, ...(await sessions.open(body.session, body.name, purpose)) });
  });

  router.on("POST", "/v1/restore/session/release", { allow: ["cli"] }, async ({ req, res }) => {
    const body = await readJson(req, SessionRef);
    sendJson(res, 200, { node: config.node, released: await sessions.close(body.session, "released by the CLI") });
  });

  router.on("POST", "/v1/restore/prepare", { allow: ["cli"] }, async ({ req, res }) => {
    const body = await readJson(req, PrepareRequest);
    const done = await sessions.step(
      body.session,
      body.name,
      async () => await closing(body.s3 ? deps.makeS3(body.s3) : undefined, (s3) => prepare(body.name, s3, deps)),
    );
    sendJson(res, 200, done);
  });

  router.on("GET", "/v1/restore/:name/file", { allow: ["cli", "agent"] }, async ({ res, params }) => {
    const path = served(params.name);
    const info = await stat(path).catch(() => undefined);
    if (!info) throw new NotFoundError(`no prepared snapshot ${params.name} on ${config.node}`);
    res.writeHead(200, { "content-type": "application/octet-stream", "content-length": info.size });
    createReadStream(path).pipe(res);
  });

  router.on("POST", "/v1/restore/fetch", { allow: ["cli"] }, async ({ req, res }) => {
    const body = await readJson(req, FetchRequest);
    const done = await sessions.step(body.session, body.name, () => fetchFromPeer(body, peerDownload(deps.tls), deps));
    sendJson(res, 200, done);
  });

  router.on("GET", "/v1/restore/:name/digest", { allow: ["cli"] }, async ({ res, params }) => {
    const digest = await verifySnapshotFile(served(params.name));
    sendJson(res, 200, { node: config.node, ...digest });
  });

  router.on("GET", "/v1/restore/preflight", { allow: ["cli"] }, async ({ res }) => {
    const tools = await deps.tools();
    const restored = await latestRestoredRecord(restoreDir);
    sendJson(res, 200, {
      node: config.node,
      mode: deps.member.mode,
      member: await deps.member.state(),
      tool: tools.etcdutl ? "etcdutl" : "etcdctl",
      toolVersion: tools.version,
      supportsBumpRevision: await supportsBumpRevision(tools),
      dataDir: config.etcd.dataDir,
      dataDirExists: await exists(config.etcd.dataDir),
      pendingRollback: (await readRollbackRecord(restoreDir)) ?? null,
      lastRestored: restored
        ? { ...restored, oldDataDirExists: restored.oldDataDir ? await exists(restored.oldDataDir) : false }
        : null,
      session: sessions.current ?? null,
    });
  });

  router.on("POST", "/v1/restore/apply", { allow: ["cli"] }, async ({ req, res }) => {
    const body = await readJson(req, ApplyRequest);
    const done = await sessions.step(body.session, body.name, async () => {
      const state = await deps.member.state();
      if (state !== "stopped")
        throw new HttpError(409, `member ${config.node} is ${state}; stop it before applying a restore`);
      return apply(body, deps);
    });
    sendJson(res, 200, done);
  });

  router.on("POST", "/v1/restore/rollback", { allow: ["cli"] }, async ({ req, res }) => {
    const body = await readJson(req, RollbackRequest);
    const session = sessions.current;
    if (session?.id !== body.session) throw new HttpError(409, `no open session ${body.session} on ${config.node}`);
    sendJson(res, 200, { node: config.node, ...(await rollback(body.stamp, deps)) });
  });

  router.on("POST", "/v1/restore/finish", { allow: ["cli"] }, async ({ req, res }) => {
    const body = await readJson(req, Step);
    sessions.require(body.session, body.name);
    const hooks = await runHooks(config.postRestore, deps);
    await retireRollbackRecord(restoreDir);
    await removeRestoreFiles(deps, "the restore finished");
    sendJson(res, 200, { node: config.node, hooks });
  });

  router.on("POST", "/v1/restore/verify", { allow: ["cli"] }, async ({ req, res }) => {
    const body = await readJson(req, Step);
    const report = await sessions.step(body.session, body.name, () => verifyPrepared(body.name, deps));
    sendJson(res, 200, { node: config.node, ...report });
  });
}

/** Opens a peer agent's prepared file with this agent's own certificate. */
function peerDownload(tls: TlsFiles): PeerDownload {
  return async (peer, path) => {
    const client = new AgentClient({ endpoint: peer, tls, timeoutMs: 60_000 });
    try {
      const download = await client.download(path);
      return { body: download.body, close: () => client.close() };
    } catch (err) {
      client.close();
      throw err;
    }
  };
}

/** Finds the etcd tools once (managed: the configured binary folder). */
export function toolsFinder(binaryDir: string | undefined): () => Promise<EtcdTools> {
  let found: Promise<EtcdTools> | undefined;
  return () => (found ??= findEtcdTools(binaryDir ? { dir: binaryDir } : {}));
}

/** Logs a session that ran out (the CLI died or was cut off): its files are removed, the flight given back. */
export function sessionExpired(deps: Pick<AgentDeps, "log">) {
  return (info: { id: string; name: string; purpose: string }) =>
    deps.log.warn("restore session expired: the CLI stopped renewing it; its files are removed", {
      session: info.id,
      name: info.name,
      purpose: info.purpose,
    });
}
