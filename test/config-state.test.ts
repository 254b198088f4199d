import assert from "node:assert/strict";
import { X509Certificate, createPrivateKey } from "node:crypto";
import { once } from "node:events";
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import * as tls from "node:tls";
import { parseClusterConfig } from "../src/config/cluster.js";
import {
  agentCertName,
  ensureClusterPki,
  lookupCert,
  nodeCertFiles,
  parseState,
  readState,
  writeState,
} from "../src/config/state.js";
import type { ClusterState } from "../src/config/state.js";
import { checkCertificate } from "../src/pki/pki.js";
import { ConfigError, UserError } from "../src/util/errors.js";

const FIXTURE = join(import.meta.dirname, "../../test/fixtures/rke-cluster.rkestate");
const DAY = 24 * 3_600_000;
const YEAR = 365 * DAY;

const CONFIG = `
nodes:
  - address: 127.0.0.1
    hostname_override: node-1
    role: [etcd, controlplane]
  - address: 10.0.0.2
    role: [etcd]
    lifeboat: { etcd: { mode: managed } }
  - address: 10.0.0.3
    role: [worker]
`;

async function tempDir(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "lifeboat-state-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function bundleNames(state: ClusterState, key: "desiredState" | "currentState"): string[] {
  return Object.keys(state[key]?.certificatesBundle ?? {}).sort();
}

void describe("state file", () => {
  void it("reads a real RKE-shaped state file", async () => {
    const state = await readState(FIXTURE);
    assert.ok(state);
    assert.deepEqual(bundleNames(state, "currentState"), [
      "kube-admin",
      "kube-apiserver",
      "kube-ca",
      "kube-etcd-10-0-0-1",
      "kube-etcd-10-0-0-2",
      "kube-etcd-10-0-0-3",
      "kube-node",
    ]);
    const ca = lookupCert(state, "kube-ca");
    const node = lookupCert(state, "kube-node");
    assert.match(ca?.keyPEM ?? "", /BEGIN RSA PRIVATE KEY/);
    const check = checkCertificate(node?.certificatePEM ?? "", { caPEM: ca?.certificatePEM ?? "", usage: "client" });
    assert.equal(check.ok, true, JSON.stringify(check));
    assert.match(state.desiredState?.encryptionConfig ?? "", /EncryptionConfiguration/);
  });

  void it("round-trips byte for byte, keeping fields Lifeboat does not know", async (t) => {
    const dir = await tempDir(t);
    const original = await readFile(FIXTURE, "utf8");
    const state = parseState(original, FIXTURE);
    const out = join(dir, "cluster.rkestate");
    await writeState(out, state);
    assert.equal(await readFile(out, "utf8"), original);

    const extended = JSON.parse(original) as Record<string, Record<string, unknown>>;
    extended["futureTopLevel"] = { a: 1 };
    (extended["currentState"] as Record<string, unknown>)["futureField"] = [1, 2];
    const text = JSON.stringify(extended, null, 2);
    await writeState(out, parseState(text, out));
    assert.equal(await readFile(out, "utf8"), text);
    const reread = await readState(out);
    assert.deepEqual((reread as Record<string, unknown>)["futureTopLevel"], { a: 1 });
    const entry = reread && lookupCert(reread, "kube-ca");
    assert.equal((entry as Record<string, unknown> | undefined)?.["csrPEM"], "");
  });

  void it("writes mode 0600 atomically: replaces a 0644 file and leaves no temp files", async (t) => {
    const dir = await tempDir(t);
    const path = join(dir, "cluster.rkestate");
    await writeFile(path, "{}", { mode: 0o644 });
    await writeState(path, {
      lifeboat: { clusterId: "c-1", restores: [{ snapshot: "s", at: "2024-01-01T00:00:00Z" }] },
    });
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    assert.deepEqual(await readdir(dir), ["cluster.rkestate"]);
    assert.deepEqual(JSON.parse(await readFile(path, "utf8")), {
      lifeboat: { clusterId: "c-1", restores: [{ snapshot: "s", at: "2024-01-01T00:00:00Z" }] },
    });
    await assert.rejects(writeState(join(dir, "no-such-dir", "x.rkestate"), {}), /ENOENT/);
    assert.deepEqual(await readdir(dir), ["cluster.rkestate"]);
  });

  void it("missing file => undefined; malformed JSON or shape => ConfigError naming the file or key", async (t) => {
    const dir = await tempDir(t);
    assert.equal(await readState(join(dir, "absent.rkestate")), undefined);
    const bad = join(dir, "bad.rkestate");
    await writeFile(bad, "{ not json");
    await assert.rejects(readState(bad), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /bad\.rkestate: not valid JSON/);
      assert.equal(err.file, bad);
      return true;
    });
    await writeFile(
      bad,
      JSON.stringify({ desiredState: { certificatesBundle: { "kube-ca": { certificatePEM: 7 } } } }),
    );
    await assert.rejects(readState(bad), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.deepEqual(err.issues, [
        {
          path: "desiredState.certificatesBundle.kube-ca.certificatePEM",
          message: "must be a string (found a number)",
        },
      ]);
      return true;
    });
    await assert.rejects(readState(dir), /cannot read/);
  });
});

void describe("cluster PKI in the state file", () => {
  void it("creates the CA and every certificate on first use, then reuses them", async () => {
    const { config } = parseClusterConfig(CONFIG, "c.yml");
    const first = await ensureClusterPki(undefined, config);
    assert.deepEqual(
      first.changes.map((c) => `${c.action} ${c.name}`),
      [
        "created kube-ca",
        "issued kube-node",
        "issued lifeboat-agent-etcd-node-1",
        "issued kube-etcd-10-0-0-2",
        "issued lifeboat-agent-etcd-10.0.0.2",
        "issued lifeboat-cli",
      ],
    );
    assert.deepEqual(first.warnings, []);
    const names = bundleNames(first.state, "desiredState");
    assert.deepEqual(names, bundleNames(first.state, "currentState"));
    const ca = lookupCert(first.state, "kube-ca");
    assert.ok(ca);
    assert.equal(createPrivateKey(ca.keyPEM ?? "").asymmetricKeyType, "ec");
    const etcd = new X509Certificate(lookupCert(first.state, "kube-etcd-10-0-0-2")?.certificatePEM ?? "");
    assert.equal(etcd.subject, "CN=kube-etcd");
    assert.equal(etcd.subjectAltName, "DNS:localhost, IP Address:10.0.0.2, IP Address:127.0.0.1");
    const agent = lookupCert(first.state, agentCertName("etcd-node-1"));
    assert.equal(agent?.path, "/etc/kubernetes/ssl/lifeboat-agent-etcd-node-1.pem");
    assert.equal(agent?.keyEnvName, "LIFEBOAT_AGENT_ETCD_NODE_1_KEY");

    const second = await ensureClusterPki(first.state, config);
    assert.deepEqual(second.changes, []);
    assert.deepEqual(second.state, first.state);
    assert.notEqual(second.state, first.state, "the input state is not modified in place");
  });

  void it("agent and CLI certificates from the state complete a mutual-TLS handshake in node", async () => {
    const { config } = parseClusterConfig(CONFIG, "c.yml");
    const { state } = await ensureClusterPki(undefined, config);
    const files = nodeCertFiles(state, "etcd-node-1");
    const cli = lookupCert(state, "lifeboat-cli");
    assert.ok(cli?.keyPEM);
    const server = tls.createServer(
      {
        cert: files.agent.certificatePEM,
        key: files.agent.keyPEM,
        ca: files.caPEM,
        requestCert: true,
        rejectUnauthorized: true,
      },
      (sock) => sock.end(String(sock.getPeerCertificate().subject.CN)),
    );
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    try {
      const sock = tls.connect({
        host: "127.0.0.1",
        port: (server.address() as AddressInfo).port,
        ca: files.caPEM,
        cert: cli.certificatePEM,
        key: cli.keyPEM,
      });
      let data = "";
      sock.setEncoding("utf8");
      sock.on("data", (d: string) => (data += d));
      await once(sock, "end");
      assert.equal(data, "lifeboat-cli");
    } finally {
      server.close();
    }
  });

  void it("under RKE's RSA kube-ca: reuses RKE's entries untouched and issues RSA leaves RKE can read", async () => {
    const rke = await readState(FIXTURE);
    assert.ok(rke);
    const text = `
nodes:
  - { address: 10.0.0.1, hostname_override: node-1, role: [etcd] }
  - { address: 10.0.0.2, hostname_override: node-2, role: [etcd] }
  - { address: 10.0.0.3, hostname_override: node-3, role: [etcd] }
`;
    const { config } = parseClusterConfig(text, "cluster.yml");
    const result = await ensureClusterPki(rke, config);
    assert.deepEqual(
      result.changes.map((c) => `${c.action} ${c.name}`),
      [
        "issued lifeboat-agent-etcd-node-1",
        "issued lifeboat-agent-etcd-node-2",
        "issued lifeboat-agent-etcd-node-3",
        "issued lifeboat-cli",
      ],
    );
    for (const name of ["kube-ca", "kube-node", "kube-etcd-10-0-0-1", "kube-admin"]) {
      assert.deepEqual(lookupCert(result.state, name), lookupCert(rke, name), name);
    }
    const agent = lookupCert(result.state, "lifeboat-agent-etcd-node-2");
    assert.equal(createPrivateKey(agent?.keyPEM ?? "").asymmetricKeyType, "rsa");
    const caPEM = lookupCert(rke, "kube-ca")?.certificatePEM ?? "";
    assert.equal(checkCertificate(agent?.certificatePEM ?? "", { caPEM, usage: "server" }).ok, true);
    assert.equal(new X509Certificate(agent?.certificatePEM ?? "").subjectAltName, "IP Address:10.0.0.2");
    assert.deepEqual(result.state.desiredState?.rkeConfig, rke.desiredState?.rkeConfig);
  });

  void it("re-issues Lifeboat's certificates that no longer fit, never RKE's", async () => {
    const { config } = parseClusterConfig(CONFIG, "c.yml");
    const { state } = await ensureClusterPki(undefined, config);
    const moved = parseClusterConfig(
      CONFIG.replace("role: [etcd, controlplane]", "role: [etcd]\n    lifeboat: { agent: 127.0.0.9:7443 }"),
      "c.yml",
    );
    const after = await ensureClusterPki(state, moved.config);
    assert.deepEqual(after.changes, [
      { name: "lifeboat-agent-etcd-node-1", action: "reissued", reason: "it does not name 127.0.0.9" },
    ]);
    const soon = await ensureClusterPki(state, config, { now: new Date(Date.now() + 1815 * DAY) });
    assert.deepEqual(
      soon.changes.map((c) => `${c.name}: ${c.reason ?? ""}`),
      [
        "lifeboat-agent-etcd-node-1: it expires within 30 days",
        "lifeboat-agent-etcd-10.0.0.2: it expires within 30 days",
        "lifeboat-cli: it expires within 30 days",
      ],
    );
    assert.deepEqual(soon.warnings, []);
    const late = await ensureClusterPki(state, config, { now: new Date(Date.now() + 6 * YEAR) });
    assert.deepEqual(
      late.changes.map((c) => `${c.name}: ${(c.reason ?? "").replace(/ on .*/, "")}`),
      [
        "lifeboat-agent-etcd-node-1: CN=lifeboat-agent-etcd-node-1: expired",
        "lifeboat-agent-etcd-10.0.0.2: CN=lifeboat-agent-etcd-10.0.0.2: expired",
        "lifeboat-cli: CN=lifeboat-cli: expired",
      ],
    );
    assert.deepEqual(
      late.warnings.map((w) => w.replace(/ on .*/, "")),
      [
        "certificate kube-node in the state file: CN=system:node: expired",
        "certificate kube-etcd-10-0-0-2 in the state file: CN=kube-etcd: expired",
      ],
    );
  });

  void it("nodeCertFiles returns what an agent needs and refuses when something is missing", async () => {
    const { config } = parseClusterConfig(CONFIG, "c.yml");
    const { state } = await ensureClusterPki(undefined, config);
    const managed = nodeCertFiles(state, "etcd-10.0.0.2", "kube-etcd-10-0-0-2");
    assert.equal(managed.caPEM, lookupCert(state, "kube-ca")?.certificatePEM);
    assert.equal(managed.etcdClient.certificatePEM, lookupCert(state, "kube-node")?.certificatePEM);
    assert.equal(managed.etcdServer?.keyPEM, lookupCert(state, "kube-etcd-10-0-0-2")?.keyPEM);
    assert.equal(nodeCertFiles(state, "etcd-node-1", "kube-etcd-127-0-0-1").etcdServer, undefined);
    const rke = nodeCertFiles(state, "etcd-10.0.0.2", "kube-etcd-10-0-0-2", "kube-etcd-10-0-0-2");
    assert.equal(
      rke.etcdClient.keyPEM,
      lookupCert(state, "kube-etcd-10-0-0-2")?.keyPEM,
      "RKE's preset: the member's own",
    );
    assert.throws(
      () => nodeCertFiles(state, "etcd-unknown"),
      (err: unknown) => {
        assert.ok(err instanceof UserError);
        assert.match(err.message, /no certificate and key "lifeboat-agent-etcd-unknown"/);
        return true;
      },
    );
    assert.throws(() => nodeCertFiles({}, "etcd-node-1"), /no "kube-ca" certificate/);
  });
});
