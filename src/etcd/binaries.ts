/**
 * Finding the etcd tools (etcd, etcdctl, and etcdutl from 3.5 on) and their version.
 *
 * An explicit `dir` (a node's `lifeboat.etcd.tools_dir`) is used alone. Otherwise, in this order:
 * `$LIFEBOAT_ETCD_DIR`; `etcd-tools/` beside the running program when it is Lifeboat's single executable (where
 * `agent install` puts them); the developer cache that `npm run etcd:install` fills
 * (`${LIFEBOAT_CACHE:-~/.cache/lifeboat}/etcd/<series>/usr/bin`, newest series first), only when the caller names it
 * with `developerCache` (the sandbox, tests, the bench: never an agent); then `$PATH`.
 */
import { constants } from "node:fs";
import { access, readdir } from "node:fs/promises";
import { homedir } from "node:os";
import { delimiter, dirname, join } from "node:path";
import { isSea } from "node:sea";
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
  /** Look only here (a configured tools_dir). */
  dir?: string;
  /** Also look in the developer cache that `npm run etcd:install` fills. Never set by an agent. */
  developerCache?: boolean;
  /** The folder beside the program (default: `<dir of the executable>/etcd-tools` inside the single executable). */
  besideProgram?: string | undefined;
  env?: NodeJS.ProcessEnv;
}

/** One place searched, and how it is named in the error when nothing fits. */
interface Candidate {
  dir: string;
  label: string;
}

const VERSION_TIMEOUT_MS = 10_000;

/** The folder `agent install` copies the etcd tools into: `etcd-tools/` beside the single executable. */
export function programToolsDir(): string | undefined {
  return isSea() ? join(dirname(process.execPath), "etcd-tools") : undefined;
}

/** Finds usable etcd tools; throws UserError naming every place looked when none match. */
export async function findEtcdTools(opts: FindOptions = {}): Promise<EtcdTools> {
  const env = opts.env ?? process.env;
  const candidates =
    opts.dir !== undefined ? [{ dir: opts.dir, label: "the configured tools_dir" }] : await candidateDirs(env, opts);
  const mismatched: string[] = [];
  for (const { dir } of candidates) {
    const tools = await probeDir(dir);
    if (!tools) continue;
    if (opts.series === undefined || tools.series === opts.series) return tools;
    mismatched.push(`${dir} has etcd ${tools.version}`);
  }
  throw notFound(opts, candidates, mismatched);
}

function notFound(opts: FindOptions, candidates: Candidate[], mismatched: string[]): UserError {
  const wanted = opts.series ? `etcd ${opts.series}` : "etcd";
  const looked = describePlaces(candidates) || "nowhere (PATH is empty)";
  const other = mismatched.length ? `; ${mismatched.join(", ")}` : "";
  const fix =
    opts.dir !== undefined
      ? "put etcd, etcdctl (and etcdutl for 3.5+) there or change lifeboat.etcd.tools_dir"
      : "set the node's lifeboat.etcd.tools_dir, put etcd, etcdctl (and etcdutl for 3.5+) on PATH, " +
        "or set LIFEBOAT_ETCD_DIR (developers: `npm run etcd:install`)";
  return new UserError(`no ${wanted} (etcd and etcdctl) found; looked in ${looked}${other}: ${fix}`);
}

/** "PATH (/usr/local/bin, /usr/bin)": each kind of place once, with its folders in search order. */
function describePlaces(candidates: Candidate[]): string {
  const groups = new Map<string, string[]>();
  for (const c of candidates) groups.set(c.label, [...(groups.get(c.label) ?? []), c.dir]);
  return [...groups].map(([label, dirs]) => `${label} (${dirs.join(", ")})`).join(", ");
}

/** Every release line that can be found (ascending, e.g. ["3.4", "3.5"]), for test matrices: the cache included. */
export async function availableEtcdSeries(env: NodeJS.ProcessEnv = process.env): Promise<EtcdSeries[]> {
  const found = new Set<EtcdSeries>();
  for (const { dir } of await candidateDirs(env, { developerCache: true })) {
    const tools = await probeDir(dir);
    if (tools) found.add(tools.series);
  }
  return [...found].sort(compareSeries);
}

/** The directory the install script unpacks etcd into. */
export function etcdCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.LIFEBOAT_CACHE ?? join(homedir(), ".cache", "lifeboat"), "etcd");
}

async function candidateDirs(env: NodeJS.ProcessEnv, opts: FindOptions): Promise<Candidate[]> {
  const beside = "besideProgram" in opts ? opts.besideProgram : programToolsDir();
  const out: Candidate[] = [];
  if (env.LIFEBOAT_ETCD_DIR) out.push({ dir: env.LIFEBOAT_ETCD_DIR, label: "LIFEBOAT_ETCD_DIR" });
  if (beside) out.push({ dir: beside, label: "beside the program" });
  if (opts.developerCache) {
    const cache = etcdCacheDir(env);
    const series = opts.series !== undefined ? [opts.series] : (await listSeries(cache)).sort(compareSeries).reverse();
    for (const s of series) out.push({ dir: join(cache, s, "usr", "bin"), label: "the developer cache" });
  }
  for (const dir of (env.PATH ?? "").split(delimiter)) if (dir !== "") out.push({ dir, label: "PATH" });
  const seen = new Set<string>();
  return out.filter((c) => !seen.has(c.dir) && seen.add(c.dir));
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
