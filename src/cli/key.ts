/**
 * `lifeboat key generate --out FILE`: a new age identity for `lifeboat.encryption`. The identity goes to FILE only
 * (mode 0600, created exclusively: an existing file is never overwritten); what is printed is its recipient, the
 * public key to list under `lifeboat.encryption.recipients`. `lifeboat key derive` gives the break-glass identity of a
 * passphrase the same way.
 */
import { open } from "node:fs/promises";
import { generateIdentity, recipientFingerprint } from "../crypto/age.js";
import { deriveIdentity, readPassphrase, type PassphraseSource } from "../crypto/passphrase.js";
import { ENV_NAME } from "../crypto/secret-source.js";
import { fsyncDir } from "../util/fs.js";
import { UserError } from "../util/errors.js";
import { dirname, resolve } from "node:path";
import type { CliDeps } from "./deps.js";

export interface KeyGenerateReport {
  file: string;
  recipient: string;
  fingerprint: string;
}

export async function runKeyGenerate(
  options: { out: string },
  deps: Pick<CliDeps, "out" | "clock">,
): Promise<KeyGenerateReport> {
  const { identity, recipient } = await generateIdentity();
  const file = await writeIdentity(options.out, identity, recipient, deps.clock());
  const report = { file, recipient, fingerprint: recipientFingerprint(recipient) };
  deps.out.line(recipient);
  deps.out.note(`wrote the identity to ${file} (0600); add the recipient above to lifeboat.encryption.recipients`);
  deps.out.result(report);
  return report;
}

export interface KeyDeriveReport {
  recipient: string;
  fingerprint: string;
  /** Where the derived identity was written, with --out. */
  file?: string;
}

/**
 * `lifeboat key derive`: the break-glass identity of a passphrase (src/crypto/passphrase.ts). Its recipient is what
 * saves add when `lifeboat.encryption.passphrase_file`/`_env` is set; `--out` writes the identity itself, for
 * opening a copy by hand (`age -d -i FILE`) or as an `identity_file` on the day every other key is lost.
 */
export async function runKeyDerive(
  options: { passphraseFile?: string; passphraseEnv?: string; out?: string },
  deps: Pick<CliDeps, "out" | "clock">,
): Promise<KeyDeriveReport> {
  const source = passphraseFlag(options);
  const { identity, recipient } = await deriveIdentity(await readPassphrase(source));
  const report: KeyDeriveReport = { recipient, fingerprint: recipientFingerprint(recipient) };
  if (options.out !== undefined) report.file = await writeIdentity(options.out, identity, recipient, deps.clock());
  deps.out.line(recipient);
  if (report.file) deps.out.note(`wrote the derived identity to ${report.file} (0600)`);
  deps.out.result(report);
  return report;
}

function passphraseFlag(options: { passphraseFile?: string; passphraseEnv?: string }): PassphraseSource {
  if ((options.passphraseFile === undefined) === (options.passphraseEnv === undefined)) {
    throw new UserError("give exactly one of --passphrase-file and --passphrase-env");
  }
  if (options.passphraseEnv !== undefined) {
    if (!ENV_NAME.test(options.passphraseEnv))
      throw new UserError("--passphrase-env: must be an environment variable's name");
    return { passphraseEnv: options.passphraseEnv };
  }
  return { passphraseFile: resolve(options.passphraseFile!) };
}

/** Writes an identity to `out` (mode 0600, created exclusively: an existing file is never overwritten). */
async function writeIdentity(out: string, identity: string, recipient: string, now: Date): Promise<string> {
  const file = resolve(out);
  const handle = await open(file, "wx", 0o600).catch((err: unknown) => {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "EEXIST") throw new UserError(`--out: ${file} already exists; refusing to overwrite an identity`);
    throw new UserError(`--out: cannot create ${file} (${code ?? String(err)})`);
  });
  try {
    await handle.writeFile(`# created: ${now.toISOString()}\n# recipient: ${recipient}\n${identity}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await fsyncDir(dirname(file));
  return file;
}
