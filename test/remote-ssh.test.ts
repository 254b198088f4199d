/**
 * src/remote against real OpenSSH servers (test/helpers/sshd.ts) on loopback: login rules, host key policy,
 * bastion, SSH agent, exec, atomic upload, the node checks, and that no key material reaches a message or a log.
 */
import assert from "node:assert/strict";
import { spawn, execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { parseClusterConfig } from "../src/config/cluster.js";
import type { NodeSsh } from "../src/config/ssh.js";
import {
  asRoot,
  connectNode,
  ensureFreeSpace,
  ensurePortFree,
  ensureRoot,
  HostKeyChangedError,
  HostUnreachableError,
  NoDiskSpaceError,
  PortInUseError,
  RemoteCommandError,
  shellQuote,
  SshAuthError,
  SshError,
  SshKeyError,
  UnknownHostKeyError,
  type ConnectOptions,
  type RemoteHost,
} from "../src/remote/index.js";
import { createLogger } from "../src/util/log.js";
import { isPortFree } from "../src/util/net.js";
import { makeKey, startSshd, type TestKey, type TestSshd } from "./helpers/sshd.js";

const run = promisify(execFile);

/** The base64 body of a private key file: what must never be printed. */
function secretsOf(key: TestKey, passphrase?: string): string[] {
  const body = key.privateText
    .split("\n")
    .filter((l) => l && !l.startsWith("-----"))
    .map((l) => l.slice(0, 40));
  return passphrase ? [...body, passphrase] : body;
}

function assertNoSecrets(text: string, secrets: readonly string[]): void {
  for (const s of secrets) assert.ok(!text.includes(s), `output holds key material: ${s.slice(0, 8)}...`);
  assert.ok(!text.includes("PRIVATE KEY"), "output holds a private key header");
}

/** Awaits `promise`, expecting it to fail with an error of class `type`; returns the error. */
async function failure<T extends Error>(promise: Promise<unknown>, type: new (...a: never[]) => T): Promise<T> {
  try {
    const host = await promise;
    if (host && typeof (host as RemoteHost).close === "function") await (host as RemoteHost).close();
  } catch (err) {
    assert.ok(err instanceof type, `expected ${type.name}, got ${String(err)}`);
    return err;
  }
  assert.fail(`expected ${type.name}`);
}

async function fingerprintOf(publicLine: string, dir: string): Promise<string> {
  const file = join(dir, `fp-${randomBytes(4).toString("hex")}.pub`);
  await writeFile(file, `${publicLine}\n`);
  return (await run("ssh-keygen", ["-l", "-E", "sha256", "-f", file])).stdout.split(" ")[1] ?? "";
}

function knownLine(sshd: TestSshd): string {
  return `[${sshd.address}]:${sshd.port} ${sshd.hostKey}\n`;
}

void describe("remote: SSH to a real sshd", () => {
  let dir: string;
  let key: TestKey;
  let sshd: TestSshd;
  let knownHosts: string;
  let node: NodeSsh;
  let logText = "";
  const log = createLogger({ level: "debug", out: { write: (s: string) => (logText += s) } });
  const options = (extra: ConnectOptions = {}): ConnectOptions => ({
    knownHostsPath: knownHosts,
    homeDir: dir,
    connectTimeoutMs: 10_000,
    log,
    ...extra,
  });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "lifeboat-ssh-"));
    key = await makeKey(dir, "id_ed25519");
    sshd = await startSshd({ dir, authorizedKeys: [key.publicKey] });
    knownHosts = join(dir, "known_hosts");
    await writeFile(knownHosts, knownLine(sshd));
    const yml = `
nodes:
  - address: ${sshd.address}
    port: ${sshd.port}
    user: root
    ssh_key_path: ${key.path}
    hostname_override: etcd1
    role: [etcd]
`;
    const ssh = parseClusterConfig(yml, "cluster.yml").config.ssh[0];
    assert.ok(ssh);
    node = ssh;
  });

  after(async () => {
    await sshd?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  void it("runs commands: exit status, stdout, stderr, stdin, quoting, timeout", async () => {
    const host = await connectNode(node, options());
    try {
      assert.equal(host.target, `node etcd1 (${sshd.address}:${sshd.port})`);
      const r = await host.exec("echo out; echo err >&2; exit 3", { timeoutMs: 10_000 });
      assert.deepEqual(r, { code: 3, stdout: "out\n", stderr: "err\n" });
      const cat = await host.exec("cat", { stdin: "from stdin", timeoutMs: 10_000 });
      assert.equal(cat.stdout, "from stdin");
      const tricky = `it's "$HOME" \`id\` ; rm -rf /nope`;
      const echo = await host.exec(`printf %s ${shellQuote(tricky)}`, { timeoutMs: 10_000 });
      assert.equal(echo.stdout, tricky);
      const loud = await failure(
        host.exec("head -c 5000 /dev/zero", { timeoutMs: 10_000, maxOutputBytes: 1000 }),
        RemoteCommandError,
      );
      assert.match(loud.message, /"head -c 5000 \/dev\/zero" printed more than 1000 bytes$/);
      const marker = join(dir, "not-killed");
      const slow = `sleep 1; touch ${marker}`;
      const started = Date.now();
      const err = await failure(host.exec(slow, { timeoutMs: 300 }), RemoteCommandError);
      assert.equal(err.message, `node etcd1 (${sshd.address}:${sshd.port}): "${slow}" timed out after 300 ms`);
      assert.ok(Date.now() - started < 1000, "the call failed at the timeout, not when the command ended");
      await new Promise((r) => setTimeout(r, 1500));
      await assert.rejects(stat(marker), { code: "ENOENT" }, "the command's process group was killed");
    } finally {
      await host.close();
    }
  });

  void it("uploads atomically over SFTP: content, mode, replace by rename, no temp file left", async () => {
    const host = await connectNode(node, options());
    try {
      const target = join(dir, "up", "agent.json");
      await run("mkdir", ["-p", join(dir, "up")]);
      await host.upload(Buffer.from("first\n"), target, 0o600);
      const first = await stat(target);
      assert.equal(first.mode & 0o777, 0o600);
      assert.equal(await readFile(target, "utf8"), "first\n");

      const big = join(dir, "big.bin");
      const data = randomBytes(3 * 1024 * 1024 + 17);
      await writeFile(big, data);
      await host.upload(big, target, 0o755);
      const second = await stat(target);
      assert.equal(second.mode & 0o777, 0o755);
      assert.notEqual(second.ino, first.ino, "the file was replaced by a rename, not rewritten in place");
      const digest = (b: Buffer) => createHash("sha256").update(b).digest("hex");
      assert.equal(digest(await readFile(target)), digest(data));
      assert.deepEqual(await readdir(join(dir, "up")), ["agent.json"]);

      const missing = join(dir, "no-such-dir", "x");
      const err = await failure(host.upload(Buffer.from("x"), missing, 0o644), RemoteCommandError);
      assert.match(err.message, /upload to .*no-such-dir\/x failed/);
    } finally {
      await host.close();
    }
  });

  void it("refuses a key the server does not accept, naming the user and the key", async () => {
    const other = await makeKey(dir, "not_authorized");
    const err = await failure(connectNode({ ...node, keyPath: other.path }, options()), SshAuthError);
    assert.equal(
      err.message,
      `node etcd1 (${sshd.address}:${sshd.port}): authentication as user root with key ${other.path} failed ` +
        `(the server refused it)`,
    );
    const inline = await failure(connectNode({ ...node, privateKey: other.privateText }, options()), SshAuthError);
    assert.match(inline.message, /with the key in nodes\[0\]\.ssh_key failed/);
    assertNoSecrets(err.message + inline.message + logText, secretsOf(other));
  });

  void it("refuses an unknown host key with its fingerprint, and runs nothing", async () => {
    const empty = join(dir, "known_hosts.empty");
    const before = sshd.log();
    const err = await failure(connectNode(node, options({ knownHostsPath: empty })), UnknownHostKeyError);
    const print = await fingerprintOf(sshd.hostKey, dir);
    assert.equal(err.fingerprint, print);
    assert.match(err.message, new RegExp(`unknown host key ssh-ed25519 ${print.replace(/[+/]/g, "\\$&")} `));
    assert.match(err.message, /run with --accept-new-host-keys to trust it/);
    await assert.rejects(stat(empty), { code: "ENOENT" });
    assert.ok(!sshd.log().slice(before.length).includes("Accepted publickey"), "no login happened");
  });

  void it("accepts a new host key only when asked, records it, then connects without the flag", async () => {
    const file = join(dir, "known_hosts.new");
    await writeFile(
      file,
      "# mine\nother.example ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMu1t7KE3LQ3oJGl9Xc3hJ6sBK8u2pMGe7Ii3UDhlmCv",
    );
    const host = await connectNode(node, options({ knownHostsPath: file, acceptNewHostKeys: true }));
    await host.close();
    const lines = (await readFile(file, "utf8")).split("\n");
    assert.equal(lines[2], `[${sshd.address}]:${sshd.port} ${sshd.hostKey}`);
    assert.equal(lines.length, 4, "one line added after a newline, ending with a newline");
    const again = await connectNode(node, options({ knownHostsPath: file }));
    await again.close();
    assert.equal((await readFile(file, "utf8")).split("\n").length, 4, "nothing added the second time");
    assert.match(logText, /added the host key to known_hosts/);
  });

  void it("refuses a changed host key, with or without --accept-new-host-keys", async () => {
    const impostor = await makeKey(dir, "impostor_host");
    const file = join(dir, "known_hosts.changed");
    await writeFile(file, `[${sshd.address}]:${sshd.port} ${impostor.publicKey}\n`);
    for (const acceptNewHostKeys of [false, true]) {
      const err = await failure(
        connectNode(node, options({ knownHostsPath: file, acceptNewHostKeys })),
        HostKeyChangedError,
      );
      assert.equal(err.fingerprint, await fingerprintOf(sshd.hostKey, dir));
      assert.match(
        err.message,
        /host key changed: the host presented ssh-ed25519 SHA256:\S+, which does not match .* line\(s\) 1/,
      );
    }
    assert.equal(await readFile(file, "utf8"), `[${sshd.address}]:${sshd.port} ${impostor.publicKey}\n`);
  });

  void it("reads hashed known_hosts entries (ssh-keygen -H)", async () => {
    const file = join(dir, "known_hosts.hashed");
    await writeFile(file, knownLine(sshd));
    await run("ssh-keygen", ["-H", "-f", file]);
    const text = await readFile(file, "utf8");
    assert.ok(text.startsWith("|1|") && !text.includes(sshd.address), text);
    const host = await connectNode(node, options({ knownHostsPath: file }));
    await host.close();
  });

  void it("reports an unreachable host", async () => {
    let port = sshd.port + 1;
    while (!(await isPortFree(sshd.address, port))) port++;
    const err = await failure(connectNode({ ...node, port }, options()), HostUnreachableError);
    assert.equal(err.message, `node etcd1 (${sshd.address}:${port}): host unreachable (ECONNREFUSED)`);
  });

  void it("refuses to connect without a user or with a port that is not one", async () => {
    const { user: _user, ...noUser } = node;
    const err = await failure(connectNode(noUser, options()), SshError);
    assert.match(err.message, /no SSH user: set nodes\[0\]\.user in cluster\.yml/);
    const bad = await failure(connectNode({ ...node, invalidPort: "ssh" }, options()), SshError);
    assert.match(bad.message, /nodes\[0\]\.port "ssh" is not a port number/);
  });

  void it("reads an encrypted key with its passphrase, and says when one is missing or wrong", async () => {
    const passphrase = "correct horse battery staple";
    const locked = await makeKey(dir, "id_locked", passphrase);
    await sshd.authorize([key.publicKey, locked.publicKey]);
    const lockedNode = { ...node, keyPath: locked.path };
    const missing = await failure(connectNode(lockedNode, options()), SshKeyError);
    assert.match(missing.message, new RegExp(`key ${locked.path} is encrypted: give its passphrase`));
    const wrong = await failure(connectNode(lockedNode, options({ passphrase: "wrong guess" })), SshKeyError);
    assert.match(wrong.message, /cannot decrypt it with the passphrase given/);
    const host = await connectNode(lockedNode, options({ passphrase }));
    await host.close();
    const unreadable = await failure(connectNode({ ...node, keyPath: join(dir, "nope") }, options()), SshKeyError);
    assert.match(unreadable.message, /cannot read key .*nope \(.*nope\): no such file/);
    const garbage = await failure(
      connectNode(
        {
          ...node,
          privateKey: `-----BEGIN OPENSSH PRIVATE KEY-----\n${"QUJD".repeat(30)}\n-----END OPENSSH PRIVATE KEY-----\n`,
        },
        options(),
      ),
      SshKeyError,
    );
    assert.match(garbage.message, /the key in nodes\[0\]\.ssh_key is not a private key/);
    assertNoSecrets(missing.message + wrong.message + garbage.message + logText, [
      ...secretsOf(locked, passphrase),
      "QUJDQUJD",
    ]);
  });

  void it("logs in with the SSH agent (SSH_AUTH_SOCK) when agent auth is on", async () => {
    const agentKey = await makeKey(dir, "id_agent");
    await sshd.authorize([key.publicKey, agentKey.publicKey]);
    const socket = join(dir, "agent.sock");
    const agent = spawn("ssh-agent", ["-D", "-a", socket], { stdio: "ignore" });
    try {
      for (let i = 0; i < 100 && !(await stat(socket).catch(() => undefined)); i++)
        await new Promise((r) => setTimeout(r, 50));
      await run("ssh-add", [agentKey.path], { env: { ...process.env, SSH_AUTH_SOCK: socket } });
      // The configured key file does not exist: only the agent can log in.
      const viaAgent = { ...node, keyPath: join(dir, "absent"), agentAuth: true };
      const host = await connectNode(viaAgent, options({ agentSocket: socket }));
      assert.equal((await host.exec("id -u", { timeoutMs: 10_000 })).stdout, "0\n");
      await host.close();
      const flag = await connectNode(
        { ...viaAgent, agentAuth: false },
        options({ agentSocket: socket, sshAgentAuth: true }),
      );
      await flag.close();
      await run("ssh-add", ["-D"], { env: { ...process.env, SSH_AUTH_SOCK: socket } });
      const refused = await failure(connectNode(viaAgent, options({ agentSocket: socket })), SshAuthError);
      assert.match(refused.message, new RegExp(`authentication as user root with the SSH agent at ${socket} failed`));
    } finally {
      agent.kill("SIGTERM");
    }
  });

  void it("checks root rights, free disk space and free ports", async () => {
    const host = await connectNode(node, options());
    try {
      assert.deepEqual(await ensureRoot(host), { via: "root" });
      assert.equal(asRoot({ via: "root" }, "id -u"), "id -u");
      assert.equal(asRoot({ via: "sudo" }, "echo 'x'"), `sudo -n sh -c 'echo '\\''x'\\'''`);
      await ensureFreeSpace(host, join(dir, "not", "made", "yet"), 1024);
      const full = await failure(ensureFreeSpace(host, dir, 2 ** 60), NoDiskSpaceError);
      assert.match(
        full.message,
        /^node etcd1 \(.*\): no disk space: [\d.]+ MiB free under .*, 1099511627776\.0 MiB needed$/,
      );
      const taken = await failure(ensurePortFree(host, sshd.port), PortInUseError);
      assert.equal(
        taken.message,
        `node etcd1 (${sshd.address}:${sshd.port}): port ${sshd.port} is already taken ` +
          `(something listens on ${sshd.address}:${sshd.port}); stop it or choose another port`,
      );
      let free = 40_000 + Math.floor(Math.random() * 20_000);
      while (!(await isPortFree("0.0.0.0", free))) free++;
      await ensurePortFree(host, free);
    } finally {
      await host.close();
    }
  });

  void it("goes through a bastion (jump host), checking both host keys", async () => {
    const bastionKey = await makeKey(dir, "id_bastion");
    const bastion = await startSshd({ dir, authorizedKeys: [bastionKey.publicKey], logLevel: "DEBUG1" });
    try {
      const file = join(dir, "known_hosts.jump");
      await writeFile(file, knownLine(sshd) + knownLine(bastion));
      const jump = {
        ...node,
        bastion: {
          address: bastion.address,
          port: bastion.port,
          user: "root",
          keyPath: bastionKey.path,
          agentAuth: false,
          at: "bastion_host",
        },
      };
      const host = await connectNode(jump, options({ knownHostsPath: file }));
      const from = await host.exec("echo $SSH_CONNECTION", { timeoutMs: 10_000 });
      await host.close();
      assert.match(from.stdout, new RegExp(` ${sshd.address.replace(/\./g, "\\.")} ${sshd.port}\\n$`));
      assert.match(bastion.log(), /Accepted publickey for root/);
      // The node was reached from the bastion (a direct-tcpip channel), not from here.
      assert.ok(bastion.log().includes(`target ${sshd.address} port ${sshd.port}`), bastion.log());

      await writeFile(file, knownLine(sshd));
      const err = await failure(connectNode(jump, options({ knownHostsPath: file })), UnknownHostKeyError);
      assert.match(
        err.message,
        new RegExp(`^bastion host ${bastion.address}:${bastion.port} \\(for node etcd1\\): unknown host key`),
      );
      await writeFile(file, knownLine(bastion));
      const inner = await failure(connectNode(jump, options({ knownHostsPath: file })), UnknownHostKeyError);
      assert.match(inner.message, /^node etcd1 \(/);
    } finally {
      await bastion.stop();
    }
  });
});
