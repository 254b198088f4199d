/**
 * The break-glass passphrase (`lifeboat.encryption.passphrase_file` or `passphrase_env`, `lifeboat key derive`): an
 * age X25519 identity derived from a passphrase with scrypt, whose recipient is added to every encrypted copy, so
 * that someone holding nothing but the passphrase can still open the backups when every identity file is lost.
 *
 * age's own passphrase recipient (scrypt) cannot be used: age allows it only as a file's sole recipient. So the
 * passphrase becomes an ordinary X25519 identity: `scrypt(passphrase, SALT, N=2^17, r=8, p=1)` gives 32 bytes, which
 * are the X25519 secret, bech32-encoded as `AGE-SECRET-KEY-1…`. The derivation is fixed (a test pins a known
 * passphrase's recipient): a future version must derive the same key, or old backups would no longer open.
 *
 * The salt is fixed, so the same passphrase gives the same key in every cluster: use one passphrase per cluster, and
 * a long one (at least 16 characters are required; scrypt makes each guess cost about 128 MiB and a good part of a
 * second, which a short passphrase does not survive).
 */
import { scrypt } from "node:crypto";
import { bech32 } from "@scure/base";
import { IdentityError } from "../util/errors.js";
import { registerSecret } from "../util/redact.js";
import { ageLibrary } from "./library.js";
import { readSecretFile } from "./secret-source.js";

export const BREAK_GLASS_SALT = "lifeboat break-glass passphrase v1";
export const BREAK_GLASS_SCRYPT = { N: 2 ** 17, r: 8, p: 1 } as const;
export const MIN_PASSPHRASE_LENGTH = 16;

/** Where a passphrase is read: a file (its first line) or an environment variable. */
export type PassphraseSource = { passphraseFile: string } | { passphraseEnv: string };

export function describePassphrase(source: PassphraseSource): string {
  return "passphraseFile" in source
    ? `passphrase file ${source.passphraseFile}`
    : `passphrase environment variable ${source.passphraseEnv}`;
}

/** The passphrase at `source`, registered with `redact()`; an `IdentityError` naming the source when unusable. */
export async function readPassphrase(source: PassphraseSource, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const where = describePassphrase(source);
  const text =
    "passphraseFile" in source
      ? await readSecretFile(source.passphraseFile, `no passphrase: ${where}`)
      : env[source.passphraseEnv];
  // The first line, without its line ending: `echo "…" > file` and an editor's final newline give the same key.
  const passphrase = (text ?? "").split(/\r?\n/)[0] ?? "";
  registerSecret(passphrase);
  if (passphrase === "") throw new IdentityError(`no passphrase: ${where} is empty or not set`);
  if ([...passphrase].length < MIN_PASSPHRASE_LENGTH) {
    throw new IdentityError(`the passphrase in ${where} is too short: at least ${MIN_PASSPHRASE_LENGTH} characters`);
  }
  return passphrase;
}

/** The X25519 identity and recipient a passphrase derives (see the top of this file). */
export async function deriveIdentity(passphrase: string): Promise<{ identity: string; recipient: string }> {
  const key = await new Promise<Buffer>((resolve, reject) =>
    scrypt(
      passphrase.normalize("NFC"),
      BREAK_GLASS_SALT,
      32,
      { ...BREAK_GLASS_SCRYPT, maxmem: 256 * 2 ** 20 },
      (err, k) => (err ? reject(err) : resolve(k)),
    ),
  );
  const identity = bech32.encode("age-secret-key-", bech32.toWords(key), false).toUpperCase();
  key.fill(0);
  registerSecret(identity);
  return { identity, recipient: await (await ageLibrary()).identityToRecipient(identity) };
}
