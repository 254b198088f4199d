/**
 * A real OpenSSH server for tests: Debian's /usr/sbin/sshd (package openssh-server, installed by
 * scripts/ensure-sshd.sh) run in the foreground (`-D -e -f <own config>`) on a loopback address, with its own host
 * key, authorized_keys and pid file in a temp directory. Nothing under /etc/ssh is read or changed; the only shared
 * thing is sshd's privilege separation directory /run/sshd, made when missing.
 *
 * When sshd is missing, starting one fails (no skip): `npm test` runs ensure-sshd.sh first.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { execFile } from "node:child_process";
import { access, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { constants } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { allocateLoopbackHosts, isPortFree } from "../../src/util/net.js";

const run = promisify(execFile);
export const SSHD = "/usr/sbin/sshd";

export interface TestSshd {
  address: string;
  port: number;
  /** The host key's public line (`ssh-ed25519 AAAA...`). */
  hostKey: string;
  /** sshd's own log so far (`-e`: everything it would send to syslog). */
  log(): string;
  /** Replaces authorized_keys (public key lines). */
  authorize(publicKeys: readonly string[]): Promise<void>;
  /** Stops sshd and every session process it started, and waits for them to exit. */
  stop(): Promise<void>;
}

export interface StartSshdOptions {
  /** A temp directory owned by the test; the server's files go in `<dir>/sshd-<port>`. */
  dir: string;
  /** Default: a fresh 127.x.y.z. */
  address?: string;
  /** Public key lines allowed to log in (as any user; the tests log in as root). */
  authorizedKeys: readonly string[];
  /** Replaces the host key (to test a changed key): an existing private key file. */
  hostKeyFile?: string;
  /** sshd's LogLevel; default VERBOSE (logins). DEBUG1 also logs forwarded connections (a bastion's). */
  logLevel?: "VERBOSE" | "DEBUG1";
}

/** A key pair made by ssh-keygen: the private key file, its public line, the PEM-armoured text. */
export interface TestKey {
  path: string;
  publicKey: string;
  privateText: string;
}

/** Makes an ed25519 key with ssh-keygen (OpenSSH format), encrypted when `passphrase` is given. */
export async function makeKey(dir: string, name: string, passphrase = ""): Promise<TestKey> {
  const path = join(dir, name);
  await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", passphrase, "-C", name, "-f", path]);
  return {
    path,
    publicKey: (await readFile(`${path}.pub`, "utf8")).trim(),
    privateText: await readFile(path, "utf8"),
  };
}

const running = new Set<ChildProcess>();
// A test that crashes before its cleanup still leaves no sshd behind.
process.once("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

export async function startSshd(options: StartSshdOptions): Promise<TestSshd> {
  await requireSshd();
  await mkdir("/run/sshd", { recursive: true, mode: 0o755 });
  const address = options.address ?? (await allocateLoopbackHosts(1, []))[0] ?? "127.0.0.1";
  const port = await freePort(address);
  const home = join(options.dir, `sshd-${address}-${port}`);
  await mkdir(home, { recursive: true, mode: 0o700 });
  const hostKeyFile = options.hostKeyFile ?? join(home, "host_ed25519");
  if (!options.hostKeyFile) await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "", "-f", hostKeyFile]);
  const hostKey = (await run("ssh-keygen", ["-y", "-f", hostKeyFile])).stdout.trim();
  const authorizedKeys = join(home, "authorized_keys");
  const authorize = (keys: readonly string[]) =>
    writeFile(authorizedKeys, keys.map((k) => `${k}\n`).join(""), { mode: 0o600 });
  await authorize(options.authorizedKeys);
  const config = join(home, "sshd_config");
  await writeFile(
    config,
    sshdConfig({
      address,
      port,
      hostKeyFile,
      authorizedKeys,
      pidFile: join(home, "sshd.pid"),
      logLevel: options.logLevel ?? "VERBOSE",
    }),
  );

  const child = spawn(SSHD, ["-D", "-e", "-f", config], { stdio: ["ignore", "ignore", "pipe"] });
  running.add(child);
  let log = "";
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (log += chunk));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  void exited.then(() => running.delete(child));
  await waitListening(address, port, child, () => log);

  return {
    address,
    port,
    hostKey,
    log: () => log,
    authorize,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const sessions = await descendants(child.pid ?? -1);
      for (const pid of sessions) kill(pid, "SIGTERM");
      child.kill("SIGTERM");
      const timer = setTimeout(() => {
        for (const pid of sessions) kill(pid, "SIGKILL");
        child.kill("SIGKILL");
      }, 5_000);
      await exited;
      clearTimeout(timer);
      await waitGone(sessions);
    },
  };
}

function sshdConfig(o: {
  address: string;
  port: number;
  hostKeyFile: string;
  authorizedKeys: string;
  pidFile: string;
  logLevel: string;
}) {
  return [
    `ListenAddress ${o.address}:${o.port}`,
    `HostKey ${o.hostKeyFile}`,
    `PidFile ${o.pidFile}`,
    `AuthorizedKeysFile ${o.authorizedKeys}`,
    // The temp directory's owner and modes are the test's, not a home directory's.
    "StrictModes no",
    "UsePAM no",
    "PermitRootLogin prohibit-password",
    "PubkeyAuthentication yes",
    "PasswordAuthentication no",
    "KbdInteractiveAuthentication no",
    "AllowTcpForwarding yes",
    "AllowAgentForwarding no",
    "X11Forwarding no",
    "PrintMotd no",
    "UseDNS no",
    `LogLevel ${o.logLevel}`,
    "Subsystem sftp internal-sftp",
    "",
  ].join("\n");
}

async function requireSshd(): Promise<void> {
  try {
    await access(SSHD, constants.X_OK);
  } catch {
    throw new Error(`${SSHD} is missing: run scripts/ensure-sshd.sh (npm test does) to install openssh-server`);
  }
}

async function freePort(address: string): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 40_000);
    if (await isPortFree(address, port)) return port;
  }
  throw new Error(`no free port on ${address}`);
}

async function waitListening(address: string, port: number, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`sshd exited (${child.exitCode}): ${log()}`);
    if (!(await isPortFree(address, port))) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill("SIGKILL");
  throw new Error(`sshd did not listen on ${address}:${port} within 10 s: ${log()}`);
}

/** Every process below `pid` (sshd's per-connection processes and what they run), from /proc. */
async function descendants(pid: number): Promise<number[]> {
  const parents = new Map<number, number[]>();
  for (const name of await readdir("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await readFile(`/proc/${name}/stat`, "utf8").catch(() => "");
    // The command name (field 2) may hold spaces and parentheses: the fields after its last ")" are fixed.
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    if (!Number.isFinite(ppid)) continue;
    parents.set(ppid, [...(parents.get(ppid) ?? []), Number(name)]);
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const c of parents.get(p) ?? []) {
      out.push(c);
      walk(c);
    }
  };
  walk(pid);
  return out;
}

function kill(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // Already gone.
  }
}

async function waitGone(pids: readonly number[]): Promise<void> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const alive: number[] = [];
    for (const pid of pids) {
      const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => "");
      // A zombie has exited; only its parent's wait is missing.
      if (stat !== "" && stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z") alive.push(pid);
    }
    if (alive.length === 0) return;
    if (Date.now() > deadline) {
      for (const pid of alive) kill(pid, "SIGKILL");
      return;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
