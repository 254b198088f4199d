/** The pure parts of src/remote: known_hosts matching, shell quoting, and the df and /proc/net/tcp parsers. */
import assert from "node:assert/strict";
import { createHmac, randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import { listeningSockets, parseDfAvailable } from "../src/remote/checks.js";
import {
  fingerprint,
  hostKeyAlgorithms,
  keyTypeOf,
  knownHostName,
  knownHostsLine,
  parseKnownHosts,
  patternsMatch,
  verdictFor,
} from "../src/remote/known-hosts.js";
import { shellCommand, shellQuote } from "../src/util/shell.js";

/** A public key blob of `type` with random bytes after its name, as the wire format lays it out. */
function blobOf(type: string): Buffer {
  const name = Buffer.from(type);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(name.length);
  return Buffer.concat([len, name, randomBytes(32)]);
}

function hashed(name: string): string {
  const salt = randomBytes(20);
  return `|1|${salt.toString("base64")}|${createHmac("sha1", salt).update(name).digest("base64")}`;
}

void describe("known_hosts", () => {
  void it("names hosts as OpenSSH does: plain on port 22, [host]:port otherwise, lower case", () => {
    assert.equal(knownHostName("Node-1.Example", 22), "node-1.example");
    assert.equal(knownHostName("10.0.0.1", 2222), "[10.0.0.1]:2222");
  });

  void it("matches lists, wildcards, negations and hashed names", () => {
    assert.ok(patternsMatch("a.example,10.0.0.1", "10.0.0.1", 22));
    assert.ok(!patternsMatch("10.0.0.1", "10.0.0.1", 2222), "a port other than 22 needs the [host]:port form");
    assert.ok(patternsMatch("[10.0.0.1]:2222", "10.0.0.1", 2222));
    assert.ok(patternsMatch("*.example", "etcd1.example", 22));
    assert.ok(patternsMatch("etcd?.example", "etcd3.example", 22));
    assert.ok(!patternsMatch("etcd?.example", "etcd10.example", 22));
    assert.ok(!patternsMatch("*.example,!db.example", "db.example", 22));
    assert.ok(!patternsMatch("10.0.0.1.", "10.0.0.1", 22), "dots are literal");
    assert.ok(patternsMatch(hashed("[10.0.0.1]:2222"), "10.0.0.1", 2222));
    assert.ok(!patternsMatch(hashed("10.0.0.1"), "10.0.0.1", 2222));
  });

  void it("parses markers, skips comments and malformed lines, keeps line numbers", () => {
    const text = [
      "# comment",
      "",
      "a.example ssh-ed25519 AAAA",
      "@revoked * ssh-rsa BBBB",
      "@cert-authority *.example ssh-ed25519 CCCC",
      "broken-line-without-key",
      "b.example ssh-ed25519 not*base64",
    ].join("\n");
    assert.deepEqual(parseKnownHosts(text), [
      { line: 3, patterns: "a.example", keyType: "ssh-ed25519", key: "AAAA" },
      { line: 4, marker: "revoked", patterns: "*", keyType: "ssh-rsa", key: "BBBB" },
      { line: 5, marker: "cert-authority", patterns: "*.example", keyType: "ssh-ed25519", key: "CCCC" },
    ]);
  });

  void it("says known, unknown, changed or revoked for a presented key", () => {
    const mine = blobOf("ssh-ed25519");
    const other = blobOf("ssh-ed25519");
    const bad = blobOf("ssh-rsa");
    const entries = parseKnownHosts(
      [
        knownHostsLine("10.0.0.1", 2222, mine),
        knownHostsLine("10.0.0.2", 22, other),
        `@revoked * ssh-rsa ${bad.toString("base64")}`,
        `@cert-authority * ssh-ed25519 ${mine.toString("base64")}`,
      ].join("\n"),
    );
    assert.deepEqual(verdictFor(entries, "10.0.0.1", 2222, mine), { kind: "known", line: 1 });
    assert.deepEqual(verdictFor(entries, "10.0.0.1", 2222, other), { kind: "changed", lines: [1] });
    assert.deepEqual(verdictFor(entries, "10.0.0.9", 22, mine), { kind: "unknown" }, "a CA line is no host key");
    assert.deepEqual(verdictFor(entries, "10.0.0.2", 22, bad), { kind: "revoked", line: 3 });
  });

  void it("asks first for the key types known for the host", () => {
    const entries = parseKnownHosts(knownHostsLine("h", 22, blobOf("ssh-rsa")));
    const algorithms = hostKeyAlgorithms(entries, "h", 22);
    assert.deepEqual(algorithms.slice(0, 3), ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"]);
    assert.equal(new Set(algorithms).size, algorithms.length);
    assert.equal(hostKeyAlgorithms([], "h", 22)[0], "ssh-ed25519");
  });

  void it("reads a blob's type and fingerprints it as OpenSSH does", () => {
    const blob = blobOf("ssh-ed25519");
    assert.equal(keyTypeOf(blob), "ssh-ed25519");
    assert.match(fingerprint(blob), /^SHA256:[A-Za-z0-9+/]{43}$/);
  });
});

void describe("remote helpers", () => {
  void it("quotes words for sh", () => {
    assert.equal(shellQuote("/opt/rke/etcd-snapshots"), "/opt/rke/etcd-snapshots");
    assert.equal(shellQuote(""), "''");
    assert.equal(shellQuote("it's $x"), `'it'\\''s $x'`);
    assert.equal(shellCommand(["mkdir", "-p", "/a b"]), "mkdir -p '/a b'");
  });

  void it("reads available space from df -Pk", () => {
    const out =
      "Filesystem     1024-blocks     Used Available Capacity Mounted on\n/dev/vda1 10255636 4410328 5304636 46% /\n";
    assert.equal(parseDfAvailable(out), 5304636 * 1024);
    assert.equal(parseDfAvailable("df: /x: No such file or directory\n"), undefined);
  });

  void it("finds listening sockets in /proc/net/tcp and tcp6", () => {
    const text = [
      "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode",
      "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1",
      "   1: 0100007F:9C40 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 2 1",
      "  sl  local_address                         remote_address                        st",
      "   0: 00000000000000000000000001000000:1D1B 00000000000000000000000000000000:0000 0A 0",
    ].join("\n");
    assert.deepEqual(listeningSockets(text), [
      { address: "127.0.0.1", port: 8080 },
      { address: "[0:0:0:0:0:0:0:1]", port: 7451 },
    ]);
  });
});
