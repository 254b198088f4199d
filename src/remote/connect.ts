/**
 * `connectNode`: logs in to one node of cluster.yml over SSH (ssh2; no local `ssh` binary), through the bastion
 * when cluster.yml has one, and checks each host's key against known_hosts before anything is sent to it.
 *
 * Host key policy, for the bastion and the node alike (the node is looked up under its own address, as
 * OpenSSH's ProxyJump does): a key in known_hosts is accepted; a host with no key there is refused with the key's
 * fingerprint unless `acceptNewHostKeys`, which appends it once the login succeeded; a host whose known key(s)
 * differ from the one presented (or a `@revoked` key) is always refused.
 */
import { homedir } from "node:os";
import { join } from "node:path";
import type { Duplex } from "node:stream";
import ssh2 from "ssh2";
import type { ConnectConfig, ServerHostKeyAlgorithm, Client as SshClient } from "ssh2";
import { joinHostPort } from "../config/endpoints.js";
import type { NodeSsh, SshEndpoint } from "../config/ssh.js";
import type { Logger } from "../util/log.js";
import { silentLogger } from "../util/log.js";
import type { AuthOptions, SshAuth } from "./auth.js";
import { authFor } from "./auth.js";
import {
  HostKeyChangedError,
  HostUnreachableError,
  SshAuthError,
  SshError,
  SshKeyError,
  UnknownHostKeyError,
} from "./errors.js";
import { appendKnownHost, loadKnownHosts } from "./host-keys.js";
import type { HostKeyVerdict, KnownHostsEntry } from "./known-hosts.js";
import { fingerprint, hostKeyAlgorithms, keyTypeOf, verdictFor } from "./known-hosts.js";
import { RemoteHost } from "./host.js";

export interface ConnectOptions extends AuthOptions {
  /** OpenSSH format; default `~/.ssh/known_hosts`. */
  knownHostsPath?: string;
  /** `--accept-new-host-keys`: trust (and record) the key of a host known_hosts has no key for. */
  acceptNewHostKeys?: boolean;
  /** For the TCP connection, the handshake and the login, per host; default 20 s. */
  connectTimeoutMs?: number;
  log?: Logger;
}

const DEFAULT_CONNECT_TIMEOUT_MS = 20_000;

/** One host to log in to: the node or the bastion. */
type Hop = {
  label: string;
  endpoint: SshEndpoint & { user: string };
  auth: SshAuth;
  entries: KnownHostsEntry[];
  knownHostsPath: string;
  acceptNew: boolean;
  timeoutMs: number;
  log: Logger;
};

/** Logs in to `node` (through its bastion, if any). Throws an SshError subclass naming the node and the key. */
export async function connectNode(node: NodeSsh, options: ConnectOptions = {}): Promise<RemoteHost> {
  const target = `node ${node.name} (${joinHostPort(node.address, node.port)})`;
  const knownHostsPath = options.knownHostsPath ?? join(options.homeDir ?? homedir(), ".ssh", "known_hosts");
  const entries = await loadKnownHosts(knownHostsPath);
  const hop = async (label: string, endpoint: SshEndpoint): Promise<Hop> => ({
    label,
    endpoint: { ...endpoint, user: checked(endpoint, label) },
    auth: await authFor(endpoint, label, options),
    entries,
    knownHostsPath,
    acceptNew: options.acceptNewHostKeys === true,
    timeoutMs: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    log: (options.log ?? silentLogger).child({ host: label }),
  });
  const nodeHop = await hop(target, node);
  if (!node.bastion) {
    const client = await login(nodeHop);
    return new RemoteHost(target, nodeHop.endpoint.user, client, () => end(client));
  }
  const b = node.bastion;
  const bastionHop = await hop(`bastion host ${joinHostPort(b.address, b.port)} (for node ${node.name})`, b);
  const bastion = await login(bastionHop);
  try {
    const tunnel = await forward(bastion, node, target, bastionHop.label);
    const client = await login(nodeHop, tunnel);
    return new RemoteHost(target, nodeHop.endpoint.user, client, async () => {
      await end(client);
      await end(bastion);
    });
  } catch (err) {
    await end(bastion);
    throw err;
  }
}

/** The settings a login needs that cluster.yml may lack. */
function checked(endpoint: SshEndpoint, label: string): string {
  if (endpoint.invalidPort !== undefined) {
    throw new SshError(label, `${endpoint.at}.port "${endpoint.invalidPort}" is not a port number (1-65535)`);
  }
  if (!endpoint.user) throw new SshError(label, `no SSH user: set ${endpoint.at}.user in cluster.yml`);
  return endpoint.user;
}

/** A TCP stream from the bastion to the node (ssh2's forwardOut, the `direct-tcpip` channel of `ssh -J`). */
function forward(bastion: SshClient, node: NodeSsh, target: string, via: string): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    bastion.forwardOut("127.0.0.1", 0, node.address, node.port, (err, channel) => {
      if (err) reject(new HostUnreachableError(target, `host unreachable through ${via}: ${err.message}`));
      else resolve(channel);
    });
  });
}

/** Connects and logs in to one hop, over `sock` when given (a bastion's tunnel). */
function login(hop: Hop, sock?: Duplex): Promise<SshClient> {
  const { address, port, user } = hop.endpoint;
  let seen: { verdict: HostKeyVerdict; blob: Buffer } | undefined;
  const client = new ssh2.Client();
  client.once("close", () => closed.add(client));
  return new Promise<SshClient>((resolve, reject) => {
    let settled = false;
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      client.end();
      reject(err);
    };
    client.on("error", (err: Error & { level?: string; code?: string }) => {
      if (settled) hop.log.warn("SSH connection error", { error: err.message });
      else fail(classify(err, hop, seen));
    });
    client.once("close", () => fail(seen ? classify(new Error("closed"), hop, seen) : closedEarly(hop)));
    client.once("ready", () => {
      recordNewKey(hop, seen).then(
        () => {
          settled = true;
          resolve(client);
        },
        (err: Error) =>
          fail(new SshError(hop.label, `cannot add the host key to ${hop.knownHostsPath}: ${err.message}`)),
      );
    });
    const config: ConnectConfig = {
      host: address,
      port,
      username: user,
      readyTimeout: hop.timeoutMs,
      tryKeyboard: false,
      algorithms: { serverHostKey: hostKeyAlgorithms(hop.entries, address, port) as ServerHostKeyAlgorithm[] },
      hostVerifier: (blob: Buffer) => {
        const verdict = verdictFor(hop.entries, address, port, blob);
        seen = { verdict, blob };
        return verdict.kind === "known" || (verdict.kind === "unknown" && hop.acceptNew);
      },
      ...(sock ? { sock } : {}),
      ...(hop.auth.kind === "agent"
        ? { agent: hop.auth.socket }
        : {
            privateKey: hop.auth.privateKey,
            ...(hop.auth.passphrase !== undefined ? { passphrase: hop.auth.passphrase } : {}),
          }),
    };
    try {
      client.connect(config);
    } catch (err) {
      fail(new SshKeyError(hop.label, `cannot use ${hop.auth.describe}: ${(err as Error).message}`));
    }
  });
}

async function recordNewKey(hop: Hop, seen: { verdict: HostKeyVerdict; blob: Buffer } | undefined): Promise<void> {
  if (seen?.verdict.kind !== "unknown") return;
  const { address, port } = hop.endpoint;
  await appendKnownHost(hop.knownHostsPath, address, port, seen.blob);
  hop.log.info("added the host key to known_hosts", {
    key: `${keyTypeOf(seen.blob)} ${fingerprint(seen.blob)}`,
    file: hop.knownHostsPath,
  });
}

/** The error for a failed login: the host key verdict first (nothing was sent past it), then what ssh2 saw. */
function classify(
  err: Error & { level?: string; code?: string },
  hop: Hop,
  seen: { verdict: HostKeyVerdict; blob: Buffer } | undefined,
): SshError {
  if (seen) {
    const print = fingerprint(seen.blob);
    const type = keyTypeOf(seen.blob);
    const { verdict } = seen;
    if (verdict.kind === "unknown" && !hop.acceptNew) {
      return new UnknownHostKeyError(hop.label, print, type, hop.knownHostsPath);
    }
    if (verdict.kind === "changed") {
      const lines = verdict.lines.join(", ");
      return new HostKeyChangedError(hop.label, print, type, `${hop.knownHostsPath} line(s) ${lines}`);
    }
    if (verdict.kind === "revoked") {
      return new HostKeyChangedError(hop.label, print, type, `a revoked key (${hop.knownHostsPath}:${verdict.line})`);
    }
  }
  if (err.level === "client-authentication") {
    return new SshAuthError(
      hop.label,
      `authentication as user ${hop.endpoint.user} with ${hop.auth.describe} failed (the server refused it)`,
    );
  }
  if (err.level === "client-timeout") {
    return new HostUnreachableError(hop.label, `host unreachable: no SSH login within ${hop.timeoutMs} ms`);
  }
  if (err.code && UNREACHABLE.has(err.code)) {
    return new HostUnreachableError(hop.label, `host unreachable (${err.code})`);
  }
  if (err.level === "agent") {
    return new SshKeyError(hop.label, `cannot use ${hop.auth.describe}: ${err.message}`);
  }
  return new SshError(hop.label, `SSH login failed: ${err.message}`);
}

/** The server hung up before any host key was seen: not an SSH server, or one that refuses this client. */
function closedEarly(hop: Hop): SshError {
  return new HostUnreachableError(hop.label, "host unreachable: the connection closed before the SSH handshake");
}

const UNREACHABLE = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ETIMEDOUT",
  "ENOTFOUND",
  "EAI_AGAIN",
]);

/** Clients whose connection has closed (ssh2 says so only once, with its "close" event). */
const closed = new WeakSet<SshClient>();

/** Ends a client and waits for its connection to close. */
function end(client: SshClient): Promise<void> {
  if (closed.has(client)) return Promise.resolve();
  return new Promise((resolve) => {
    client.once("close", () => resolve());
    client.end();
  });
}
