/**
 * Where a node's restore starts (POST /v1/restore/prepare): find `<name>` (archive or raw file) in S3 or in this
 * node's snapshot directory, check it against its manifest, and extract the snapshot file into the restore folder.
 */
import { createHash } from "node:crypto";
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { detectSnapshotFile, extractSnapshot, readStateFile } from "../archive/rke.js";
import { fetchManifest } from "../snapshot/catalog.js";
import { archiveKey, manifestKey, type Manifest } from "../snapshot/manifest.js";
import type { Store } from "../store/store.js";
import { ChecksumMismatchError, NotFoundError } from "../util/errors.js";
import { insideDir, writeStreamAtomic } from "../util/fs.js";
import type { NodeDeps } from "./steps.js";

/** Finds `<name>` (archive or raw file) in S3 or in this node's snapshot directory and extracts the snapshot file. */
export async function prepare(name: string, s3: Store | undefined, deps: NodeDeps) {
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
async function localSource(name: string, deps: NodeDeps) {
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
async function downloadFromS3(name: string, s3: Store, deps: NodeDeps) {
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
