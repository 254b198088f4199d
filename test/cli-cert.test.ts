/**
 * `lifeboat cert init|etcd|client`, and no silent new CA: without a state file (or with one that has no kube-ca)
 * every other command refuses with exit 2, names what to do, and writes nothing; only `cert init` creates the CA,
 * and it never replaces one. `cert etcd` writes RKE-named server certificates for a member the operator runs;
 * `cert client` writes the metrics identity.
 */
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { checkCertificate } from "../src/pki/pki.js";
import { jsonOf, runCli } from "./helpers/cli.js";

const CLUSTER_YML = `nodes:
  - address: 192.0.2.10
    internal_address: 10.0.0.10
    hostname_override: etcd-a.example
    role: [etcd]
  - address: 192.0.2.11
    role: [etcd, controlplane]
`;

interface StateFile {
  currentState: { certificatesBundle: Record<string, { certificatePEM: string; keyPEM?: string }> };
}

void describe("cli: cert init, etcd, client; no silent new CA", () => {
  let dir: string;
  let config: string;
  const statePath = () => join(dir, "cluster.rkestate");
  const readStateFile = async () => JSON.parse(await readFile(statePath(), "utf8")) as StateFile;
  const mode = async (path: string) => (await stat(path)).mode & 0o777;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "lifeboat-cli-cert-"));
    config = join(dir, "cluster.yml");
    await writeFile(config, CLUSTER_YML);
  });
  after(() => rm(dir, { recursive: true, force: true }));

  void test("without a state file, health and snapshot-list exit 2, say what to do, and write nothing", async () => {
    for (const args of [
      ["etcd", "health"],
      ["etcd", "snapshot-list"],
      ["cert", "node", "--node", "etcd-etcd-a.example", "--out", join(dir, "x")],
    ]) {
      const run = await runCli([...args, "-c", config]);
      assert.equal(run.code, 2, `${args.join(" ")}: ${run.stderr}`);
      assert.match(run.stderr, /no state file at .*cluster\.rkestate/);
      assert.match(run.stderr, /rke util get-state-file/);
      assert.match(run.stderr, new RegExp(`lifeboat cert init -c ${config.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}`));
      assert.deepEqual(await readdir(dir), ["cluster.yml"], "nothing was written");
    }
  });

  void test("a state file without kube-ca is refused the same way, and kept as it is", async () => {
    await writeFile(statePath(), '{"desiredState":{},"currentState":{}}\n', { mode: 0o600 });
    const run = await runCli(["etcd", "health", "-c", config]);
    assert.equal(run.code, 2, run.stderr);
    assert.match(run.stderr, /has no cluster CA \("kube-ca"\)/);
    assert.equal(await readFile(statePath(), "utf8"), '{"desiredState":{},"currentState":{}}\n');
    await rm(statePath());
  });

  void test("cert init creates the CA and every node's certificates once; a second init keeps the CA", async () => {
    const first = await runCli(["-o", "json", "cert", "init", "-c", config]);
    assert.equal(first.code, 0, first.stderr);
    assert.deepEqual(jsonOf<{ created: boolean }>(first).created, true);
    assert.equal(await mode(statePath()), 0o600);
    const bundle = (await readStateFile()).currentState.certificatesBundle;
    assert.ok(bundle["kube-ca"]?.keyPEM, "the CA with its key");
    for (const name of [
      "kube-node",
      "lifeboat-cli",
      "lifeboat-agent-etcd-etcd-a.example",
      "lifeboat-agent-etcd-192.0.2.11",
    ]) {
      assert.ok(bundle[name], `${name} issued`);
    }
    const second = await runCli(["-o", "json", "cert", "init", "-c", config]);
    assert.equal(second.code, 0, second.stderr);
    assert.equal(jsonOf<{ created: boolean }>(second).created, false);
    const after = (await readStateFile()).currentState.certificatesBundle;
    assert.equal(after["kube-ca"]?.certificatePEM, bundle["kube-ca"]?.certificatePEM, "the CA is never replaced");
    const text = await runCli(["cert", "init", "-c", config]);
    assert.match(text.stdout, /already holds the cluster CA \(kube-ca\): it was kept/);
  });

  void test("cert etcd writes the member's server and peer certificate under RKE's names, signed by kube-ca", async () => {
    const out = join(dir, "etcd-a");
    const run = await runCli([
      "-o",
      "json",
      "cert",
      "etcd",
      "-c",
      config,
      "--node",
      "etcd-etcd-a.example",
      "--out",
      out,
    ]);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual((await readdir(out)).sort(), [
      "kube-ca.pem",
      "kube-etcd-10-0-0-10-key.pem",
      "kube-etcd-10-0-0-10.pem",
    ]);
    assert.equal(await mode(out), 0o700);
    for (const f of await readdir(out)) assert.equal(await mode(join(out, f)), 0o600, f);
    const caPEM = await readFile(join(out, "kube-ca.pem"), "utf8");
    const certPEM = await readFile(join(out, "kube-etcd-10-0-0-10.pem"), "utf8");
    const cert = new X509Certificate(certPEM);
    assert.match(cert.subject, /CN=kube-etcd/);
    for (const usage of ["server", "client"] as const) assert.ok(checkCertificate(certPEM, { caPEM, usage }).ok, usage);
    for (const ip of ["10.0.0.10", "192.0.2.10", "127.0.0.1"]) assert.ok(cert.checkIP(ip), `SAN ${ip}`);
    for (const host of ["etcd-a.example", "localhost"]) assert.ok(cert.checkHost(host), `SAN ${host}`);
    assert.equal(cert.checkIP("192.0.2.11"), undefined, "not the other node's address");
    const key = await readFile(join(out, "kube-etcd-10-0-0-10-key.pem"), "utf8");
    assert.match(key, /PRIVATE KEY/);
    assert.doesNotMatch(run.stdout + run.stderr, /PRIVATE KEY/, "no key material in the output");
    const bundle = (await readStateFile()).currentState.certificatesBundle;
    assert.equal(bundle["kube-etcd-10-0-0-10"]?.certificatePEM, certPEM, "kept in the state file, as RKE keeps it");
    const again = await runCli(["cert", "etcd", "-c", config, "--node", "etcd-etcd-a.example", "--out", out]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(await readFile(join(out, "kube-etcd-10-0-0-10.pem"), "utf8"), certPEM, "a second run reuses it");
    const unknown = await runCli(["cert", "etcd", "-c", config, "--node", "etcd-nope", "--out", out]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /--node etcd-nope: no etcd member of that name/);
  });

  void test("cert client writes the lifeboat-metrics client identity", async () => {
    const out = join(dir, "metrics");
    const run = await runCli(["cert", "client", "-c", config, "--out", out]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /GET \/metrics only/);
    const caPEM = await readFile(join(out, "kube-ca.pem"), "utf8");
    const certPEM = await readFile(join(out, "lifeboat-metrics.pem"), "utf8");
    assert.match(new X509Certificate(certPEM).subject, /^CN=lifeboat-metrics$/);
    assert.ok(checkCertificate(certPEM, { caPEM, usage: "client" }).ok);
    assert.equal(checkCertificate(certPEM, { caPEM, usage: "server" }).ok, false, "a client certificate only");
    assert.equal(await mode(join(out, "lifeboat-metrics-key.pem")), 0o600);
  });
});
