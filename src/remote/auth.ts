/**
 * The credentials one SSH endpoint logs in with, by RKE's rules (rke:hosts/dialer.go, tunnel.go): with agent auth
 * and `SSH_AUTH_SOCK` set, only the agent; otherwise `ssh_key` (the key itself) or the file at `ssh_key_path`
 * (`~/` is the home directory). The key is parsed here, so that a bad file or a missing passphrase is reported
 * before any connection. Key text and passphrases stay in memory: messages only say where the key came from.
 */
import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import ssh2 from "ssh2";
import type { ParsedKey } from "ssh2";
import type { SshEndpoint } from "../config/ssh.js";
import { SshKeyError } from "./errors.js";

export type SshAuth =
  | { kind: "agent"; socket: string; describe: string }
  | { kind: "key"; privateKey: Buffer; passphrase?: string; describe: string };

export interface AuthOptions {
  /** `--ssh-agent-auth`: or-ed with cluster.yml's `ssh_agent_auth`. */
  sshAgentAuth?: boolean;
  /** The agent's socket; default `SSH_AUTH_SOCK`. */
  agentSocket?: string;
  /** The passphrase of an encrypted key. */
  passphrase?: string;
  /** What `~/` means in `ssh_key_path`; default the user's home. */
  homeDir?: string;
}

/** The credentials for `endpoint`; `target` names it in errors. Throws SshKeyError. */
export async function authFor(endpoint: SshEndpoint, target: string, options: AuthOptions): Promise<SshAuth> {
  if (endpoint.cert !== undefined || endpoint.certPath !== undefined) {
    const key = endpoint.cert !== undefined ? `${endpoint.at}.ssh_cert` : `ssh_cert_path ${endpoint.certPath}`;
    throw new SshKeyError(target, `SSH certificates are not supported (${key}): log in with a key or the agent`);
  }
  if (endpoint.agentAuth || options.sshAgentAuth) {
    const socket = options.agentSocket ?? process.env["SSH_AUTH_SOCK"];
    if (socket) return { kind: "agent", socket, describe: `the SSH agent at ${socket}` };
    throw new SshKeyError(target, "SSH agent authentication was asked for but SSH_AUTH_SOCK is not set");
  }
  const inline = endpoint.privateKey !== undefined;
  const describe = inline ? `the key in ${endpoint.at}.ssh_key` : `key ${endpoint.keyPath}`;
  const privateKey = inline
    ? Buffer.from(endpoint.privateKey ?? "")
    : await readKey(expandHome(endpoint.keyPath, options.homeDir), describe, target);
  checkKey(privateKey, options.passphrase, describe, target);
  return {
    kind: "key",
    privateKey,
    ...(options.passphrase !== undefined ? { passphrase: options.passphrase } : {}),
    describe,
  };
}

/** RKE's `~/` expansion of a key path. */
export function expandHome(path: string, home = homedir()): string {
  return path === "~" ? home : path.startsWith("~/") ? join(home, path.slice(2)) : path;
}

async function readKey(path: string, describe: string, target: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? "error";
    const why = code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : code;
    throw new SshKeyError(target, `cannot read ${describe} (${path}): ${why}`);
  }
}

/** Parses the key as ssh2 will. Its parser's messages say what is wrong, never what the key holds. */
function checkKey(privateKey: Buffer, passphrase: string | undefined, describe: string, target: string): void {
  let parsed: ReturnType<typeof ssh2.utils.parseKey>;
  try {
    parsed = ssh2.utils.parseKey(privateKey, passphrase);
  } catch {
    parsed = new Error("unreadable key");
  }
  if (!(parsed instanceof Error)) {
    // OpenSSH's format may hold several keys (ssh2 uses the first); the typings know only one.
    const key: ParsedKey | undefined = Array.isArray(parsed) ? (parsed as ParsedKey[])[0] : parsed;
    if (key?.isPrivateKey()) return;
    throw new SshKeyError(target, `${describe} is not a private key`);
  }
  if (/encrypted/i.test(parsed.message) && /no passphrase/i.test(parsed.message)) {
    throw new SshKeyError(target, `${describe} is encrypted: give its passphrase`);
  }
  if (passphrase !== undefined && /decrypt|passphrase|bad/i.test(parsed.message)) {
    throw new SshKeyError(target, `${describe}: cannot decrypt it with the passphrase given`);
  }
  throw new SshKeyError(target, `${describe} is not a private key ssh2 can read (${safeReason(parsed.message)})`);
}

/** A parser message reduced to its wording: nothing longer than a sentence, no base64 runs. */
function safeReason(message: string): string {
  return message.replace(/[A-Za-z0-9+/=]{24,}/g, "…").slice(0, 120);
}
