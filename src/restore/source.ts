/**
 * Where a node's restore starts (POST /v1/restore/prepare): find `<name>` (archive or raw file) in S3 or in this
 * node's snapshot directory, check it against its manifest, and extract the snapshot file into the restore folder
 * while the archive arrives (docs/design.md, "The restore pipeline").
 */
import { createHash } from "node:crypto";
import { mkdir, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { PassThrough, pipeline } from "node:stream";
import { readStateFile } from "../archive/rke.js";
import { fetchManifest } from "../snapshot/catalog.js";
import { archiveKey, manifestKey, type Manifest } from "../snapshot/manifest.js";
import type { Store } from "../store/store.js";
import { checkHeader, decryptStream, identityFor, type IdentitySource } from "../crypto/age.js";
import { ChecksumMismatchError, NotFoundError } from "../util/errors.js";
import { fsyncDir, insideDir } from "../util/fs.js";
import type { ReplayRequest } from "../api/restore.js";
import { loggedRevisions } from "../pitr/fetch.js";
import { buildPointInTime } from "../pitr/replay.js";
import { GrowingFile } from "../util/growing-file.js";
import { sha256PassThrough } from "../util/hash-stream.js";
import { cancelling, extractArriving, type Incoming } from "./incoming.js";
import { counted, type PhaseCounter } from "./progress.js";
import type { NodeDeps } from "./steps.js";

/**
 * Finds `<name>` (archive or raw file) in S3 or in this node's snapshot directory and extracts the snapshot file while
 * the archive arrives. `serve` is handed the archive as soon as it starts to arrive, for peers to fetch as it grows;
 * a restore to a point serves the snapshot it builds instead, once it is built.
 */
export async function prepare(
  name: string,
  s3: Store | undefined,
  identity: IdentitySource | undefined,
  deps: NodeDeps,
  replay?: ReplayRequest,
  serve?: (file: GrowingFile) => void,
) {
  const { config } = deps;
  await mkdir(config.restoreDir, { recursive: true, mode: 0o700 });
  const source = s3 ? await downloadFromS3(name, s3, identity, deps) : await localSource(name, identity, deps);
  // A served archive is released with the session (ServedFiles); one that is not served is released here, once the
  // prepare is done with it, so that its descriptor is closed rather than left to the garbage collector.
  const served = serve !== undefined && !replay;
  if (served) serve(source.file);
  try {
    const dest = insideDir(config.restoreDir, name);
    const digest = await counted(
      deps.progress,
      "extract",
      source.manifest?.snapshot.size,
      (counter) =>
        extractArriving(source, {
          name,
          destPath: dest,
          size: source.manifest?.snapshot.size,
          ...(counter ? { onBytes: (n: number) => counter.add(n) } : {}),
        }),
      { doneOf: (d) => d.size },
    ).catch(async (err: unknown) => {
      // A decrypted archive is plaintext: it does not outlive a failed prepare (it is in the restore folder only).
      if (source.decrypted) await rm(source.file.path, { force: true });
      await rm(dest, { force: true });
      throw err;
    });
    if (source.manifest && source.manifest.snapshot.sha256 !== digest.sha256) {
      await rm(dest, { force: true });
      throw new ChecksumMismatchError(
        `snapshot ${name} on ${config.node}: sha256 ${digest.sha256} differs from its manifest (${source.manifest.snapshot.sha256})`,
      );
    }
    const format = digest.format;
    const state = format === "zip" ? await readStateFile(source.file.path, name) : undefined;
    deps.log.info("restore source prepared", { name, from: source.from, sha256: digest.sha256 });
    const point = replay ? await replayOnto(dest, name, replay, s3, identity, deps) : undefined;
    await deps.verified?.record(dest, point ?? digest);
    if (replay) serve?.(await GrowingFile.complete(dest));
    return {
      node: config.node,
      from: source.from,
      format,
      size: point?.size ?? digest.size,
      sha256: point?.sha256 ?? digest.sha256,
      dbSha256: point?.dbSha256 ?? digest.dbSha256,
      manifest: source.manifest ?? null,
      stateFile: state ? state.toString("base64") : null,
      ...(point
        ? {
            pointInTime: {
              baseSha256: digest.sha256,
              baseRevision: point.baseRevision,
              revision: point.revision,
              applied: point.applied,
            },
          }
        : {}),
    };
  } finally {
    if (!served) await source.file.release("the prepare is done with it");
  }
}

/** The serving node's copy (incoming.ts), with where it comes from and what its manifest says. */
interface Source extends Incoming {
  from: string;
  manifest?: Manifest | undefined;
  /** The file is a decrypted (plaintext) copy. */
  decrypted?: boolean;
}

/**
 * A restore to a point: the prepared base becomes the snapshot at the target revision (src/pitr/replay.ts), built
 * beside it and renamed over it only once its revision and trailer are checked; a failure removes both.
 */
async function replayOnto(
  dest: string,
  name: string,
  replay: ReplayRequest,
  s3: Store | undefined,
  identity: IdentitySource | undefined,
  deps: NodeDeps,
) {
  if (!s3) throw new NotFoundError("a restore to a point reads the revision log from S3, and no S3 was given");
  const outPath = `${dest}.at-${replay.toRevision}`;
  try {
    const tools = await deps.tools();
    const built = await counted(
      deps.progress,
      "replay",
      undefined,
      () =>
        buildPointInTime({
          basePath: dest,
          baseName: name,
          tools,
          workDir: deps.config.restoreDir,
          log: deps.log,
          target: replay.toRevision,
          revisions: loggedRevisions(s3, replay.chain, replay.segments, identity),
          outPath,
        }),
      { bytes: false },
    );
    await rename(outPath, dest);
    await fsyncDir(deps.config.restoreDir);
    return built;
  } catch (err) {
    await rm(outPath, { force: true });
    await rm(dest, { force: true });
    throw err;
  }
}

/**
 * Whether the identity at `identity` opens this node's copy of `name` (S3 with `s3`, else its own), reading the age
 * header only: the plan phase asks this of the serving node before anything is held or stopped.
 */
export async function checkIdentity(
  name: string,
  s3: Store | undefined,
  identity: IdentitySource | undefined,
  deps: NodeDeps,
) {
  const store = s3 ?? deps.local;
  const where = s3 ? s3.location : `${deps.config.node}:${deps.local.location}`;
  const manifest = await manifestOf(store, name, where);
  if (!manifest?.encryption) return { node: deps.config.node, encrypted: false };
  const what = `snapshot ${name} (${store.location}/${manifest.archive.file})`;
  const loaded = await identityFor(what, manifest.encryption.recipients, identity);
  await checkHeader(await store.get(manifest.archive.file), loaded, what);
  return { node: deps.config.node, encrypted: true, where: loaded.where };
}

/**
 * The copy in this node's snapshot folder, read through its store: the archive its manifest names (an encrypted one is
 * decrypted into the restore folder as it is read), else `<name>.zip` or the raw file `<name>`.
 */
async function localSource(name: string, identity: IdentitySource | undefined, deps: NodeDeps): Promise<Source> {
  const { local } = deps;
  const manifest = await manifestOf(local, name, `${deps.config.node}:${local.location}`);
  if (manifest?.encryption) {
    const incoming = await decryptCopy(local, manifest, identity, deps);
    return { ...incoming, from: local.pathOf(manifest.archive.file), manifest, decrypted: true };
  }
  for (const key of [archiveKey(name), name]) {
    if (!(await local.stat(key).then(Boolean, notFoundIsFalse))) continue;
    const path = local.pathOf(key);
    const file = await GrowingFile.complete(path);
    return { file, arrived: Promise.resolve(), cancel: () => undefined, from: path, ...(manifest ? { manifest } : {}) };
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

/**
 * Starts the download of the archive (exact key: `myname` never matches `myname1`) into `<restore_dir>/download/`,
 * checked against its manifest before it is committed; an encrypted one is decrypted while it streams.
 */
async function downloadFromS3(
  name: string,
  s3: Store,
  identity: IdentitySource | undefined,
  deps: NodeDeps,
): Promise<Source> {
  const manifest = await manifestOf(s3, name, s3.location);
  const total = manifest ? (manifest.encryption?.size ?? manifest.archive.size) : undefined;
  const phase = deps.progress?.start("download", total);
  const incoming = await startDownload(name, s3, manifest, identity, phase, deps).catch((err: unknown) => {
    phase?.end(false);
    throw err;
  });
  incoming.arrived.then(
    () => phase?.end(true),
    () => phase?.end(false),
  );
  return incoming;
}

async function startDownload(
  name: string,
  s3: Store,
  manifest: Manifest | undefined,
  identity: IdentitySource | undefined,
  phase: PhaseCounter | undefined,
  deps: NodeDeps,
): Promise<Source> {
  if (manifest?.encryption) {
    const incoming = await decryptCopy(s3, manifest, identity, deps, phase);
    return { ...incoming, from: `${s3.location}/${manifest.archive.file}`, manifest, decrypted: true };
  }
  const key =
    (await s3.stat(archiveKey(name)).then(
      () => archiveKey(name),
      (err: unknown) => {
        if (err instanceof NotFoundError) return undefined;
        throw err;
      },
    )) ?? (await rawKey(name, s3));
  const dir = join(deps.config.restoreDir, "download");
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const file = await GrowingFile.create(insideDir(dir, key));
  const hash = createHash("sha256");
  const counter = new PassThrough();
  counter.on("data", (chunk: Buffer) => {
    hash.update(chunk);
    phase?.add(chunk.length);
  });
  const body = await s3.get(key).catch(async (err: unknown) => {
    await file.abort(err instanceof Error ? err : new Error(String(err)));
    throw err;
  });
  // pipeline, not pipe: a download that breaks off (or a write that fails) ends the other side, and the body's error
  // has a listener, so a cancelled restore's dropped connection cannot surface as an uncaught error in the agent.
  const check = () => {
    const sha = hash.digest("hex");
    if (manifest && key === archiveKey(name) && sha !== manifest.archive.sha256) {
      throw new ChecksumMismatchError(`archive ${key} from ${s3.location}: sha256 ${sha} differs from its manifest`);
    }
  };
  // The download is scratch, read back at once and removed with the session: no fsync (src/util/growing-file.ts).
  const arrived = file.fill(pipeline(body, counter, ignore), { check, durable: false });
  return {
    file,
    arrived,
    cancel: cancelling(body),
    from: `${s3.location}/${key}`,
    ...(manifest ? { manifest } : {}),
  };
}

/**
 * Starts decrypting an encrypted copy into `<restore_dir>/download/<name>.zip` as it streams, checking the stored
 * file's sha256 and the zip's against the manifest before the file is committed. A wrong or missing identity fails
 * before any plaintext is written; a failure later leaves no file (the growing file removes its temp file).
 */
async function decryptCopy(
  store: Store,
  manifest: Manifest,
  identity: IdentitySource | undefined,
  deps: NodeDeps,
  phase?: PhaseCounter,
): Promise<Incoming> {
  const encryption = manifest.encryption!;
  const what = `snapshot ${manifest.name} (${store.location}/${manifest.archive.file})`;
  const loaded = await identityFor(what, encryption.recipients, identity);
  const dir = join(deps.config.restoreDir, "download");
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const cipher = sha256PassThrough();
  const plain = sha256PassThrough();
  if (phase) cipher.stream.on("data", (chunk: Buffer) => phase.add(chunk.length));
  const body = await store.get(manifest.archive.file);
  // pipeline: an error on either side ends the other (the download is never left open behind a failed decrypt).
  const decrypted = await decryptStream(pipeline(body, cipher.stream, ignore), loaded, what);
  const file = await GrowingFile.create(insideDir(dir, archiveKey(manifest.name)));
  const check = () => {
    if (cipher.digest().sha256 !== encryption.sha256)
      throw new ChecksumMismatchError(`${what}: the stored file's sha256 differs from its manifest`);
    if (plain.digest().sha256 !== manifest.archive.sha256)
      throw new ChecksumMismatchError(`${what}: the decrypted archive's sha256 differs from its manifest`);
  };
  const arrived = file.fill(pipeline(decrypted, plain.stream, ignore), { check, durable: false });
  return { file, arrived, cancel: cancelling(body) };
}

/** For pipeline: its errors reach the streams' readers, who report them. */
function ignore(): void {}

async function rawKey(name: string, s3: Store): Promise<string> {
  await s3.stat(name).catch((err: unknown) => {
    throw new NotFoundError(`snapshot ${name} is not in ${s3.location} (looked for ${archiveKey(name)} and ${name})`, {
      cause: err,
    });
  });
  return name;
}
