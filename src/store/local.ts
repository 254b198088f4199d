/**
 * A store in a local directory (RKE's /opt/rke/etcd-snapshots). Keys map to files below the directory; every write
 * goes to a hidden temp file that is fsynced and renamed into place, so a crash never leaves a file that looks done.
 */
import { constants, type Dirent } from "node:fs";
import { access, mkdir, open, readdir, stat, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { type Readable, addAbortSignal } from "node:stream";
import { NotFoundError, UserError } from "../util/errors.js";
import { fsyncDir, renameDurably, tempPathFor, writeStreamAtomic } from "../util/fs.js";
import { StreamDigest, meteredBody } from "./digest.js";
import { abortError, checkKey, checkPrefix } from "./store.js";
import type { ObjectInfo, PutOptions, PutResult, Store } from "./store.js";

/** Names made by `tempPathFor`: ".<name>.<8 hex>.part". */
const TEMP_NAME = /^\..+\.[0-9a-f]{8}\.part$/;

/** A `Store` over the directory `dir` (absolute or relative to the working directory). */
export class LocalStore implements Store {
  readonly kind = "local";
  readonly location: string;

  constructor(private readonly dir: string) {
    this.location = dir;
  }

  async check(): Promise<void> {
    const info = await stat(this.dir).catch((err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT")
        throw new UserError(`snapshot directory ${this.dir} does not exist`, undefined, { cause: err });
      throw err;
    });
    if (!info.isDirectory()) throw new UserError(`snapshot directory ${this.dir} is not a directory`);
    await access(this.dir, constants.W_OK | constants.X_OK).catch((err: unknown) => {
      throw new UserError(`snapshot directory ${this.dir} is not writable`, undefined, { cause: err });
    });
  }

  /** Creates missing directories (mode 0700); the file is written with mode 0600. */
  async put(key: string, body: Readable | Uint8Array, opts: PutOptions = {}): Promise<PutResult> {
    const target = this.pathOf(key);
    const { signal } = opts;
    await mkdir(dirname(target), { recursive: true, mode: 0o700 });
    const digest = new StreamDigest(Number.MAX_SAFE_INTEGER, { hash: false });
    const beforeCommit = () => {
      if (signal?.aborted) throw abortError(signal);
    };
    const { stream, release } = meteredBody(body, digest, opts);
    try {
      await writeStreamAtomic(target, stream, { mode: 0o600, beforeCommit });
    } catch (err) {
      if (signal?.aborted) throw abortError(signal);
      throw err;
    } finally {
      release();
    }
    return { key, size: digest.bytes, verified: "local-fsync" };
  }

  async get(key: string, opts: { signal?: AbortSignal } = {}): Promise<Readable> {
    const path = this.pathOf(key);
    opts.signal?.throwIfAborted();
    const handle = await open(path, "r").catch((err: unknown) => {
      throw notFoundOr(err, key, this.dir);
    });
    const info = await handle.stat();
    if (!info.isFile()) {
      await handle.close();
      throw new NotFoundError(`${key} not found in ${this.dir}`);
    }
    const stream = handle.createReadStream();
    if (opts.signal) addAbortSignal(opts.signal, stream);
    return stream;
  }

  async stat(key: string): Promise<ObjectInfo> {
    const info = await stat(this.pathOf(key)).catch((err: unknown) => {
      throw notFoundOr(err, key, this.dir);
    });
    if (!info.isFile()) throw new NotFoundError(`${key} not found in ${this.dir}`);
    return { key, size: info.size, modified: info.mtime };
  }

  async list(prefix: string): Promise<ObjectInfo[]> {
    checkPrefix(prefix);
    const cut = prefix.lastIndexOf("/");
    const base = cut < 0 ? "" : prefix.slice(0, cut);
    const keys = (await this.walk(base)).filter((k) => k.startsWith(prefix));
    const infos = await Promise.all(keys.map((k) => this.stat(k).catch(() => undefined)));
    return infos
      .filter((i): i is ObjectInfo => i !== undefined)
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async remove(key: string): Promise<void> {
    const path = this.pathOf(key);
    try {
      await unlink(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
      throw err;
    }
    await fsyncDir(dirname(path));
  }

  /** A directory holds nothing open between calls. */
  close(): Promise<void> {
    return Promise.resolve();
  }

  /**
   * The file that holds `key`, for code that needs a path (extracting an archive, handing a file to etcd's tools).
   * Always below the directory: `checkKey` refuses absolute keys and "..", "." or empty segments first.
   */
  pathOf(key: string): string {
    checkKey(key);
    return join(this.dir, ...key.split("/"));
  }

  /**
   * A hidden path beside `key` for scratch data (a save's spooled snapshot): it never lists as a key, and
   * `removeScratch` removes it after a crash. The caller creates the file and removes it.
   */
  scratchPath(key: string): string {
    return tempPathFor(this.pathOf(key));
  }

  /**
   * Puts the scratch file `path` (made by `scratchPath(key)`, written and fsynced by the caller) in place as `key`:
   * renamed, then the directory fsynced. Refuses a path that is not a scratch file beside `key`.
   */
  async commitScratch(path: string, key: string): Promise<void> {
    const target = this.pathOf(key);
    if (dirname(path) !== dirname(target) || !TEMP_NAME.test(basename(path)))
      throw new Error(`${path} is not a scratch file beside ${key} in ${this.dir}`);
    await renameDurably(path, target);
  }

  /** Removes the temp files a crashed writer left in the folder (top level only); returns their names. */
  async removeScratch(): Promise<string[]> {
    const entries = await readdir(this.dir, { withFileTypes: true }).catch(() => []);
    const stale = entries.filter((e) => e.isFile() && TEMP_NAME.test(e.name)).map((e) => e.name);
    await Promise.all(stale.map((n) => unlink(join(this.dir, n)).catch(() => undefined)));
    return stale;
  }

  /** Every file key below the key directory `base` ("" for the root), temp files left out. */
  private async walk(base: string): Promise<string[]> {
    let entries: Dirent[];
    try {
      entries = await readdir(base ? join(this.dir, ...base.split("/")) : this.dir, { withFileTypes: true });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOENT" || code === "ENOTDIR") return [];
      throw err;
    }
    const nested = await Promise.all(
      entries.map(async (e) => {
        const key = base ? `${base}/${e.name}` : e.name;
        if (e.isDirectory()) return this.walk(key);
        return e.isFile() && !TEMP_NAME.test(e.name) ? [key] : [];
      }),
    );
    return nested.flat();
  }
}

function notFoundOr(err: unknown, key: string, dir: string): unknown {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === "ENOENT" || code === "ENOTDIR") return new NotFoundError(`${key} not found in ${dir}`, { cause: err });
  return err;
}
