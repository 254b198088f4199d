/**
 * `agent uninstall` on one node: stops the agent, removes the unit (or the pid file), the program, the etcd tools
 * beside it and the agent folder (its keys, schedule and history), and the directories install made when they are
 * empty. It never removes a snapshot: snapshot_dir, restore_dir and data_dir are not touched, and a folder that holds
 * one of them is emptied of Lifeboat's own files only, never removed whole.
 */
import { posix } from "node:path";
import type { EtcdNode } from "../config/cluster.js";
import { ensureRoot, shellQuote } from "../remote/index.js";
import type { RemoteHost } from "../remote/index.js";
import { describeError } from "../util/errors.js";
import type { NodeTarget } from "./install.js";
import { ETCD_TOOL_NAMES, layoutOf } from "./layout.js";
import { agentService } from "./service.js";
import { NodeShell } from "./shell.js";

export interface UninstallResult {
  node: string;
  ok: boolean;
  /** What was there and is gone: `agent stopped`, `unit`, `program`, `agent folder`, ... */
  removed: string[];
  /** The directories left alone. */
  kept: string[];
  error?: string;
}

/** Files Lifeboat puts in the agent folder, or the agent writes there (bundle.ts, schedule/). */
const AGENT_FILES = [
  "agent.json",
  "ca.pem",
  "agent.pem",
  "agent-key.pem",
  "etcd-client.pem",
  "etcd-client-key.pem",
  "etcd-server.pem",
  "etcd-server-key.pem",
  "schedule.json",
  "schedule-state.json",
  "etcd.log",
];

export async function uninstallNode(
  target: NodeTarget,
  deps: { connect(ssh: NodeTarget["ssh"]): Promise<RemoteHost> },
): Promise<UninstallResult> {
  const { node } = target;
  const result: UninstallResult = {
    node: node.memberName,
    ok: false,
    removed: [],
    kept: [node.snapshotDir, node.restoreDir, node.dataDir],
  };
  let host: RemoteHost | undefined;
  try {
    host = await deps.connect(target.ssh);
    const shell = new NodeShell(host, await ensureRoot(host));
    await uninstall(shell, node, result);
    result.ok = true;
  } catch (err) {
    result.error = describeError(err);
  } finally {
    await host?.close();
  }
  return result;
}

async function uninstall(shell: NodeShell, node: EtcdNode, result: UninstallResult): Promise<void> {
  const layout = layoutOf(node);
  const q = shellQuote;
  const service = agentService(node.install.mode, shell, layout);
  const state = await service.state();
  if (state.kind === "running") result.removed.push("agent stopped");
  await service.stop();
  if (state.kind !== "absent") result.removed.push(service.mode === "systemd" ? "unit" : "pid file");
  await service.remove();
  const exists = async (path: string) => (await shell.exec(`[ -e ${q(path)} ]`)).code === 0;
  const had = {
    program: await exists(layout.program),
    tools: await exists(posix.join(layout.toolsDir, "etcd")),
    folder: await exists(layout.agentDir),
  };
  const tools = ETCD_TOOL_NAMES.map((t) => q(posix.join(layout.toolsDir, t))).join(" ");
  await shell.run(
    `rm -f -- ${q(layout.program)} ${q(layout.program + ".lifeboat-previous")} ${tools} ${q(layout.logFile)}`,
    "removing the program",
  );
  const holdsData = result.kept.some((dir) => isInside(dir, layout.agentDir));
  const folder = holdsData
    ? `rm -f -- ${AGENT_FILES.map((f) => q(posix.join(layout.agentDir, f))).join(" ")}`
    : `rm -rf -- ${q(layout.agentDir)}`;
  await shell.run(folder, `removing the agent folder ${layout.agentDir}`);
  // Outermost last; a directory that holds anything else stays.
  const dirs = [...layout.dirs].reverse().map((d) => `rmdir -- ${q(d)} 2>/dev/null`);
  await shell.exec(dirs.join("; ") + "; exit 0");
  if (had.program) result.removed.push("program");
  if (had.tools) result.removed.push("etcd tools");
  if (had.folder) result.removed.push("agent folder");
}

function isInside(path: string, dir: string): boolean {
  const rel = posix.relative(dir, path);
  return rel === "" || (!rel.startsWith("..") && !posix.isAbsolute(rel));
}
