/**
 * Resolves etcd members the way RKE does (member name `etcd-<hostname_override>`, peer/client URLs on the internal
 * address, cluster.yml order) and adds Lifeboat's per-node settings with their defaults.
 */
import { isAbsolute } from "node:path";
import { isAddress, joinHostPort, parseBaseUrl, parseHostPort } from "./endpoints.js";
import type { Report } from "./report.js";
import type { RawNode, RawNodeLifeboat } from "./schema.js";
import type { EtcdControl, EtcdNode, EtcdPreset, InstallSettings, NodeSummary } from "./types.js";

export const DEFAULT_AGENT_PORT = 7443;
export const DEFAULT_SNAPSHOT_DIR = "/opt/rke/etcd-snapshots";
export const DEFAULT_RESTORE_DIR = "/opt/rke/etcd-snapshots-restore";
export const DEFAULT_DATA_DIR = "/var/lib/etcd";

type RawEtcd = NonNullable<RawNodeLifeboat["etcd"]>;

/**
 * `lifeboat.etcd.preset: rke`: RKE's Docker etcd (rke:services/etcd.go). The container `etcd` is stopped and started
 * with Docker and checked with `docker inspect`; data in `/var/lib/etcd` (RKE's host path without `prefix_path`),
 * snapshots in `/opt/rke/etcd-snapshots`. Keys the node sets itself win.
 */
export const RKE_PRESET = {
  node: { data_dir: DEFAULT_DATA_DIR, snapshot_dir: DEFAULT_SNAPSHOT_DIR },
  etcd: {
    mode: "external",
    start_command: "docker start etcd",
    stop_command: "docker stop etcd",
    status_command: "docker inspect -f '{{.State.Running}}' etcd | grep -qx true",
  },
} as const satisfies { node: Partial<RawNodeLifeboat>; etcd: RawEtcd };

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
export function resolveEtcdNodes(
  raw: RawNode[],
  nodes: NodeSummary[],
  report: Report,
  topPreset?: EtcdPreset,
): EtcdNode[] {
  const members = nodes
    .filter((n) => n.roles.includes("etcd"))
    .map((n) => resolveEtcdNode(n, raw[n.index]?.lifeboat ?? {}, report, topPreset));
  if (raw.length > 0 && members.length === 0) {
    report.issues.push({ path: "nodes", message: "at least one node must have the etcd role" });
  }
  checkUnique(members, (m) => m.memberName, "member_name", "member name", report);
  checkUnique(members, (m) => m.agent.endpoint, "agent", "agent endpoint", report);
  checkUnique(members, (m) => m.peerUrl, "peer_url", "peer URL", report);
  checkUnique(members, (m) => m.clientUrl, "client_url", "client URL", report);
  return members;
}

function resolveEtcdNode(
  node: NodeSummary,
  own: RawNodeLifeboat,
  report: Report,
  topPreset: EtcdPreset | undefined,
): EtcdNode {
  const at = `nodes[${node.index}].lifeboat`;
  const preset = own.etcd?.preset ?? topPreset;
  const lb = preset === "rke" ? withPreset(own) : own;
  const ip = node.internalAddress || node.address;
  const certAddress =
    node.internalAddress && node.internalAddress !== node.address ? node.internalAddress : node.address;
  const etcdCertName = `kube-etcd-${certAddress.replace(/\./g, "-")}`;
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
    etcdCertName,
    // kube-node: RKE's client certificate (cluster-pki.ts NODE_CERT_NAME).
    etcdClientCertName: preset === "rke" ? etcdCertName : "kube-node",
    ...(preset ? { preset } : {}),
  };
}

/** The node's keys over RKE's preset: every key the node sets wins, key by key (`mode: managed` drops the commands). */
function withPreset(own: RawNodeLifeboat): RawNodeLifeboat {
  const defined = <T extends object>(o: T | undefined) =>
    Object.fromEntries(Object.entries(o ?? {}).filter(([, v]) => v !== undefined)) as Partial<T>;
  const etcd = own.etcd?.mode === "managed" ? defined(own.etcd) : { ...RKE_PRESET.etcd, ...defined(own.etcd) };
  return { ...RKE_PRESET.node, ...defined(own), etcd };
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
  const toolsDir = toolsDirOf(raw, path, report);
  const extra = toolsDir !== undefined ? { toolsDir } : {};
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

/** `tools_dir`, or its older name `binary_dir`: one folder, absolute. */
function toolsDirOf(raw: RawNodeLifeboat["etcd"], path: string, report: Report): string | undefined {
  const tools = raw?.tools_dir;
  const binary = raw?.binary_dir;
  if (tools !== undefined && binary !== undefined && tools !== binary) {
    report.issues.push({
      path: `${path}.binary_dir`,
      message: `the older name of tools_dir; give one of them (tools_dir is "${tools}", binary_dir "${binary}")`,
    });
  }
  const key = tools !== undefined ? "tools_dir" : "binary_dir";
  const value = tools ?? binary;
  if (value !== undefined && !isAbsolute(value)) {
    report.issues.push({ path: `${path}.${key}`, message: `must be an absolute path, got "${value}"` });
  }
  return value;
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
