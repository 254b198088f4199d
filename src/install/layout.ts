/**
 * Where `lifeboat agent install` puts things on a node, every path under the node's `lifeboat.install.root` ("/" on
 * a real node). Snapshots, restore files and etcd's data stay where cluster.yml says: nothing here is under them,
 * and uninstall never touches them.
 */
import { posix } from "node:path";
import type { EtcdNode } from "../config/cluster.js";

export const UNIT_NAME = "lifeboat-agent.service";
/** The etcd tools beside the program: the agent looks for them in `<its own directory>/etcd-tools/`. */
export const TOOLS_DIR_NAME = "etcd-tools";
export const ETCD_TOOL_NAMES = ["etcd", "etcdctl", "etcdutl"] as const;

export interface InstallLayout {
  root: string;
  /** `<root>/opt/lifeboat/bin`: the program and its etcd tools. */
  binDir: string;
  program: string;
  toolsDir: string;
  /** `<root>/etc/lifeboat/agent`: what `lifeboat cert node` writes, plus what the agent writes there itself. */
  agentDir: string;
  /** `<root>/etc/systemd/system/lifeboat-agent.service` (systemd mode). */
  unit: string;
  /** `<root>/var/lib/lifeboat`: plain mode's pid file and log. */
  stateDir: string;
  pidFile: string;
  logFile: string;
  /** Directories install may create, outermost first: uninstall removes them again only when empty. */
  dirs: string[];
}

export function installLayout(root: string): InstallLayout {
  const at = (...parts: string[]) => posix.join(root, ...parts);
  const binDir = at("opt", "lifeboat", "bin");
  const stateDir = at("var", "lib", "lifeboat");
  return {
    root,
    binDir,
    program: posix.join(binDir, "lifeboat"),
    toolsDir: posix.join(binDir, TOOLS_DIR_NAME),
    agentDir: at("etc", "lifeboat", "agent"),
    unit: at("etc", "systemd", "system", UNIT_NAME),
    stateDir,
    pidFile: posix.join(stateDir, "agent.pid"),
    logFile: posix.join(stateDir, "agent.log"),
    dirs: [
      at("opt", "lifeboat"),
      binDir,
      posix.join(binDir, TOOLS_DIR_NAME),
      at("etc", "lifeboat"),
      at("etc", "lifeboat", "agent"),
      stateDir,
    ],
  };
}

/** The layout under a node's `lifeboat.install.root`. */
export function layoutOf(node: Pick<EtcdNode, "install">): InstallLayout {
  return installLayout(node.install.root);
}
