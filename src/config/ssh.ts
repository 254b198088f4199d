/**
 * How each node is reached over SSH, with RKE's defaults (rke:cluster/defaults.go `setClusterDefaults`): port 22,
 * `ssh_key_path` from the node, else the top-level `ssh_key_path`, else `~/.ssh/id_rsa`; `ssh_key` (the key itself)
 * wins over any path; `ssh_agent_auth` is read only at the top level and applies to every node and to the bastion.
 */
import type { RawBastionHost, RawClusterYml, RawNode } from "./schema.js";

export const DEFAULT_SSH_PORT = 22;
export const DEFAULT_SSH_KEY_PATH = "~/.ssh/id_rsa";

/** One SSH endpoint (a node or the bastion host), defaulted. */
export type SshEndpoint = {
  address: string;
  port: number;
  /** RKE requires it to connect; absent here so that a cluster.yml without users still loads for snapshots. */
  user?: string;
  /** `ssh_key`: the private key itself. A secret: never printed (redact masks it by this field name). */
  privateKey?: string;
  /** `ssh_key_path` as written (`~/` is expanded when the key is read); used when `privateKey` is absent. */
  keyPath: string;
  /** `ssh_cert` (the certificate text) or `ssh_cert_path`. */
  cert?: string;
  certPath?: string;
  /** The top-level `ssh_agent_auth` (RKE: "you can set at the global level only"). */
  agentAuth: boolean;
  /** Where the values come from, for messages: `nodes[2]` or `bastion_host`. */
  at: string;
  /**
   * A `port` that is not 1-65535, as written. Loading only warns (Lifeboat's snapshots do not use SSH); connecting
   * refuses it.
   */
  invalidPort?: string;
};

/** How one node of cluster.yml is reached, in `ClusterConfig.ssh` (same order as `nodes`). */
export type NodeSsh = SshEndpoint & {
  /** `hostname_override || address`, as RKE names hosts in its messages. */
  name: string;
  bastion?: SshEndpoint;
};

/** The part of a `NodeSummary` read here (types.ts imports this file: no import back). */
type Summary = { index: number; address: string; hostnameOverride?: string };

type Top = Pick<RawClusterYml, "ssh_key_path" | "ssh_cert_path" | "ssh_agent_auth" | "bastion_host">;

/**
 * Resolves every node's SSH settings; a port that is not 1-65535 is a warning at its key path. (`warnings` is the
 * report's: report.ts imports types.ts, which imports this file.)
 */
export function resolveSsh(raw: RawNode[], nodes: readonly Summary[], top: Top, warnings: string[]): NodeSsh[] {
  const bastion = top.bastion_host?.address ? endpoint(top.bastion_host, top, "bastion_host", warnings) : undefined;
  return nodes.map((summary) => {
    const node = raw[summary.index];
    const at = `nodes[${summary.index}]`;
    const own = endpoint(node ?? { address: summary.address }, top, at, warnings);
    return {
      ...own,
      name: summary.hostnameOverride ?? summary.address,
      ...(bastion ? { bastion } : {}),
    };
  });
}

type RawEndpoint = Pick<RawBastionHost, "port" | "user" | "ssh_key" | "ssh_key_path" | "ssh_cert" | "ssh_cert_path"> & {
  address?: string | undefined;
};

function endpoint(raw: RawEndpoint, top: Top, at: string, warnings: string[]): SshEndpoint {
  const port = portOf(raw.port);
  const certPath = raw.ssh_cert_path || top.ssh_cert_path;
  if (port === undefined) warnings.push(`${at}.port: "${raw.port}" is not a port number (1-65535)`);
  return {
    address: raw.address ?? "",
    port: port ?? DEFAULT_SSH_PORT,
    ...(port === undefined ? { invalidPort: String(raw.port) } : {}),
    ...(raw.user ? { user: raw.user } : {}),
    ...(raw.ssh_key ? { privateKey: raw.ssh_key } : {}),
    keyPath: raw.ssh_key_path || top.ssh_key_path || DEFAULT_SSH_KEY_PATH,
    ...(raw.ssh_cert ? { cert: raw.ssh_cert } : {}),
    ...(certPath ? { certPath } : {}),
    agentAuth: top.ssh_agent_auth === true,
    at,
  };
}

/** RKE's default for an empty port; undefined for a value that is not a port. */
function portOf(value: string | undefined): number | undefined {
  if (value === undefined || value === "") return DEFAULT_SSH_PORT;
  const n = /^\d{1,5}$/.test(value) ? Number(value) : NaN;
  return n >= 1 && n <= 65535 ? n : undefined;
}
