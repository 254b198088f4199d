/**
 * Finding the etcd binaries (etcd, etcdctl, and etcdutl from 3.5 on) and their version.
 *
 * Search order: an explicit `dir` (used alone), `$LIFEBOAT_ETCD_DIR`, the cache that `npm run etcd:install` fills
 * (`${LIFEBOAT_CACHE:-~/.cache/lifeboat}/etcd/<series>/usr/bin`, newest series first), then `$PATH`.
 */
import { constants } from "node:fs";
import { access, readdir } from "node:fs/promises";
import { homedir } from "node:os";
import { delimiter, join } from "node:path";
import { UserError } from "../util/errors.js";
import { runCommand } from "./exec.js";

/** A major.minor release line such as "3.4" or "3.5". */
export type EtcdSeries = string;

export interface EtcdTools {
  /** The directory holding the binaries. */
  dir: string;
  etcd: string;
  etcdctl: string;
  /** Present from 3.5 on; offline snapshot commands live here. */
  etcdutl?: string;
  /** Full version from `etcd --version`, e.g. "3.5.30". */
  version: string;
  series: EtcdSeries;
}

export interface FindOptions {
  /** Only accept this release line. */
  series?: EtcdSeries;
  /** Look only here. */
  dir?: string;
  env?: NodeJS.ProcessEnv;
}

const VERSION_TIMEOUT_MS = 10_000;

/** Finds usable etcd binaries; throws UserError saying how to install them when none match. */
export async function findEtcdTools(opts: FindOptions = {}): Promise<EtcdTools> {
  const env = opts.env ?? process.env;
  const dirs = opts.dir !== undefined ? [opts.dir] : await candidateDirs(env, opts.series);
  for (const dir of dirs) {
    const tools = await probeDir(dir);
    if (tools && (opts.series === undefined || tools.series === opts.series)) return tools;
  }
  const wanted = opts.series ? `etcd ${opts.series}` : "etcd";
  const where = opts.dir !== undefined ? ` in ${opts.dir}` : "";
  throw new UserError(
    `no ${wanted} found${where}: run \`npm run etcd:install\`, or install etcd (etcd, etcdctl, etcdutl) ` +
      `and put it on PATH or set LIFEBOAT_ETCD_DIR`,
  );
}

/** Every release line that can be found (ascending, e.g. ["3.4", "3.5"]), for test matrices. */
export async function availableEtcdSeries(env: NodeJS.ProcessEnv = process.env): Promise<EtcdSeries[]> {
  const found = new Set<EtcdSeries>();
  for (const dir of await candidateDirs(env, undefined)) {
    const tools = await probeDir(dir);
    if (tools) found.add(tools.series);
  }
  return [...found].sort(compareSeries);
}

/** The directory the install script unpacks etcd into. */
export function etcdCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.LIFEBOAT_CACHE ?? join(homedir(), ".cache", "lifeboat"), "etcd");
}

async function candidateDirs(env: NodeJS.ProcessEnv, series: EtcdSeries | undefined): Promise<string[]> {
  const cache = etcdCacheDir(env);
  const cached = series !== undefined ? [series] : (await listSeries(cache)).sort(compareSeries).reverse();
  const path = (env.PATH ?? "").split(delimiter).filter((p) => p !== "");
  const dirs = [env.LIFEBOAT_ETCD_DIR, ...cached.map((s) => join(cache, s, "usr", "bin")), ...path];
  return [...new Set(dirs.filter((d): d is string => d !== undefined && d !== ""))];
}

async function listSeries(cache: string): Promise<string[]> {
  try {
    return (await readdir(cache)).filter((n) => /^\d+\.\d+$/.test(n));
  } catch {
    return [];
  }
}

/** The tools in `dir`, or undefined when etcd or etcdctl is missing or `etcd --version` does not answer. */
async function probeDir(dir: string): Promise<EtcdTools | undefined> {
  const etcd = join(dir, "etcd");
  const etcdctl = join(dir, "etcdctl");
  if (!(await isExecutable(etcd)) || !(await isExecutable(etcdctl))) return undefined;
  const version = await etcdVersion(etcd);
  if (version === undefined) return undefined;
  const etcdutl = join(dir, "etcdutl");
  const tools: EtcdTools = { dir, etcd, etcdctl, version, series: version.split(".").slice(0, 2).join(".") };
  if (await isExecutable(etcdutl)) tools.etcdutl = etcdutl;
  return tools;
}

async function etcdVersion(etcd: string): Promise<string | undefined> {
  try {
    const result = await runCommand(etcd, ["--version"], { timeoutMs: VERSION_TIMEOUT_MS });
    return /etcd Version:\s*(\d+\.\d+\.\d+)/.exec(result.stdout)?.[1];
  } catch {
    return undefined;
  }
}

async function isExecutable(file: string): Promise<boolean> {
  try {
    await access(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function compareSeries(a: string, b: string): number {
  const [am = 0, an = 0] = a.split(".").map(Number);
  const [bm = 0, bn = 0] = b.split(".").map(Number);
  return am - bm || an - bn;
}
