/**
 * The agent's side of a restore (docs/design.md "Restore"): prepare the snapshot file (from this node's copies or
 * from S3), serve it to peers, fetch it from a peer, report its digest, and, once every node holds the same bytes
 * and the member is stopped, rebuild the data directory beside the old one and swap it in. Nothing here deletes a
 * member's data: the old directory is renamed, and a rollback puts it back.
 */
import { createReadStream } from "node:fs";
import { mkdir, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { createHash } from "node:crypto";
import { z } from "zod";
import { detectSnapshotFile, extractSnapshot, readStateFile } from "../archive/rke.js";
import { SnapshotVerifier, verifySnapshotFile } from "../archive/trailer.js";
import { findEtcdTools, type EtcdTools } from "../etcd/binaries.js";
import { runShell, lastLines } from "../etcd/exec.js";
import { restoreSnapshotToDir, supportsBumpRevision } from "../etcd/restore-tool.js";
import { archiveKey, manifestKey, parseManifest, type Manifest } from "../snapshot/manifest.js";
import {
  exists,
  extractedPath,
  readRollbackRecord,
  removeStaleStaging,
  retireRollbackRecord,
  rollbackDataDir,
  stagingDirFor,
  swapDataDir,
} from "../restore/node.js";
import { verifySnapshotOnLoopback } from "../restore/verify.js";
import type { Store } from "../store/store.js";
import { ChecksumMismatchError, NotFoundError } from "../util/errors.js";
import { writeStreamAtomic } from "../util/fs.js";
import { S3Settings } from "./api.js";
import { AgentClient } from "./client.js";
import { HttpError, readJson, sendJson, type Router, type TlsFiles } from "./http.js";
import type { AgentDeps } from "./service.js";
import type { SaveFlight } from "./recurring-flight.js";

const Name = z.string().min(1).max(200);
const PrepareRequest = z.object({ name: Name, s3: S3Settings.optional() });
const FetchRequest = z.object({ name: Name, peer: z.string().min(3), sha256: z.string().regex(/^[0-9a-f]{64}$/) });
const ApplyRequest = z.object({
  name: Name,
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  initialCluster: z.string().min(1),
  initialClusterToken: z.string().min(1),
  bumpRevision: z.number().int().min(0).default(0),
  stamp: z.string().regex(/^[0-9A-Za-z]+$/),
});
const FinishRequest = z.object({ name: Name });

export interface RestoreRouteDeps extends AgentDeps {
  /** This agent's own certificate, used as a client certificate to fetch from a peer agent. */
  tls: TlsFiles;
  tools: () => Promise<EtcdTools>;
  /** The node's single save flight: held from prepare/fetch until finish or rollback, so no snapshot runs meanwhile. */
  flight: SaveFlight;
}

/** A restore that never finishes (the CLI died) gives the flight back after this long. */
const HOLD_MS = 2 * 3_600_000;

/** Holds the save flight for the duration of a restore on this node. */
function restoreHold(flight: SaveFlight) {
  let held: { release: () => void; timer: NodeJS.Timeout } | undefined;
  const drop = () => {
    if (!held) return;
    clearTimeout(held.timer);
    held.release();
    held = undefined;
  };
  const hold = (name: string) => {
    if (held) return;
    const release = flight.tryAcquire(`restore of ${name}`);
    if (!release)
      throw new HttpError(409, `snapshot ${flight.current} is being saved; retry the restore when it finishes`);
    const timer = setTimeout(drop, HOLD_MS);
    timer.unref();
    held = { release, timer };
  };
  return { hold, drop };
}

export function registerRestoreRoutes(router: Router, deps: RestoreRouteDeps): void {
  const { config } = deps;
  const restoreDir = config.restoreDir;
  const { hold, drop } = restoreHold(deps.flight);

  router.on("POST", "/v1/restore/prepare", { allow: ["cli"] }, async ({ req, res }) => {
    const body = await readJson(req, PrepareRequest);
    hold(body.name);
    sendJson(res, 200, await prepare(body.name, body.s3 ? deps.makeS3(body.s3) : undefined, deps));
  });

  router.on("GET", "/v1/restore/:name/file", { allow: ["cli", "agent"] }, async ({ res, params }) => {
    const path = extractedPath(restoreDir, Name.parse(params.name));
    const info = await stat(path).catch(() => undefined);
    if (!info) throw new NotFoundError(`no prepared snapshot ${params.name} on ${config.node}`);
    res.writeHead(200, { "content-type": "application/octet-stream", "content-length": info.size });
    createReadStream(path).pipe(res);
  });

  router.on("POST", "/v1/restore/fetch", { allow: ["cli"] }, async ({ req, res }) => {
    const body = await readJson(req, FetchRequest);
    hold(body.name);
    sendJson(res, 200, await fetchFromPeer(body, deps));
  });

  router.on("GET", "/v1/restore/:name/digest", { allow: ["cli"] }, async ({ res, params }) => {
    const digest = await verifySnapshotFile(extractedPath(restoreDir, Name.parse(params.name)));
    sendJson(res, 200, { node: config.node, ...digest });
  });

  router.on("GET", "/v1/restore/preflight", { allow: ["cli"] }, async ({ res }) => {
    const tools = await deps.tools();
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
    });
  });

  router.on("POST", "/v1/restore/apply", { allow: ["cli"] }, async ({ req, res }) => {
    const body = await readJson(req, ApplyRequest);
    hold(body.name);
    sendJson(res, 200, await apply(body, deps));
  });

  router.on("POST", "/v1/restore/rollback", { allow: ["cli"] }, async ({ res }) => {
    if ((await deps.member.state()) !== "stopped") await deps.member.stop();
    const result = await rollbackDataDir(restoreDir);
    drop();
    deps.log.warn("restore rolled back", { restored: result.restored });
    sendJson(res, 200, { node: config.node, ...result });
  });

  router.on("POST", "/v1/restore/finish", { allow: ["cli"] }, async ({ req, res }) => {
    const body = await readJson(req, FinishRequest);
    const hooks = await runHooks(config.postRestore, deps);
    await retireRollbackRecord(restoreDir);
    await rm(extractedPath(restoreDir, body.name), { force: true });
    await rm(join(restoreDir, "download"), { recursive: true, force: true });
    drop();
    sendJson(res, 200, { node: config.node, hooks });
  });

  router.on("POST", "/v1/restore/verify", { allow: ["cli"] }, async ({ req, res }) => {
    const body = await readJson(req, FinishRequest);
    const path = extractedPath(restoreDir, body.name);
    if (!(await exists(path))) throw new NotFoundError(`no prepared snapshot ${body.name} on ${config.node}`);
    const report = await verifySnapshotOnLoopback({
      snapshotPath: path,
      tools: await deps.tools(),
      workDir: restoreDir,
      log: deps.log,
    });
    await rm(path, { force: true });
    sendJson(res, 200, { node: config.node, ...report });
  });
}

/** Finds `<name>` (archive or raw file) in S3 or in this node's snapshot directory and extracts the snapshot file. */
async function prepare(name: string, s3: Store | undefined, deps: RestoreRouteDeps) {
  const { config } = deps;
  await mkdir(config.restoreDir, { recursive: true, mode: 0o700 });
  const source = s3 ? await downloadFromS3(name, s3, deps) : await localSource(name, config.snapshotDir);
  const dest = extractedPath(config.restoreDir, name);
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

async function localSource(name: string, dir: string): Promise<{ path: string; from: string; manifest?: Manifest }> {
  for (const candidate of [archiveKey(name), name]) {
    const path = join(dir, candidate);
    if (await exists(path)) {
      const manifest = await readLocalManifest(join(dir, manifestKey(name)));
      return { path, from: path, ...(manifest ? { manifest } : {}) };
    }
  }
  throw new NotFoundError(`snapshot ${name} is not in ${dir}`);
}

async function readLocalManifest(path: string): Promise<Manifest | undefined> {
  const { readFile } = await import("node:fs/promises");
  const text = await readFile(path, "utf8").catch(() => undefined);
  if (text === undefined) return undefined;
  const parsed = parseManifest(text);
  return parsed.ok ? parsed.manifest : undefined;
}

/** Downloads the archive (exact key: `myname` never matches `myname1`), checking it against its manifest. */
async function downloadFromS3(name: string, s3: Store, deps: RestoreRouteDeps) {
  const dir = join(deps.config.restoreDir, "download");
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const manifest = await readRemoteManifest(s3, manifestKey(name));
  let key = archiveKey(name);
  const found = await s3.stat(key).catch(() => undefined);
  if (!found) {
    key = name;
    await s3.stat(key).catch((err: unknown) => {
      throw new NotFoundError(
        `snapshot ${name} is not in ${s3.location} (looked for ${archiveKey(name)} and ${name})`,
        {
          cause: err,
        },
      );
    });
  }
  const path = join(dir, key);
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

async function readRemoteManifest(s3: Store, key: string): Promise<Manifest | undefined> {
  try {
    const stream = await s3.get(key);
    const chunks: Buffer[] = [];
    for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk);
    const parsed = parseManifest(Buffer.concat(chunks).toString("utf8"));
    return parsed.ok ? parsed.manifest : undefined;
  } catch (err) {
    if (err instanceof NotFoundError) return undefined;
    throw err;
  }
}

/** Streams the prepared file from a peer agent, verifying etcd's trailer and the expected sha256 before committing. */
async function fetchFromPeer(body: z.infer<typeof FetchRequest>, deps: RestoreRouteDeps) {
  const { config } = deps;
  await mkdir(config.restoreDir, { recursive: true, mode: 0o700 });
  const client = new AgentClient({ endpoint: body.peer, tls: deps.tls, timeoutMs: 60_000 });
  try {
    const download = await client.download(`/v1/restore/${encodeURIComponent(body.name)}/file`);
    const verifier = new SnapshotVerifier(body.name);
    const dest = extractedPath(config.restoreDir, body.name);
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
  const snapshotPath = extractedPath(config.restoreDir, body.name);
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
