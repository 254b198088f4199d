import assert from "node:assert/strict";
import { X509Certificate, createPrivateKey, generateKeyPairSync } from "node:crypto";
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import { describe, it } from "node:test";
import * as tls from "node:tls";
import { checkCertificate, createCA, issueCertificate, keyAlgorithmOf } from "../src/pki/pki.js";
import type { CertKeyPair } from "../src/pki/pki.js";
// pki.ts loads @peculiar/x509 only when it makes a certificate; the test reads certificates with it at once.
import "../src/pki/reflect-shim.js";
import * as x509 from "@peculiar/x509";

const DAY = 24 * 60 * 60 * 1000;

type Outcome = { data: string; seen: string[]; serverError?: Error; clientError?: Error };

/** Runs one real mutual-TLS exchange on 127.0.0.1; reports what each side saw instead of throwing. */
async function handshake(server: CertKeyPair, client: CertKeyPair, caPEM: string, servername?: string) {
  const srv = tls.createServer({
    cert: server.certificatePEM,
    key: server.keyPEM,
    ca: caPEM,
    requestCert: true,
    rejectUnauthorized: true,
  });
  const out: Outcome = { data: "", seen: [] };
  srv.on("secureConnection", (sock) => {
    out.seen.push(String(sock.getPeerCertificate().subject.CN));
    sock.end("hello");
  });
  srv.on("tlsClientError", (err) => (out.serverError = err));
  srv.listen(0, "127.0.0.1");
  await once(srv, "listening");
  try {
    const { port } = srv.address() as AddressInfo;
    const sock = tls.connect({
      host: "127.0.0.1",
      port,
      ...(servername ? { servername } : {}),
      ca: caPEM,
      cert: client.certificatePEM,
      key: client.keyPEM,
      rejectUnauthorized: true,
    });
    sock.setEncoding("utf8");
    sock.on("data", (d: string) => (out.data += d));
    await new Promise<void>((resolve) => {
      sock.on("error", (err: Error) => {
        out.clientError = err;
        resolve();
      });
      sock.on("close", () => resolve());
    });
    sock.destroy();
    return out;
  } finally {
    srv.close();
  }
}

void describe("pki", () => {
  void it("creates a CA with PKCS#8 key, CA constraints and 10-year validity", async () => {
    const now = new Date("2024-01-01T00:00:00Z");
    const ca = await createCA("kube-ca", { now });
    assert.match(ca.keyPEM, /^-----BEGIN PRIVATE KEY-----\n/);
    const cert = new X509Certificate(ca.certificatePEM);
    assert.equal(cert.ca, true);
    assert.equal(cert.subject, "CN=kube-ca");
    const days = (new Date(cert.validTo).getTime() - now.getTime()) / DAY;
    assert.ok(days >= 3649 && days <= 3651, `CA validity ${days} days`);
    assert.equal(createPrivateKey(ca.keyPEM).asymmetricKeyDetails?.namedCurve, "prime256v1");
  });

  void it("issues leaves with SANs, EKU, random serials and 5-year validity", async () => {
    const now = new Date("2024-01-01T00:00:00Z");
    const ca = await createCA("kube-ca", { now });
    const a = await issueCertificate(ca, {
      commonName: "kube-etcd-10-0-0-1",
      ips: ["10.0.0.1", "127.0.0.1"],
      dnsNames: ["localhost"],
      usage: ["server", "client"],
      now,
    });
    const b = await issueCertificate(ca, { commonName: "lifeboat-cli", usage: ["client"], now });
    const certA = new X509Certificate(a.certificatePEM);
    assert.equal(certA.ca, false);
    assert.equal(certA.subjectAltName, "DNS:localhost, IP Address:10.0.0.1, IP Address:127.0.0.1");
    assert.deepEqual(certA.keyUsage, ["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"]);
    assert.ok(certA.checkIssued(new X509Certificate(ca.certificatePEM)));
    assert.notEqual(certA.serialNumber, new X509Certificate(b.certificatePEM).serialNumber);
    const days = (new Date(certA.validTo).getTime() - now.getTime()) / DAY;
    assert.ok(days >= 1824 && days <= 1826, `leaf validity ${days} days`);
    assert.ok(new Date(certA.validFrom) < now, "leaf is backdated for clock skew");
  });

  void it("leaf validity never outlives the CA", async () => {
    const now = new Date("2024-01-01T00:00:00Z");
    const ca = await createCA("short", { now, validDays: 30 });
    const leaf = await issueCertificate(ca, { commonName: "x", usage: ["client"], now });
    assert.equal(new X509Certificate(leaf.certificatePEM).validTo, new X509Certificate(ca.certificatePEM).validTo);
  });

  void it("rejects a non-IP value in ips", async () => {
    const ca = await createCA("kube-ca");
    await assert.rejects(issueCertificate(ca, { commonName: "x", ips: ["node-1"], usage: ["server"] }), /not an IP/);
  });

  void it("node tls accepts the certificates in a mutual-TLS handshake (IP and DNS SANs)", async () => {
    const ca = await createCA("kube-ca");
    const server = await issueCertificate(ca, {
      commonName: "agent",
      ips: ["127.0.0.1"],
      dnsNames: ["localhost"],
      usage: ["server"],
    });
    const wrongHost = await issueCertificate(ca, { commonName: "b", ips: ["127.0.0.2"], usage: ["server"] });
    const client = await issueCertificate(ca, { commonName: "lifeboat-cli", usage: ["client"] });
    const byIP = await handshake(server, client, ca.certificatePEM);
    assert.equal(byIP.clientError, undefined);
    assert.equal(byIP.data, "hello");
    assert.deepEqual(byIP.seen, ["lifeboat-cli"]);
    const byName = await handshake(server, client, ca.certificatePEM, "localhost");
    assert.equal(byName.clientError, undefined);
    assert.equal(byName.data, "hello");
    const mismatch = await handshake(wrongHost, client, ca.certificatePEM);
    assert.match(String(mismatch.clientError), /IP: 127.0.0.1 is not in the cert's list/);
  });

  void it("node tls refuses a client certificate from another CA", async () => {
    const ca = await createCA("kube-ca");
    const other = await createCA("other-ca");
    const server = await issueCertificate(ca, { commonName: "agent", ips: ["127.0.0.1"], usage: ["server"] });
    const stranger = await issueCertificate(other, { commonName: "intruder", usage: ["client"] });
    const out = await handshake(server, stranger, ca.certificatePEM);
    assert.deepEqual(out.seen, []);
    assert.equal(out.data, "");
    assert.ok(out.serverError, "the server aborts the handshake");
  });

  void it("node tls refuses a server certificate that lacks serverAuth", async () => {
    const ca = await createCA("kube-ca");
    const clientOnly = await issueCertificate(ca, { commonName: "c", ips: ["127.0.0.1"], usage: ["client"] });
    const out = await handshake(clientOnly, clientOnly, ca.certificatePEM);
    assert.deepEqual(out.seen, []);
    assert.match(String(out.clientError), /purpose/i);
  });

  void it("checkCertificate accepts a good chain and reports notAfter and subject", async () => {
    const ca = await createCA("kube-ca");
    const leaf = await issueCertificate(ca, { commonName: "kube-node", usage: ["client"] });
    const res = checkCertificate(leaf.certificatePEM, { caPEM: ca.certificatePEM, usage: "client" });
    assert.equal(res.ok, true);
    assert.ok(res.ok && res.subject === "CN=kube-node");
    assert.ok(res.ok && res.notAfter.getTime() > Date.now() + 4 * 365 * DAY);
  });

  void it("checkCertificate rejects expired, not-yet-valid, other-CA, wrong-usage and garbage", async () => {
    const now = new Date("2024-01-01T00:00:00Z");
    const ca = await createCA("kube-ca", { now });
    const other = await createCA("kube-ca", { now });
    const leaf = await issueCertificate(ca, { commonName: "kube-node", usage: ["client"], now, validDays: 10 });
    const expired = checkCertificate(leaf.certificatePEM, {
      caPEM: ca.certificatePEM,
      now: new Date(now.getTime() + 11 * DAY),
    });
    assert.ok(!expired.ok && /expired/.test(expired.reason), JSON.stringify(expired));
    const early = checkCertificate(leaf.certificatePEM, { now: new Date(now.getTime() - DAY) });
    assert.ok(!early.ok && /not valid before/.test(early.reason));
    // Same subject, different key: only the signature tells them apart.
    const foreign = checkCertificate(leaf.certificatePEM, { caPEM: other.certificatePEM, now });
    assert.ok(!foreign.ok && /signature|not issued/.test(foreign.reason), JSON.stringify(foreign));
    const otherName = await createCA("other-ca", { now });
    const foreign2 = checkCertificate(leaf.certificatePEM, { caPEM: otherName.certificatePEM, now });
    assert.ok(!foreign2.ok && /not issued by CN=other-ca/.test(foreign2.reason));
    const usage = checkCertificate(leaf.certificatePEM, { caPEM: ca.certificatePEM, now, usage: "server" });
    assert.ok(!usage.ok && /server/.test(usage.reason));
    const junk = checkCertificate("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
    assert.ok(!junk.ok && /not a valid PEM certificate/.test(junk.reason));
  });

  void it("issues leaves from an RSA CA in PKCS#1 form, as RKE state files hold", async () => {
    const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const alg = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };
    const { webcrypto } = await import("node:crypto");
    const priv = await webcrypto.subtle.importKey(
      "pkcs8",
      privateKey.export({ type: "pkcs8", format: "der" }),
      alg,
      true,
      ["sign"],
    );
    const pub = await webcrypto.subtle.importKey("spki", publicKey.export({ type: "spki", format: "der" }), alg, true, [
      "verify",
    ]);
    const caCert = await x509.X509CertificateGenerator.createSelfSigned({
      name: "CN=kube-ca",
      keys: { privateKey: priv, publicKey: pub },
      signingAlgorithm: alg,
      extensions: [new x509.BasicConstraintsExtension(true, undefined, true)],
    });
    const ca = {
      certificatePEM: caCert.toString("pem"),
      keyPEM: privateKey.export({ type: "pkcs1", format: "pem" }).toString(),
    };
    assert.match(ca.keyPEM, /BEGIN RSA PRIVATE KEY/);
    const leaf = await issueCertificate(ca, { commonName: "lifeboat-cli", usage: ["client"] });
    const res = checkCertificate(leaf.certificatePEM, { caPEM: ca.certificatePEM, usage: "client" });
    assert.equal(res.ok, true, JSON.stringify(res));
    assert.equal(keyAlgorithmOf(ca.keyPEM), "rsa-2048");
    assert.equal(keyAlgorithmOf(leaf.keyPEM), "ecdsa-p256");
    const rsaLeaf = await issueCertificate(ca, {
      commonName: "kube-etcd",
      usage: ["server"],
      keyAlgorithm: "rsa-2048",
    });
    assert.match(rsaLeaf.keyPEM, /^-----BEGIN PRIVATE KEY-----/);
    assert.equal(createPrivateKey(rsaLeaf.keyPEM).asymmetricKeyType, "rsa");
    assert.equal(checkCertificate(rsaLeaf.certificatePEM, { caPEM: ca.certificatePEM, usage: "server" }).ok, true);
  });
});
