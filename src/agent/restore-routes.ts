/**
 * The agent's side of a restore (docs/design.md "Restore"): open a session (src/agent/restore-session.ts), prepare
 * the snapshot file (from this node's copies or from S3), serve it to peers, fetch it from a peer, report its digest,
 * and, once every node holds the same bytes and the member is stopped, rebuild the data directory beside the old one
 * and swap it in. Nothing here deletes a member's data: the old directory is renamed, and a rollback puts it back.
 * Every name is parsed by `SnapshotName` at the boundary, and every path is proven to stay in its folder.
 */
import { createReadStream } from "node:fs";
import { mkdir, readdir, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { createHash } from "node:crypto";
import { z } from "zod";
import { detectSnapshotFile, extractSnapshot, readStateFile } from "../archive/rke.js";
import { SnapshotVerifier, verifySnapshotFile } from "../archive/trailer.js";
import { findEtcdTools, type EtcdTools } from "../etcd/binaries.js";
import { runShell, lastLines } from "../etcd/exec.js";
import { restoreSnapshotToDir, supportsBumpRevision } from "../etcd/restore-tool.js";
import { fetchManifest } from "../snapshot/catalog.js";
import { archiveKey, manifestKey, type Manifest } from "../snapshot/manifest.js";
import {
  exists,
  latestRestoredRecord,
  readRollbackRecord,
  reinstateRestoredRecord,
  removeStaleStaging,
  retireRollbackRecord,
  rollbackDataDir,
  stagingDirFor,
  swapDataDir,
} from "../restore/node.js";
import { verifySnapshotOnLoopback } from "../restore/verify.js";
import { closing } from "../store/open.js";
import type { Store } from "../store/store.js";
import { ChecksumMismatchError, NotFoundError } from "../util/errors.js";
import { insideDir, writeStreamAtomic } from "../util/fs.js";
import { parseParam, S3Settings, SessionId, SnapshotName, Stamp } from "./api.js";
import { AgentClient } from "./client.js";
import { HttpError, readJson, sendJson, type Router, type TlsFiles } from "./http.js";
import type { AgentDeps } from "./service.js";
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
    const done = await sessions.step(body.session, body.name, async () => await fetchFromPeer(body, deps));
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
    const done = await sessions.step(body.session, body.name, async () => await apply(body, deps));
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

/** Restores the prepared file into a throwaway etcd on loopback; the file is removed whatever the outcome. */
async function verifyPrepared(name: string, deps: RestoreRouteDeps) {
  const path = insideDir(deps.config.restoreDir, name);
  if (!(await exists(path))) throw new NotFoundError(`no prepared snapshot ${name} on ${deps.config.node}`);
  try {
    return await verifySnapshotOnLoopback({
      snapshotPath: path,
      tools: await deps.tools(),
      workDir: deps.config.restoreDir,
      log: deps.log,
    });
  } finally {
    await rm(path, { force: true });
  }
}

/**
 * Removes what restores leave in the restore folder (extracted snapshots, downloads, verify folders, temp files) and
 * stale staging directories; never the rollback record nor the records of finished restores.
 */
export async function removeRestoreFiles(deps: Pick<RestoreRouteDeps, "config" | "log">, reason: string) {
  const dir = deps.config.restoreDir;
  const keep = (n: string) => n === "rollback.json" || /^restored-[0-9A-Za-z]+\.json$/.test(n);
  const names = await readdir(dir).catch(() => [] as string[]);
  const removed = names.filter((n) => !keep(n));
  for (const n of removed) await rm(insideDir(dir, n), { recursive: true, force: true });
  if (!(await readRollbackRecord(dir).catch(() => undefined))) {
    removed.push(...(await removeStaleStaging(deps.config.etcd.dataDir)));
  }
  if (removed.length) deps.log.info("removed restore leftovers", { reason, removed: removed.length });
}

/**
 * Puts the data directory from before the restore back: the pending one (a restore that failed or was cut off), or,
 * with `stamp` and nothing pending, the one kept by that successful restore. The member is stopped first and left
 * stopped: the CLI starts every member together.
 */
async function rollback(stamp: string | undefined, deps: RestoreRouteDeps) {
  const dir = deps.config.restoreDir;
  const pending = await readRollbackRecord(dir);
  if (!pending && !stamp) return { restored: false, reason: "no restore is pending on this node" };
  if (!pending && stamp) await reinstateRestoredRecord(dir, stamp);
  if ((await deps.member.state()) !== "stopped") await deps.member.stop();
  const result = await rollbackDataDir(dir);
  await removeRestoreFiles(deps, "rolled back");
  deps.log.warn("restore rolled back", { restored: result.restored, stamp: result.record?.stamp ?? null });
  return result;
}

/** Finds `<name>` (archive or raw file) in S3 or in this node's snapshot directory and extracts the snapshot file. */
async function prepare(name: string, s3: Store | undefined, deps: RestoreRouteDeps) {
  const { config } = deps;
  await mkdir(config.restoreDir, { recursive: true, mode: 0o700 });
  const source = s3 ? await downloadFromS3(name, s3, deps) : await localSource(name, deps);
  const dest = insideDir(config.restoreDir, name);
  const digest = await extractSnapshot(source.path, name, dest);
  if (source.manifest && source.manifest.snapshot.sha256 !== digest.sha256) {
    await rm(dest, { force: true });
    throw new ChecksumMismatchError(
      `snapshot ${name} on ${config.node}: sha256 ${digest.sha256} differs from its manifest (${source.manifest.snapshot.sha256})`,
    );
  }
  const format = await detectSnapshotFile(source.path);
  const state = format === "zip" ? await readStateFile(source.path, name) : undefined;
  deps.log.info("restore source prepared", { name, from: source.from, sha256: digest.sha256 });
  return {
    node: config.node,
    from: source.from,
    format,
    size: digest.size,
    sha256: digest.sha256,
    dbSha256: digest.dbSha256,
    manifest: source.manifest ?? null,
    stateFile: state ? state.toString("base64") : null,
  };
}

/** `<name>.zip` or the raw file `<name>` in this node's snapshot folder, read through its store. */
async function localSource(name: string, deps: RestoreRouteDeps) {
  const { local } = deps;
  for (const key of [archiveKey(name), name]) {
    if (!(await local.stat(key).then(Boolean, notFoundIsFalse))) continue;
    const path = local.pathOf(key);
    const manifest = await manifestOf(local, name, `${deps.config.node}:${local.location}`);
    return { path, from: path, ...(manifest ? { manifest } : {}) };
  }
  throw new NotFoundError(`snapshot ${name} is not in ${local.location}`);
}

function notFoundIsFalse(err: unknown): false {
  if (err instanceof NotFoundError) return false;
  throw err;
}

/**
 * The manifest of `name` in `store`: undefined when there is none (an RKE archive, a raw etcdctl file). One that is
 * there but does not parse is an integrity failure, never "no manifest": it would switch the digest check off.
 */
async function manifestOf(store: Store, name: string, where: string): Promise<Manifest | undefined> {
  const key = manifestKey(name);
  const parsed = await fetchManifest(store, key).catch((err: unknown) => {
    if (err instanceof NotFoundError) return undefined;
    throw err;
  });
  if (!parsed || parsed.ok) return parsed?.manifest;
  throw new ChecksumMismatchError(`the manifest ${key} in ${where} is broken (${parsed.reason})`);
}

/** Downloads the archive (exact key: `myname` never matches `myname1`), checking it against its manifest. */
async function downloadFromS3(name: string, s3: Store, deps: RestoreRouteDeps) {
  const dir = join(deps.config.restoreDir, "download");
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const manifest = await manifestOf(s3, name, s3.location);
  const key =
    (await s3.stat(archiveKey(name)).then(
      () => archiveKey(name),
      (err: unknown) => {
        if (err instanceof NotFoundError) return undefined;
        throw err;
      },
    )) ?? (await rawKey(name, s3));
  const path = insideDir(dir, key);
  const hash = createHash("sha256");
  const counter = new PassThrough();
  counter.on("data", (chunk: Buffer) => hash.update(chunk));
  const body = await s3.get(key);
  await writeStreamAtomic(path, body.pipe(counter), {
    beforeCommit: () => {
      const sha = hash.digest("hex");
      if (manifest && key === archiveKey(name) && sha !== manifest.archive.sha256) {
        throw new ChecksumMismatchError(`archive ${key} from ${s3.location}: sha256 ${sha} differs from its manifest`);
      }
    },
  });
  return { path, from: `${s3.location}/${key}`, ...(manifest ? { manifest } : {}) };
}

async function rawKey(name: string, s3: Store): Promise<string> {
  await s3.stat(name).catch((err: unknown) => {
    throw new NotFoundError(`snapshot ${name} is not in ${s3.location} (looked for ${archiveKey(name)} and ${name})`, {
      cause: err,
    });
  });
  return name;
}

/** Streams the prepared file from a peer agent, verifying etcd's trailer and the expected sha256 before committing. */
async function fetchFromPeer(body: z.infer<typeof FetchRequest>, deps: RestoreRouteDeps) {
  const { config } = deps;
  await mkdir(config.restoreDir, { recursive: true, mode: 0o700 });
  const client = new AgentClient({ endpoint: body.peer, tls: deps.tls, timeoutMs: 60_000 });
  try {
    const download = await client.download(`/v1/restore/${encodeURIComponent(body.name)}/file`);
    const verifier = new SnapshotVerifier(body.name);
    const dest = insideDir(config.restoreDir, body.name);
    await writeStreamAtomic(dest, download.body.pipe(verifier), {
      beforeCommit: () => {
        if (verifier.result.sha256 !== body.sha256) {
          throw new ChecksumMismatchError(
            `snapshot ${body.name} fetched by ${config.node} from ${body.peer}: sha256 ${verifier.result.sha256}, expected ${body.sha256}`,
          );
        }
      },
    });
    return { node: config.node, ...verifier.result };
  } finally {
    client.close();
  }
}

async function apply(body: z.infer<typeof ApplyRequest>, deps: RestoreRouteDeps) {
  const { config } = deps;
  const state = await deps.member.state();
  if (state !== "stopped")
    throw new HttpError(409, `member ${config.node} is ${state}; stop it before applying a restore`);
  const snapshotPath = insideDir(config.restoreDir, body.name);
  const digest = await verifySnapshotFile(snapshotPath);
  if (digest.sha256 !== body.sha256) {
    throw new ChecksumMismatchError(
      `snapshot ${body.name} on ${config.node}: sha256 ${digest.sha256}, expected ${body.sha256}`,
    );
  }
  const stale = await removeStaleStaging(config.etcd.dataDir);
  if (stale.length) deps.log.info("removed leftovers of an earlier restore attempt", { stale });
  const staged = stagingDirFor(config.etcd.dataDir, body.stamp);
  await restoreSnapshotToDir({
    tools: await deps.tools(),
    snapshotPath,
    dataDir: staged,
    name: config.node,
    initialCluster: body.initialCluster,
    initialClusterToken: body.initialClusterToken,
    initialAdvertisePeerUrls: config.etcd.peerUrl,
    ...(body.bumpRevision > 0 ? { bumpRevision: body.bumpRevision, markCompacted: true } : {}),
  });
  const record = await swapDataDir({
    dataDir: config.etcd.dataDir,
    stagedDir: staged,
    stamp: body.stamp,
    name: body.name,
    restoreDir: config.restoreDir,
    now: deps.clock(),
  });
  deps.log.info("data directory restored", { name: body.name, oldDataDir: record.oldDataDir ?? null });
  return { node: config.node, ...record };
}

async function runHooks(commands: readonly string[], deps: RestoreRouteDeps) {
  const results = [];
  for (const command of commands) {
    const result = await runShell(command, { timeoutMs: 300_000 });
    results.push({ command, code: result.code, output: lastLines(result.stdout + result.stderr, 5) });
    if (result.code !== 0) deps.log.warn("post-restore hook failed", { command, code: result.code });
  }
  return results;
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
