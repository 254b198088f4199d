import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import type { TestContext } from "node:test";
import { promisify } from "node:util";
import { parseClusterConfig } from "../src/config/cluster.js";
import { ensureClusterPki, lookupCert, readState } from "../src/config/state.js";
import { createCA, issueCertificate } from "../src/pki/pki.js";
import type { CertKeyPair } from "../src/pki/pki.js";
import { allocateLoopbackHosts } from "../src/util/net.js";

const run = promisify(execFile);
const BIN = join(homedir(), ".cache/lifeboat/etcd/3.5/usr/bin");
const FIXTURE = join(import.meta.dirname, "../../test/fixtures/rke-cluster.rkestate");

type Files = { cert: string; key: string };

async function writePair(dir: string, name: string, pair: CertKeyPair): Promise<Files> {
  await writeFile(join(dir, `${name}.pem`), pair.certificatePEM, { mode: 0o600 });
  await writeFile(join(dir, `${name}-key.pem`), pair.keyPEM, { mode: 0o600 });
  return { cert: join(dir, `${name}.pem`), key: join(dir, `${name}-key.pem`) };
}

async function etcdctl(host: string, ca: string, client: Files, ...args: string[]) {
  const tlsArgs = [`--cacert=${ca}`, `--cert=${client.cert}`, `--key=${client.key}`];
  const common = [`--endpoints=https://${host}:2379`, "--dial-timeout=3s", "--command-timeout=5s"];
  return run(join(BIN, "etcdctl"), [...common, ...tlsArgs, ...args], { env: { ETCDCTL_API: "3" } });
}

/** Starts a one-member etcd with client and peer mutual TLS; returns once `client` sees it healthy. */
async function startEtcd(t: TestContext, dir: string, host: string, caFile: string, member: Files, client: Files) {
  const tlsFlags = (prefix: string) => [
    `--${prefix}client-cert-auth`,
    `--${prefix}trusted-ca-file=${caFile}`,
    `--${prefix}cert-file=${member.cert}`,
    `--${prefix}key-file=${member.key}`,
  ];
  const proc = spawn(
    join(BIN, "etcd"),
    [
      "--name=etcd-a",
      `--data-dir=${join(dir, "data")}`,
      `--listen-client-urls=https://${host}:2379`,
      `--advertise-client-urls=https://${host}:2379`,
      `--listen-peer-urls=https://${host}:2380`,
      `--initial-advertise-peer-urls=https://${host}:2380`,
      `--initial-cluster=etcd-a=https://${host}:2380`,
      "--initial-cluster-token=etcd-cluster-1",
      ...tlsFlags(""),
      ...tlsFlags("peer-"),
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  const log = { text: "" };
  proc.stderr.on("data", (d: Buffer) => (log.text += d.toString()));
  t.after(() => {
    proc.kill("SIGKILL");
  });
  for (let i = 0; i < 50; i++) {
    try {
      const { stdout, stderr } = await etcdctl(host, caFile, client, "endpoint", "health");
      if (/is healthy/.test(stdout + stderr)) return log;
    } catch {
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  assert.fail(`etcd did not become healthy over TLS:\n${log.text.slice(-2000)}`);
}

async function setup(t: TestContext) {
  const dir = await mkdtemp(join(tmpdir(), "lifeboat-pki-etcd-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const [host] = await allocateLoopbackHosts(1, [2379, 2380]);
  assert.ok(host);
  return { dir, host };
}

void describe("pki with etcd (Go crypto/tls)", () => {
  void it("etcd serves and peers with ECDSA certificates and requires a client certificate from the CA", async (t) => {
    const { dir, host } = await setup(t);
    const ca = await createCA("kube-ca");
    const caFile = join(dir, "kube-ca.pem");
    await writeFile(caFile, ca.certificatePEM);
    const usage: ("server" | "client")[] = ["server", "client"];
    const server = await issueCertificate(ca, { commonName: "kube-etcd", ips: [host], dnsNames: ["localhost"], usage });
    const member = await writePair(dir, "kube-etcd", server);
    const node = await writePair(dir, "kube-node", await issueCertificate(ca, { commonName: "n", usage: ["client"] }));
    const other = await createCA("kube-ca");
    const stranger = await writePair(
      dir,
      "stranger",
      await issueCertificate(other, { commonName: "n", usage: ["client"] }),
    );

    const log = await startEtcd(t, dir, host, caFile, member, node);
    await etcdctl(host, caFile, node, "put", "/lifeboat/pki", "ok");
    const { stdout } = await etcdctl(host, caFile, node, "get", "/lifeboat/pki", "--print-value-only");
    assert.equal(stdout.trim(), "ok");
    await assert.rejects(etcdctl(host, caFile, stranger, "get", "/lifeboat/pki"));
    assert.match(log.text, /rejected connection|bad certificate|unknown certificate authority/i);
  });

  void it("certificates issued into an RKE state (RSA, under RKE's kube-ca) work with etcd", async (t) => {
    const { dir, host } = await setup(t);
    const rke = await readState(FIXTURE);
    assert.ok(rke);
    const yml = `nodes:\n  - address: ${host}\n    role: [etcd]\n    lifeboat: { etcd: { mode: managed } }\n`;
    const { config } = parseClusterConfig(yml, "cluster.yml");
    const { state, changes } = await ensureClusterPki(rke, config);
    const etcdName = `kube-etcd-${host.replace(/\./g, "-")}`;
    assert.deepEqual(
      changes.map((c) => c.name),
      [etcdName, `lifeboat-agent-etcd-${host}`, "lifeboat-cli"],
    );
    const pair = (name: string): CertKeyPair => {
      const entry = lookupCert(state, name);
      assert.ok(entry?.keyPEM, name);
      return { certificatePEM: entry.certificatePEM, keyPEM: entry.keyPEM };
    };
    const caFile = join(dir, "kube-ca.pem");
    await writeFile(caFile, pair("kube-ca").certificatePEM);
    const member = await writePair(dir, "member", pair(etcdName));
    const rkeNode = await writePair(dir, "kube-node", pair("kube-node"));
    const cli = await writePair(dir, "cli", pair("lifeboat-cli"));

    await startEtcd(t, dir, host, caFile, member, rkeNode);
    await etcdctl(host, caFile, cli, "put", "/lifeboat/rsa", "yes");
    const { stdout } = await etcdctl(host, caFile, rkeNode, "get", "/lifeboat/rsa", "--print-value-only");
    assert.equal(stdout.trim(), "yes");
  });
});
