/**
 * Resolves etcd members the way RKE does (member name `etcd-<hostname_override>`, peer/client URLs on the internal
 * address, cluster.yml order) and adds Lifeboat's per-node settings with their defaults.
 */
import { isAbsolute } from "node:path";
import { isAddress, joinHostPort, parseBaseUrl, parseHostPort } from "./endpoints.js";
import type { Report } from "./report.js";
import type { RawNode, RawNodeLifeboat } from "./schema.js";
import type { EtcdControl, EtcdNode, InstallSettings, NodeSummary } from "./types.js";

export const DEFAULT_AGENT_PORT = 7443;
export const DEFAULT_SNAPSHOT_DIR = "/opt/rke/etcd-snapshots";
export const DEFAULT_RESTORE_DIR = "/opt/rke/etcd-snapshots-restore";
export const DEFAULT_DATA_DIR = "/var/lib/etcd";

/** Summarizes every node and checks its addresses. */
export function resolveNodes(raw: RawNode[], report: Report): NodeSummary[] {
  return raw.map((node, index) => {
    const at = `nodes[${index}]`;
    for (const key of ["address", "internal_address"] as const) {
      const value = node[key];
      if (value !== undefined && value !== "" && !isAddress(value)) {
        report.issues.push({ path: `${at}.${key}`, message: `"${value}" is not an IP address or host name` });
      }
    }
    if (node.lifeboat && !node.role.includes("etcd")) {
      report.warnings.push(`${at}.lifeboat: ignored (the node has no etcd role)`);
    }
    return {
      index,
      address: node.address,
      ...(node.internal_address ? { internalAddress: node.internal_address } : {}),
      ...(node.hostname_override ? { hostnameOverride: node.hostname_override.toLowerCase() } : {}),
      roles: [...new Set(node.role)],
    };
  });
}

/** Resolves the etcd members, in cluster.yml order, and checks that names and endpoints are unique. */
export function resolveEtcdNodes(raw: RawNode[], nodes: NodeSummary[], report: Report): EtcdNode[] {
  const members = nodes
    .filter((n) => n.roles.includes("etcd"))
    .map((n) => resolveEtcdNode(n, raw[n.index]?.lifeboat ?? {}, report));
  if (raw.length > 0 && members.length === 0) {
    report.issues.push({ path: "nodes", message: "at least one node must have the etcd role" });
  }
  checkUnique(members, (m) => m.memberName, "member_name", "member name", report);
  checkUnique(members, (m) => m.agent.endpoint, "agent", "agent endpoint", report);
  checkUnique(members, (m) => m.peerUrl, "peer_url", "peer URL", report);
  checkUnique(members, (m) => m.clientUrl, "client_url", "client URL", report);
  return members;
}

function resolveEtcdNode(node: NodeSummary, lb: RawNodeLifeboat, report: Report): EtcdNode {
  const at = `nodes[${node.index}].lifeboat`;
  const ip = node.internalAddress || node.address;
  const certAddress =
    node.internalAddress && node.internalAddress !== node.address ? node.internalAddress : node.address;
  return {
    ...node,
    ip,
    memberName: lb.member_name ?? `etcd-${node.hostnameOverride ?? node.address.toLowerCase()}`,
    clientUrl: url(lb.client_url, `https://${joinHostPort(ip, 2379)}`, `${at}.client_url`, report),
    peerUrl: url(lb.peer_url, `https://${joinHostPort(ip, 2380)}`, `${at}.peer_url`, report),
    agent: agent(lb.agent, ip, `${at}.agent`, report),
    snapshotDir: dir(lb.snapshot_dir, DEFAULT_SNAPSHOT_DIR, `${at}.snapshot_dir`, report),
    restoreDir: dir(lb.restore_dir, DEFAULT_RESTORE_DIR, `${at}.restore_dir`, report),
    dataDir: dir(lb.data_dir, DEFAULT_DATA_DIR, `${at}.data_dir`, report),
    etcd: etcdControl(lb.etcd, `${at}.etcd`, report),
    postRestore: lb.post_restore ?? [],
    install: installSettings(lb.install, `${at}.install`, report),
    etcdCertName: `kube-etcd-${certAddress.replace(/\./g, "-")}`,
  };
}

function url(value: string | undefined, fallback: string, path: string, report: Report): string {
  if (value === undefined) return fallback;
  const parsed = parseBaseUrl(value);
  if (parsed.ok) return parsed.value;
  report.issues.push({ path, message: parsed.message });
  return value;
}

function agent(value: string | undefined, ip: string, path: string, report: Report): EtcdNode["agent"] {
  const fallback = { host: ip, port: DEFAULT_AGENT_PORT, endpoint: joinHostPort(ip, DEFAULT_AGENT_PORT) };
  if (value === undefined) return fallback;
  const parsed = parseHostPort(value);
  if (!parsed.ok) {
    report.issues.push({ path, message: parsed.message });
    return fallback;
  }
  const { host, port } = parsed.value;
  return { host, port, endpoint: joinHostPort(host, port) };
}

function dir(value: string | undefined, fallback: string, path: string, report: Report): string {
  if (value === undefined) return fallback;
  if (!isAbsolute(value)) report.issues.push({ path, message: `must be an absolute path, got "${value}"` });
  return value;
}

/** systemd reads units only from the node's own /etc/systemd/system: another root works in plain mode only. */
function installSettings(raw: RawNodeLifeboat["install"], path: string, report: Report): InstallSettings {
  const mode = raw?.mode ?? "systemd";
  const root = raw?.root ?? "/";
  if (!isAbsolute(root))
    report.issues.push({ path: `${path}.root`, message: `must be an absolute path, got "${root}"` });
  else if (mode === "systemd" && root !== "/") {
    report.issues.push({
      path: `${path}.root`,
      message: `must be "/" in systemd mode (another root needs mode: plain)`,
    });
  }
  return { mode, root };
}

function etcdControl(raw: RawNodeLifeboat["etcd"], path: string, report: Report): EtcdControl {
  const binaryDir = raw?.binary_dir;
  if (binaryDir !== undefined && !isAbsolute(binaryDir)) {
    report.issues.push({ path: `${path}.binary_dir`, message: `must be an absolute path, got "${binaryDir}"` });
  }
  const extra = binaryDir !== undefined ? { binaryDir } : {};
  if (raw?.mode === "managed") {
    for (const key of ["start_command", "stop_command", "status_command"] as const) {
      if (raw[key] !== undefined) report.warnings.push(`${path}.${key}: ignored in managed mode`);
    }
    return { mode: "managed", ...extra };
  }
  const start = raw?.start_command;
  const stop = raw?.stop_command;
  const status = raw?.status_command;
  if ((start === undefined) !== (stop === undefined)) {
    const missing = start === undefined ? "start_command" : "stop_command";
    report.issues.push({ path: `${path}.${missing}`, message: "required in external mode (with the other command)" });
  }
  return {
    mode: "external",
    ...(start !== undefined ? { startCommand: start } : {}),
    ...(stop !== undefined ? { stopCommand: stop } : {}),
    ...(status !== undefined ? { statusCommand: status } : {}),
    ...extra,
  };
}

function checkUnique(
  members: EtcdNode[],
  key: (m: EtcdNode) => string,
  field: string,
  what: string,
  report: Report,
): void {
  const seen = new Map<string, number>();
  for (const m of members) {
    const value = key(m);
    const first = seen.get(value);
    if (first === undefined) seen.set(value, m.index);
    else {
      report.issues.push({
        path: `nodes[${m.index}].lifeboat.${field}`,
        message: `duplicate ${what} "${value}" (also used by nodes[${first}])`,
      });
    }
  }
}

/**
 * The issues that stop a restore from stopping and starting etcd: external-mode members without both commands.
 * Empty when every member can be controlled.
 */
export function missingEtcdControl(members: readonly EtcdNode[]): { path: string; message: string }[] {
  return members.flatMap((m) =>
    m.etcd.mode === "external" && (m.etcd.startCommand === undefined || m.etcd.stopCommand === undefined)
      ? [
          {
            path: `nodes[${m.index}].lifeboat.etcd`,
            message: "start_command and stop_command are required to restore (or set mode: managed)",
          },
        ]
      : [],
  );
}
