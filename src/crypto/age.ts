/**
 * Encryption at rest with age (age-encryption.org/v1, X25519 recipients): the one place that knows the format.
 * Streams are bridged to the library's web streams pull by pull (`ReadableStream.from` over the Node stream, and
 * `Readable.fromWeb` back), so a chunk is read from the source only when the consumer asks for one: memory stays
 * at a few 64 KiB age chunks whatever the snapshot's size.
 *
 * Identities (`AGE-SECRET-KEY-1…`) are secrets: they are read from a file or an environment variable, registered
 * with `redact()`, and never put in a message; messages name where an identity was looked for, and recipients by
 * their fingerprint.
 */
import { createHash } from "node:crypto";
import { isAbsolute } from "node:path";
import { Readable } from "node:stream";
import { z } from "zod";
import { describeError, IdentityError, UserError } from "../util/errors.js";
import { sha256PassThrough, type StreamedDigest } from "../util/hash-stream.js";
import { registerSecret } from "../util/redact.js";
import { ageLibrary } from "./library.js";
import { deriveIdentity, describePassphrase, readPassphrase } from "./passphrase.js";
import { ENV_NAME, readSecretFile } from "./secret-source.js";

/** The first line of every age file. */
export const AGE_MAGIC = "age-encryption.org/v1";
/** What an encrypted copy's file name adds to `<name>.zip`. */
export const AGE_SUFFIX = ".age";

/** An X25519 recipient: `age1` and 58 bech32 characters. */
const RECIPIENT = /^age1[02-9ac-hj-np-z]{58}$/;
const IDENTITY = /^AGE-SECRET-KEY-1[02-9AC-HJ-NP-Z]{58}$/;

const absolute = z.string().min(2).refine(isAbsolute, "must be an absolute path");
const envName = z.string().regex(ENV_NAME, "must be an environment variable's name");

/** One place an identity is read from: an identity file or variable, or a break-glass passphrase (passphrase.ts). */
const OneSource = z.union([
  z.object({ file: absolute }).strict(),
  z.object({ env: envName }).strict(),
  z.object({ passphraseFile: absolute }).strict(),
  z.object({ passphraseEnv: envName }).strict(),
]);

/**
 * Where an identity is read from: a file (an absolute path on the node, or the CLI's host), an environment variable,
 * a break-glass passphrase in either, or `any` of these (every one that can be read is used). Only this location
 * travels to an agent (with a restore's requests), never the identity.
 */
export const IdentitySource = z.union([
  ...OneSource.options,
  z.object({ any: z.array(OneSource).min(1).max(4) }).strict(),
]);
export type IdentitySource = z.infer<typeof IdentitySource>;
export type OneSource = z.infer<typeof OneSource>;

export interface LoadedIdentities {
  identities: string[];
  /** Fingerprints of the recipients these identities open. */
  fingerprints: string[];
  /** `file /etc/lifeboat/age.key` or `environment variable LIFEBOAT_AGE_IDENTITY`: what a message may name. */
  where: string;
}

/** Why a recipient string is not one, or undefined when it is. */
export function recipientProblem(recipient: string): string | undefined {
  if (RECIPIENT.test(recipient)) return undefined;
  return recipient.startsWith("AGE-SECRET-KEY-")
    ? "this is an identity (a private key), not a recipient: give its age1… recipient"
    : "not an age X25519 recipient (age1 followed by 58 characters)";
}

/** A recipient's public name in manifests and messages: the start of its sha256, never the key itself. */
export function recipientFingerprint(recipient: string): string {
  return `sha256:${createHash("sha256").update(recipient).digest("hex").slice(0, 16)}`;
}

export function describeSource(source: IdentitySource): string {
  if ("any" in source) return source.any.map(describeSource).join(" or ");
  if ("passphraseFile" in source || "passphraseEnv" in source) return describePassphrase(source);
  return "file" in source ? `file ${source.file}` : `environment variable ${source.env}`;
}

/** A new X25519 identity and its recipient. */
export async function generateIdentity(): Promise<{ identity: string; recipient: string }> {
  const age = await ageLibrary();
  const identity = await age.generateX25519Identity();
  registerSecret(identity);
  return { identity, recipient: await age.identityToRecipient(identity) };
}

/**
 * The identities in `source` (age's identity file format: one per line, `#` comments; a passphrase derives one). A
 * missing file, an unset variable, an unreadable file or one without an identity is an `IdentityError` naming where
 * it looked; with `any`, only when none of its sources gives an identity.
 */
export async function loadIdentities(
  source: IdentitySource,
  env: NodeJS.ProcessEnv = process.env,
): Promise<LoadedIdentities> {
  if (!("any" in source)) return loadOne(source, env);
  const loaded = await Promise.allSettled(source.any.map((s) => loadOne(s, env)));
  const ok = loaded.flatMap((l) => (l.status === "fulfilled" ? [l.value] : []));
  if (ok.length === 0) {
    const why = loaded.map((l) => (l.status === "rejected" ? describeError(l.reason) : "")).join("; ");
    throw new IdentityError(why);
  }
  return {
    identities: ok.flatMap((l) => l.identities),
    fingerprints: ok.flatMap((l) => l.fingerprints),
    where: ok.map((l) => l.where).join(" and "),
  };
}

async function loadOne(source: OneSource, env: NodeJS.ProcessEnv): Promise<LoadedIdentities> {
  const where = describeSource(source);
  if ("passphraseFile" in source || "passphraseEnv" in source) {
    const { identity, recipient } = await deriveIdentity(await readPassphrase(source, env));
    return { identities: [identity], fingerprints: [recipientFingerprint(recipient)], where };
  }
  const text = "file" in source ? await readSecretFile(source.file, `no age identity: ${where}`) : env[source.env];
  if (text === undefined || text.trim() === "") throw new IdentityError(`no age identity: ${where} is not set`);
  const lines = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"));
  for (const line of lines) registerSecret(line);
  const bad = lines.findIndex((l) => !IDENTITY.test(l));
  if (bad >= 0 || lines.length === 0) {
    const what = lines.length === 0 ? "holds no identity" : `line ${bad + 1} is not an age identity`;
    throw new IdentityError(`no usable age identity in ${where}: ${what} (expected AGE-SECRET-KEY-1…)`);
  }
  const age = await ageLibrary();
  const fingerprints = await Promise.all(
    lines.map(async (l) => recipientFingerprint(await age.identityToRecipient(l))),
  );
  return { identities: lines, fingerprints, where };
}

/** What an encrypting stream reports once it has ended: the size and sha256 of the ciphertext it produced. */
export type CipherDigest = StreamedDigest;

export interface EncryptedStream {
  stream: Readable;
  /** Valid once `stream` has ended. */
  digest(): CipherDigest;
}

/** Encrypts `input` to every recipient, streaming; the output's size and sha256 are counted as it flows. */
export async function encryptStream(input: Readable, recipients: readonly string[]): Promise<EncryptedStream> {
  if (recipients.length === 0) throw new UserError("encryption needs at least one recipient");
  const encrypter = new (await ageLibrary()).Encrypter();
  for (const r of recipients) {
    const problem = recipientProblem(r);
    if (problem) throw new UserError(`recipient ${recipientFingerprint(r)}: ${problem}`);
    encrypter.addRecipient(r);
  }
  const cipher = await encrypter.encrypt(toWeb(input));
  const { stream: counted, digest } = sha256PassThrough();
  const out = fromWeb(cipher);
  out.on("error", (err) => counted.destroy(err));
  input.on("error", (err) => counted.destroy(err));
  counted.on("close", () => {
    if (!out.destroyed) out.destroy();
  });
  out.pipe(counted);
  return { stream: counted, digest };
}

/**
 * Decrypts `input` with `identities`, streaming. Resolves once the header is read and verified (so a wrong identity
 * rejects before any plaintext exists) with the plaintext stream; a damaged payload makes that stream error.
 * `what` names the copy in messages.
 */
export async function decryptStream(input: Readable, loaded: LoadedIdentities, what: string): Promise<Readable> {
  const decrypter = new (await ageLibrary()).Decrypter();
  for (const identity of loaded.identities) decrypter.addIdentity(identity);
  try {
    const plain = fromWeb(await decrypter.decrypt(toWeb(input)));
    input.on("error", (err) => plain.destroy(err));
    return plain;
  } catch (err) {
    input.destroy();
    throw new IdentityError(headerFailure(err, loaded, what), { cause: err });
  }
}

/** Whether `loaded` opens the age file `input` starts with: reads the header only, then closes `input`. */
export async function checkHeader(input: Readable, loaded: LoadedIdentities, what: string): Promise<void> {
  const plain = await decryptStream(input, loaded, what);
  plain.destroy();
  input.destroy();
}

/** Whether `bytes` (the start of a file) is an age file. */
export function looksEncrypted(bytes: Uint8Array): boolean {
  return Buffer.from(bytes.subarray(0, AGE_MAGIC.length)).toString("latin1") === AGE_MAGIC;
}

function headerFailure(err: unknown, loaded: LoadedIdentities, what: string): string {
  const message = err instanceof Error ? err.message : String(err);
  const tried = `the identity in ${loaded.where} (recipient ${loaded.fingerprints.join(", ")})`;
  if (/no identity matched/.test(message)) return `${what} cannot be opened with ${tried}: it was encrypted to others`;
  if (/HMAC/.test(message)) return `${what}: its age header does not verify with ${tried} (tampered or damaged)`;
  return `${what} is not a readable age file (${message}); tried ${tried}`;
}

/** A pull-based web stream over a Node stream: the source is read only when age asks for the next chunk. */
function toWeb(input: Readable): ReadableStream<Uint8Array> {
  return ReadableStream.from(input as AsyncIterable<Uint8Array>);
}

function fromWeb(stream: ReadableStream<Uint8Array>): Readable {
  return Readable.fromWeb(stream, {
    highWaterMark: 1 << 16,
  });
}

/** The identities at `identity` (the location the CLI sent), or an IdentityError saying none was configured. */
export async function identityFor(
  what: string,
  recipients: readonly string[],
  identity: IdentitySource | undefined,
): Promise<LoadedIdentities> {
  if (!identity) {
    throw new IdentityError(
      `${what} is encrypted (to ${recipients.join(", ")}) and no identity is configured: set lifeboat.encryption.identity_file or identity_env`,
    );
  }
  return loadIdentities(identity);
}
