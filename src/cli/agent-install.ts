/**
 * `lifeboat agent install|upgrade|uninstall|status`: the agents on the etcd nodes, over SSH (src/install). One line
 * per node; exit 0 when every node is done, 3 when some failed, 1 when all did, 2 for bad flags or config (nothing
 * touched).
 */
import { access, stat } from "node:fs/promises";
import { constants } from "node:fs";
import { isSea } from "node:sea";
import { fileURLToPath } from "node:url";
import { agentBundleFiles } from "../agent/bundle.js";
import type { NodeSsh } from "../config/cluster.js";
import { selectNodes } from "../fleet/cleanup.js";
import type { Fleet, FleetNode } from "../fleet/fleet.js";
import {
  installNode,
  memberVersion,
  sha256File,
  statusNode,
  toolsFinder,
  toolsFromFlag,
  uninstallNode,
  type NodeTarget,
} from "../install/index.js";
import { connectNode, type RemoteHost } from "../remote/index.js";
import { exitCodeOfFailures, UserError } from "../util/errors.js";
import { registerSecret } from "../util/redact.js";
import type { CliDeps } from "./deps.js";
import { table } from "./output.js";
import { VERSION } from "./version.js";

export interface AgentSshOptions {
  config: string;
  node?: string[];
  knownHosts?: string;
  acceptNewHostKeys?: boolean;
}

export interface AgentInstallOptions extends AgentSshOptions {
  program?: string;
  etcdTools?: string;
}

/** The passphrase of an encrypted SSH key comes from the environment, never from a flag (shell history, ps). */
export const PASSPHRASE_ENV = "LIFEBOAT_SSH_KEY_PASSPHRASE";

export async function runAgentInstall(options: AgentInstallOptions, deps: CliDeps, upgrade = false): Promise<void> {
  await withNodes(options, deps, async (fleet, nodes, connect) => {
    const program = await programFile(options.program);
    const flag = options.etcdTools ? await toolsFromFlag(options.etcdTools) : undefined;
    try {
      if (flag)
        deps.out.note(`etcd tools to copy where missing: etcd ${flag.source.version} from ${flag.source.describe}`);
      const installOptions = {
        program,
        agentFiles: (node: FleetNode["node"], agentDir: string) =>
          agentBundleFiles({ config: fleet.config, state: fleet.state, memberName: node.memberName, outDir: agentDir }),
        tools: toolsFinder(flag?.source),
        memberVersion: (node: FleetNode["node"]) => memberVersion(node, fleet.state),
        requireInstalled: upgrade,
      };
      const results = await Promise.all(
        nodes.map((t) => installNode(t, installOptions, { connect, sleep: (ms) => deps.sleep(ms) })),
      );
      for (const r of results) {
        deps.out.line(
          r.ok
            ? `${r.node}  ${r.outcome ?? "done"}: agent ${r.version ?? "?"} answers over mutual TLS; ${r.tools ?? ""}`
            : `${r.node}  FAILED  ${r.error ?? "unknown error"}`,
        );
      }
      const failed = results.filter((r) => !r.ok).length;
      summary(deps, results.length, failed, "a failed node keeps what it had before this run");
      deps.out.result({ program: program.path, nodes: results });
    } finally {
      await flag?.cleanup();
    }
  });
}

export async function runAgentUninstall(options: AgentSshOptions, deps: CliDeps): Promise<void> {
  await withNodes(options, deps, async (_fleet, nodes, connect) => {
    const results = await Promise.all(nodes.map((t) => uninstallNode(t, { connect })));
    for (const r of results) {
      deps.out.line(
        r.ok
          ? `${r.node}  ${r.removed.length ? `removed ${r.removed.join(", ")}` : "nothing installed"}; ` +
              `kept ${r.kept.join(", ")} (snapshots, restore files, etcd data)`
          : `${r.node}  FAILED  ${r.error ?? "unknown error"}`,
      );
    }
    summary(deps, results.length, results.filter((r) => !r.ok).length);
    deps.out.result({ nodes: results });
  });
}

export async function runAgentStatus(options: AgentSshOptions, deps: CliDeps): Promise<void> {
  await withNodes(options, deps, async (_fleet, nodes, connect) => {
    const results = await Promise.all(nodes.map((t) => statusNode(t, { connect })));
    deps.out.line(
      table(
        ["NODE", "SSH", "SERVICE", "PROGRAM", "AGENT", "HEALTH"],
        results.map((r) => [
          r.node,
          r.ssh.ok ? "ok" : "FAILED",
          r.service?.detail ?? "-",
          r.program === undefined ? "-" : (r.program ?? "not installed"),
          r.agent.ok ? (r.agent.version ?? "?") : "NO ANSWER",
          r.health.detail,
        ]),
      ),
    );
    for (const r of results) {
      if (r.ssh.error) deps.out.line(`${r.node}: ssh: ${r.ssh.error}`);
      if (r.agent.error) deps.out.line(`${r.node}: agent: ${r.agent.error}`);
    }
    const bad = results.filter((r) => !r.ok).length;
    deps.out.line(`${results.length - bad} of ${results.length} agents installed, running and healthy`);
    deps.setExitCode(exitCodeOfFailures(bad, results.length));
    deps.out.result({ nodes: results });
  });
}

type Connect = (ssh: NodeSsh) => Promise<RemoteHost>;

/** Opens the cluster, picks the nodes (`--node`), and gives each its SSH settings and its agent. */
async function withNodes(
  options: AgentSshOptions,
  deps: CliDeps,
  body: (fleet: Fleet, nodes: NodeTarget[], connect: Connect) => Promise<void>,
): Promise<void> {
  const fleet = await deps.openFleet(options.config, deps.out);
  try {
    const targets = selectNodes(fleet, options.node ?? []).map((n) => ({
      node: n.node,
      ssh: sshOf(fleet, n),
      agent: { info: () => n.info(), health: () => n.health() },
    }));
    const passphrase = process.env[PASSPHRASE_ENV];
    registerSecret(passphrase);
    const connect: Connect = (ssh) =>
      connectNode(ssh, {
        ...(options.knownHosts ? { knownHostsPath: options.knownHosts } : {}),
        acceptNewHostKeys: options.acceptNewHostKeys === true,
        // The global --ssh-agent-auth (RKE's flag, before or after the command), or-ed with cluster.yml's.
        sshAgentAuth: deps.sshAgentAuth,
        ...(passphrase ? { passphrase } : {}),
        log: deps.log,
      });
    await body(fleet, targets, connect);
  } finally {
    fleet.close();
  }
}

function sshOf(fleet: Fleet, n: FleetNode): NodeSsh {
  const ssh = fleet.config.ssh[n.node.index];
  if (!ssh) throw new Error(`no SSH settings for nodes[${n.node.index}]`);
  return ssh;
}

/**
 * `--program FILE`, else this executable when it is the single executable, else the one `npm run package` made for
 * this build. Hashed once for every node.
 */
async function programFile(flag: string | undefined): Promise<{ path: string; sha256: string; size: number }> {
  const path =
    flag ??
    (isSea()
      ? process.execPath
      : fileURLToPath(new URL(`../../package/lifeboat-${VERSION}-linux-x64`, import.meta.url)));
  const file = await stat(path).catch(() => undefined);
  const runnable =
    file?.isFile() &&
    (await access(path, constants.X_OK).then(
      () => true,
      () => false,
    ));
  if (!runnable) {
    throw new UserError(
      flag
        ? `--program ${flag}: not an executable file`
        : `no program to install: ${path} does not exist; run \`npm run package\` (it makes the single executable) ` +
            `or give --program FILE`,
    );
  }
  return { path, ...(await sha256File(path)) };
}

function summary(deps: CliDeps, total: number, failed: number, note?: string): void {
  deps.out.line(`${total - failed} of ${total} nodes done${failed && note ? `; ${note}` : ""}`);
  deps.setExitCode(exitCodeOfFailures(failed, total));
}
