/**
 * The etcd tools an agent needs on its node (etcd, etcdctl, and etcdutl from 3.5 on: restores and verifies run
 * them), of its member's release line. `agent install` copies them only to a node that lacks them, from what the
 * operator has: a release tarball or directory given with `--etcd-tools`, else the tools found on this machine
 * (findEtcdTools: $LIFEBOAT_ETCD_DIR, Lifeboat's cache, PATH). The member's version is asked of the member itself.
 */
import { access, mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { constants } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import type { EtcdNode } from "../config/cluster.js";
import { CA_CERT_NAME, lookupCert, NODE_CERT_NAME, type ClusterState } from "../config/state.js";
import { findEtcdTools } from "../etcd/binaries.js";
import { EtcdMemberClient } from "../etcd/client.js";
import { runCommand } from "../etcd/exec.js";
import { shellQuote } from "../remote/index.js";
import { ExitCode, UserError } from "../util/errors.js";
import { ETCD_TOOL_NAMES } from "./layout.js";
import { needsEtcdutl, seriesOf } from "./plan.js";

export interface ToolsSource {
  version: string;
  /** The tool files present, by name. */
  files: { name: (typeof ETCD_TOOL_NAMES)[number]; path: string }[];
  /** Where they came from, for the report: `--etcd-tools etcd-v3.5.30-linux-amd64.tar.gz`, `/usr/local/bin`. */
  describe: string;
}

/** Finds the tools of a release line to copy; undefined when there are none. */
export type ToolsFinder = (series: string) => Promise<ToolsSource | undefined>;

/** Bad `--etcd-tools` input: exit 2, nothing touched. */
function badFlag(message: string): UserError {
  return new UserError(`--etcd-tools: ${message}`, ExitCode.usage);
}

/**
 * Opens `--etcd-tools PATH`: a directory holding the tools, or an etcd release tarball (etcd-vX.Y.Z-linux-amd64.tar.gz,
 * unpacked with `tar` into a temp directory that `cleanup` removes).
 */
export async function toolsFromFlag(path: string): Promise<{ source: ToolsSource; cleanup: () => Promise<void> }> {
  const info = await stat(path).catch(() => undefined);
  if (!info) throw badFlag(`${path} does not exist`);
  if (info.isDirectory()) return { source: await toolsIn(path, `--etcd-tools ${path}`), cleanup: async () => {} };
  const temp = await mkdtemp(join(tmpdir(), "lifeboat-etcd-tools-"));
  const cleanup = () => rm(temp, { recursive: true, force: true });
  try {
    const untar = await runCommand("tar", ["-xzf", path, "-C", temp], { timeoutMs: 120_000 });
    if (untar.code !== 0) throw badFlag(`${path} is not a .tar.gz archive (${untar.stderr.trim().slice(0, 200)})`);
    const entries = await readdir(temp);
    const dir = entries.length === 1 && entries[0] ? join(temp, entries[0]) : temp;
    return { source: await toolsIn(dir, `--etcd-tools ${path}`, versionInName(path)), cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

/** The tools in `dir`, their version from `etcd --version` (or the release's file name when it cannot run here). */
async function toolsIn(dir: string, describe: string, nameVersion?: string): Promise<ToolsSource> {
  const files: ToolsSource["files"] = [];
  for (const name of ETCD_TOOL_NAMES) {
    const path = join(dir, name);
    if (
      await access(path, constants.R_OK).then(
        () => true,
        () => false,
      )
    )
      files.push({ name, path });
  }
  if (!files.some((f) => f.name === "etcd") || !files.some((f) => f.name === "etcdctl")) {
    throw badFlag(`no etcd and etcdctl in ${dir}`);
  }
  const version = (await runVersion(join(dir, "etcd"))) ?? nameVersion ?? versionInName(dir);
  if (!version) throw badFlag(`cannot tell the etcd version of ${dir} (etcd --version does not run here)`);
  if (needsEtcdutl(version) && !files.some((f) => f.name === "etcdutl")) {
    throw badFlag(`etcd ${version} needs etcdutl, which ${dir} lacks`);
  }
  return { version, files, describe };
}

async function runVersion(etcd: string): Promise<string | undefined> {
  const result = await runCommand(etcd, ["--version"], { timeoutMs: 10_000 }).catch(() => undefined);
  return result ? /etcd Version:\s*(\d+\.\d+\.\d+)/.exec(result.stdout)?.[1] : undefined;
}

function versionInName(path: string): string | undefined {
  return /etcd-v(\d+\.\d+\.\d+)/.exec(basename(path))?.[1];
}

/** The tools of this machine for a release line (findEtcdTools), or the one `--etcd-tools` source when it matches. */
export function toolsFinder(flag: ToolsSource | undefined): ToolsFinder {
  const found = new Map<string, Promise<ToolsSource | undefined>>();
  return (series) => {
    if (flag) return Promise.resolve(seriesOf(flag.version) === series ? flag : undefined);
    let promise = found.get(series);
    if (!promise) {
      // The operator's machine, not a node: Lifeboat's own cache (`npm run etcd:install`) counts, and the result
      // says which folder was used.
      promise = findEtcdTools({ series, developerCache: true }).then(
        (t) => ({
          version: t.version,
          files: [
            { name: "etcd" as const, path: t.etcd },
            { name: "etcdctl" as const, path: t.etcdctl },
            ...(t.etcdutl ? [{ name: "etcdutl" as const, path: t.etcdutl }] : []),
          ],
          describe: `this machine's ${t.dir}`,
        }),
        () => undefined,
      );
      found.set(series, promise);
    }
    return promise;
  };
}

/**
 * The shell that lists a node's etcd tools, one `<dir> <version> [etcdutl]` line per directory holding etcd and
 * etcdctl: each of `dirs` in order, then the directory of `etcd` on PATH (parsed by parseNodeTools).
 */
export function nodeToolsCheck(dirs: readonly string[]): string {
  return [
    `check() { v=$("$1/etcd" --version 2>/dev/null | sed -n 's/^etcd Version: *//p' | head -n 1); ` +
      `[ -n "$v" ] && [ -x "$1/etcdctl" ] || return 0; u=; [ -x "$1/etcdutl" ] && u=" etcdutl"; echo "$1 $v$u"; }`,
    ...dirs.map((d) => `check ${shellQuote(d)}`),
    `e=$(command -v etcd 2>/dev/null) && check "$(dirname "$e")"`,
    "exit 0",
  ].join("\n");
}

/** The member's version as it reports it (Maintenance.Status over the state file's kube-node identity). */
export async function memberVersion(node: EtcdNode, state: ClusterState): Promise<string | undefined> {
  const ca = lookupCert(state, CA_CERT_NAME);
  const cert = lookupCert(state, NODE_CERT_NAME);
  const tls = ca
    ? { caPEM: ca.certificatePEM, ...(cert?.keyPEM ? { certPEM: cert.certificatePEM, keyPEM: cert.keyPEM } : {}) }
    : undefined;
  let client: EtcdMemberClient | undefined;
  try {
    client = await EtcdMemberClient.connect({ endpoint: node.clientUrl, ...(tls ? { tls } : {}), timeoutMs: 5_000 });
    return (await client.status()).version;
  } catch {
    return undefined;
  } finally {
    client?.close();
  }
}
