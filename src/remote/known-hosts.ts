/**
 * OpenSSH's known_hosts format (sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT"), the parts a client needs: host patterns
 * (comma-separated, `*` and `?` wildcards, `!` negation), hashed names (`|1|salt|hmac`), `[host]:port` for ports
 * other than 22, and the `@revoked` marker. `@cert-authority` lines are kept but never match a plain host key.
 * Pure: no I/O.
 */
import { createHash, createHmac } from "node:crypto";

export type KnownHostsEntry = {
  /** 1-based line in the file, for messages. */
  line: number;
  marker?: "cert-authority" | "revoked";
  patterns: string;
  /** The key's algorithm name as written (`ssh-ed25519`, `ssh-rsa`, `ecdsa-sha2-nistp256`). */
  keyType: string;
  /** The public key blob, base64 as written. */
  key: string;
};

/** Parses known_hosts text; lines that are blank, comments or malformed are skipped, as OpenSSH does. */
export function parseKnownHosts(text: string): KnownHostsEntry[] {
  const entries: KnownHostsEntry[] = [];
  text.split("\n").forEach((raw, i) => {
    const fields = raw.trim().split(/\s+/);
    if (fields[0] === undefined || fields[0] === "" || fields[0].startsWith("#")) return;
    let marker: KnownHostsEntry["marker"];
    if (fields[0] === "@cert-authority" || fields[0] === "@revoked") {
      marker = fields[0] === "@revoked" ? "revoked" : "cert-authority";
      fields.shift();
    }
    const [patterns, keyType, key] = fields;
    if (!patterns || !keyType || !key || !/^[A-Za-z0-9+/]+={0,2}$/.test(key)) return;
    entries.push({ line: i + 1, ...(marker ? { marker } : {}), patterns, keyType, key });
  });
  return entries;
}

/** The name OpenSSH looks up and writes for a host: `host` on port 22, `[host]:port` otherwise. */
export function knownHostName(host: string, port: number): string {
  const h = host.toLowerCase();
  return port === 22 ? h : `[${h}]:${port}`;
}

/** Whether an entry's host patterns name `host:port` (a negated pattern that matches wins over every other). */
export function patternsMatch(patterns: string, host: string, port: number): boolean {
  const name = knownHostName(host, port);
  if (patterns.startsWith("|1|")) return hashedMatches(patterns, name);
  let matched = false;
  for (const raw of patterns.split(",")) {
    const negated = raw.startsWith("!");
    const pattern = (negated ? raw.slice(1) : raw).toLowerCase();
    if (!wildcardMatch(pattern, name)) continue;
    if (negated) return false;
    matched = true;
  }
  return matched;
}

/** `|1|base64(salt)|base64(HMAC-SHA1(salt, name))`, as `ssh-keygen -H` and HashKnownHosts write it. */
function hashedMatches(field: string, name: string): boolean {
  const [, , salt, hash] = field.split("|");
  if (!salt || !hash) return false;
  const digest = createHmac("sha1", Buffer.from(salt, "base64")).update(name).digest("base64");
  return digest === hash;
}

/** OpenSSH's match_pattern: `*` any run of characters, `?` exactly one, everything else literal. */
function wildcardMatch(pattern: string, text: string): boolean {
  const source = pattern
    .replace(/[.+^${}()|[\]\\]/g, "\\$&")
    .replace(/\*/g, ".*")
    .replace(/\?/g, ".");
  return new RegExp(`^${source}$`, "s").test(text);
}

/** The entries (plain keys and revocations) that name this host, in file order. */
export function entriesFor(entries: readonly KnownHostsEntry[], host: string, port: number): KnownHostsEntry[] {
  return entries.filter((e) => e.marker !== "cert-authority" && patternsMatch(e.patterns, host, port));
}

/** The key algorithm name inside a public key blob (its first SSH string). */
export function keyTypeOf(blob: Buffer): string {
  if (blob.length < 4) return "";
  const length = blob.readUInt32BE(0);
  return blob.subarray(4, 4 + length).toString("latin1");
}

/** OpenSSH's fingerprint of a public key blob: `SHA256:` and unpadded base64 of its SHA-256. */
export function fingerprint(blob: Buffer): string {
  return `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;
}

/** One known_hosts line for a host key, unhashed: `[host]:port type base64`. */
export function knownHostsLine(host: string, port: number, blob: Buffer): string {
  return `${knownHostName(host, port)} ${keyTypeOf(blob)} ${blob.toString("base64")}`;
}

export type HostKeyVerdict =
  | { kind: "known"; line: number }
  | { kind: "unknown" }
  /** The host has keys in known_hosts and this is none of them: a changed key, or an attacker. */
  | { kind: "changed"; lines: number[] }
  | { kind: "revoked"; line: number };

/** What known_hosts says about the key a host presented. */
export function verdictFor(
  entries: readonly KnownHostsEntry[],
  host: string,
  port: number,
  blob: Buffer,
): HostKeyVerdict {
  const mine = entriesFor(entries, host, port);
  const b64 = blob.toString("base64");
  const revoked = entries.find((e) => e.marker === "revoked" && e.key === b64);
  if (revoked) return { kind: "revoked", line: revoked.line };
  const known = mine.find((e) => !e.marker && e.key === b64);
  if (known) return { kind: "known", line: known.line };
  const others = mine.filter((e) => !e.marker);
  return others.length > 0 ? { kind: "changed", lines: others.map((e) => e.line) } : { kind: "unknown" };
}

/** The host key algorithms a client may ask for, each key type known for the host first (so that one is used). */
export function hostKeyAlgorithms(entries: readonly KnownHostsEntry[], host: string, port: number): string[] {
  const known = entriesFor(entries, host, port).filter((e) => !e.marker);
  const first = known.flatMap((e) => ALGORITHMS_OF[e.keyType] ?? []);
  return [...new Set([...first, ...DEFAULT_HOST_KEY_ALGORITHMS])];
}

/** ssh2's default host key algorithms, strongest first. */
const DEFAULT_HOST_KEY_ALGORITHMS = [
  "ssh-ed25519",
  "ecdsa-sha2-nistp256",
  "ecdsa-sha2-nistp384",
  "ecdsa-sha2-nistp521",
  "rsa-sha2-512",
  "rsa-sha2-256",
  "ssh-rsa",
];

/** A known_hosts key type and the signature algorithms that prove it (RSA keys sign with SHA-2 since OpenSSH 8.8). */
const ALGORITHMS_OF: Record<string, string[]> = {
  "ssh-ed25519": ["ssh-ed25519"],
  "ecdsa-sha2-nistp256": ["ecdsa-sha2-nistp256"],
  "ecdsa-sha2-nistp384": ["ecdsa-sha2-nistp384"],
  "ecdsa-sha2-nistp521": ["ecdsa-sha2-nistp521"],
  "ssh-rsa": ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"],
};
