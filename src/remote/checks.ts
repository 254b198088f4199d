/**
 * Checks run on a node before anything is installed there, each failing with a message that says what to fix:
 * root rights, free disk space, a free TCP port. The parsers are pure and exported for tests.
 */
import { NoDiskSpaceError, NoRootError, PortInUseError, RemoteCommandError } from "./errors.js";
import type { RemoteHost } from "./host.js";
import { shellQuote } from "../util/shell.js";

const CHECK_TIMEOUT_MS = 15_000;

/** How commands that need root run: as the login user (root) or through `sudo -n` (no password prompt). */
export type RootAccess = { via: "root" } | { via: "sudo" };

/**
 * Whether the login user is root (`id -u` is 0) or may run anything with `sudo -n` (no password). Throws
 * NoRootError otherwise.
 */
export async function ensureRoot(host: RemoteHost): Promise<RootAccess> {
  const id = await host.exec("id -u", { timeoutMs: CHECK_TIMEOUT_MS });
  if (id.code !== 0) throw new RemoteCommandError(host.target, `"id -u" failed: ${firstLine(id.stderr)}`);
  if (id.stdout.trim() === "0") return { via: "root" };
  const sudo = await host.exec("sudo -n true", { timeoutMs: CHECK_TIMEOUT_MS });
  if (sudo.code === 0) return { via: "sudo" };
  const why = firstLine(sudo.stderr) || `exit status ${sudo.code}`;
  throw new NoRootError(
    host.target,
    `no root/sudo rights: user ${host.user} is not root and "sudo -n true" failed (${why}); ` +
      `log in as root or allow the user passwordless sudo`,
  );
}

/** `command` as root: unchanged for root, `sudo -n sh -c '...'` otherwise. */
export function asRoot(access: RootAccess, command: string): string {
  return access.via === "root" ? command : `sudo -n sh -c ${shellQuote(command)}`;
}

/**
 * Throws NoDiskSpaceError when the filesystem that holds `path` (or its nearest existing parent, for a directory
 * still to be made) has less than `bytes` available.
 */
export async function ensureFreeSpace(host: RemoteHost, path: string, bytes: number): Promise<void> {
  const command = `p=${shellQuote(path)}; while [ ! -e "$p" ]; do p=$(dirname "$p"); done; df -Pk -- "$p"`;
  const df = await host.exec(command, { timeoutMs: CHECK_TIMEOUT_MS });
  const free = df.code === 0 ? parseDfAvailable(df.stdout) : undefined;
  if (free === undefined) {
    throw new RemoteCommandError(
      host.target,
      `cannot read the free space under ${path} (df -Pk): ${firstLine(df.stderr)}`,
    );
  }
  if (free < bytes) {
    throw new NoDiskSpaceError(host.target, `no disk space: ${mib(free)} free under ${path}, ${mib(bytes)} needed`);
  }
}

/** Bytes available from `df -Pk` output (POSIX format: the 4th column of the second line, in KiB). */
export function parseDfAvailable(output: string): number | undefined {
  const line = output.trim().split("\n")[1];
  const available = line?.trim().split(/\s+/)[3];
  return available !== undefined && /^\d+$/.test(available) ? Number(available) * 1024 : undefined;
}

/**
 * Throws PortInUseError when something on the node listens on TCP `port`: on any address, or with `address` (what
 * the caller will bind), on that address or a wildcard one (0.0.0.0, ::), IPv4-mapped IPv6 included.
 */
export async function ensurePortFree(
  host: RemoteHost,
  port: number,
  options: { address?: string } = {},
): Promise<void> {
  const result = await host.exec("cat /proc/net/tcp /proc/net/tcp6 2>/dev/null", { timeoutMs: CHECK_TIMEOUT_MS });
  if (!result.stdout.includes("local_address")) {
    throw new RemoteCommandError(host.target, `cannot read /proc/net/tcp to check port ${port}`);
  }
  const listener = listeningSockets(result.stdout).find(
    (s) => s.port === port && (options.address === undefined || sameOrWildcard(s.address, options.address)),
  );
  if (listener) {
    throw new PortInUseError(
      host.target,
      `port ${port} is already taken (something listens on ${listener.address}:${port}); stop it or choose another port`,
    );
  }
}

/** Whether a listener on `listening` (as listeningSockets writes it) holds `address`'s port. */
export function sameOrWildcard(listening: string, address: string): boolean {
  const canon = (a: string) => {
    if (/^\d+\.\d+\.\d+\.\d+$/.test(a)) return [a, hostOf(`[::ffff:${a}]`)];
    return [hostOf(a.startsWith("[") ? a : `[${a}]`)];
  };
  const heard = canon(listening);
  if (heard.some((h) => h === "0.0.0.0" || h === "[::]")) return true;
  return canon(address).some((a) => heard.includes(a));
}

function hostOf(bracketed: string): string {
  try {
    return new URL(`http://${bracketed}`).hostname;
  } catch {
    return bracketed;
  }
}

/** The listening TCP sockets in /proc/net/tcp{,6} text: state 0A, addresses decoded. */
export function listeningSockets(text: string): { address: string; port: number }[] {
  return text.split("\n").flatMap((line) => {
    const fields = line.trim().split(/\s+/);
    const local = fields[1];
    if (fields[3] !== "0A" || !local?.includes(":")) return [];
    const [hex, portHex] = local.split(":");
    if (!hex || !portHex) return [];
    return [{ address: decodeAddress(hex), port: parseInt(portHex, 16) }];
  });
}

/** /proc/net/tcp writes addresses as host-order 32-bit words in hex (little-endian on x86 and arm64). */
function decodeAddress(hex: string): string {
  const words = hex.match(/.{8}/g) ?? [];
  const bytes = words.flatMap((w) => (w.match(/../g) ?? []).reverse().map((b) => parseInt(b, 16)));
  if (bytes.length === 4) return bytes.join(".");
  const groups: string[] = [];
  for (let i = 0; i < bytes.length; i += 2) groups.push((((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0)).toString(16));
  return `[${groups.join(":")}]`;
}

function firstLine(text: string): string {
  return text.trim().split("\n")[0]?.slice(0, 200) ?? "";
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}
