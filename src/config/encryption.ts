/** `lifeboat.encryption`: validation of the recipients and of where the identity is found (docs/config-reference.md). */
import { isAbsolute } from "node:path";
import { recipientFingerprint, recipientProblem, type OneSource } from "../crypto/age.js";
import type { Report } from "./report.js";
import type { RawClusterLifeboat } from "./schema.js";
import { deriveIdentity, readPassphrase, type PassphraseSource } from "../crypto/passphrase.js";
import { ENV_NAME } from "../crypto/secret-source.js";
import type { ClusterConfig, EncryptionSettings } from "./types.js";

const PATH = "lifeboat.encryption";

export function encryptionOf(
  raw: NonNullable<NonNullable<RawClusterLifeboat>["encryption"]>,
  report: Report,
): EncryptionSettings {
  if (raw.recipients.length === 0) report.issues.push({ path: `${PATH}.recipients`, message: "give at least one" });
  raw.recipients.forEach((r, i) => {
    const problem = recipientProblem(r);
    // The value is not echoed: it may be an identity pasted by mistake.
    if (problem) report.issues.push({ path: `${PATH}.recipients[${i}]`, message: problem });
  });
  const seen = new Set<string>();
  raw.recipients.forEach((r, i) => {
    if (seen.has(r))
      report.issues.push({ path: `${PATH}.recipients[${i}]`, message: `${recipientFingerprint(r)} twice` });
    seen.add(r);
  });
  const settings: EncryptionSettings = { recipients: [...raw.recipients], local: raw.encrypt_local ?? false };
  const identity: OneSource | undefined = locationOf(raw, "identity", report);
  const where = locationOf(raw, "passphrase", report);
  const passphrase: PassphraseSource | undefined =
    where && ("file" in where ? { passphraseFile: where.file } : { passphraseEnv: where.env });
  if (passphrase) settings.passphrase = passphrase;
  if (identity && passphrase) settings.identity = { any: [identity, passphrase] };
  else if (identity ?? passphrase) settings.identity = identity ?? passphrase;
  return settings;
}

/**
 * The configuration with the break-glass passphrase's recipient added to `lifeboat.encryption.recipients`, for the
 * commands that encrypt (saves, the schedule push, rekey): the passphrase is read on this host and derived once per
 * command (scrypt: about a second); a passphrase that cannot be read stops the command (IdentityError, exit 4).
 */
export async function withBreakGlass(config: ClusterConfig): Promise<ClusterConfig> {
  const enc = config.lifeboat.encryption;
  if (!enc?.passphrase) return config;
  const { recipient } = await deriveIdentity(await readPassphrase(enc.passphrase));
  const recipients = enc.recipients.includes(recipient) ? enc.recipients : [...enc.recipients, recipient];
  return { ...config, lifeboat: { ...config.lifeboat, encryption: { ...enc, recipients } } };
}

/**
 * Where `<what>_file` or `<what>_env` points (an identity or a passphrase): at most one of the two, an absolute path
 * or a variable's name; `undefined` when neither is set.
 */
function locationOf(
  raw: Record<string, unknown>,
  what: "identity" | "passphrase",
  report: Report,
): { file: string } | { env: string } | undefined {
  const file = raw[`${what}_file`] as string | undefined;
  const env = raw[`${what}_env`] as string | undefined;
  if (file !== undefined && env !== undefined) {
    report.issues.push({ path: PATH, message: `give at most one of ${what}_file and ${what}_env` });
    return undefined;
  }
  if (file !== undefined) {
    if (!isAbsolute(file)) {
      report.issues.push({ path: `${PATH}.${what}_file`, message: "must be an absolute path (on the nodes and here)" });
    }
    return { file };
  }
  if (env !== undefined) {
    if (!ENV_NAME.test(env)) {
      report.issues.push({ path: `${PATH}.${what}_env`, message: "must be an environment variable's name" });
    }
    return { env };
  }
  return undefined;
}

/** What a save request and a pushed schedule carry of `lifeboat.encryption`: the public recipients only. */
export function saveEncryptionOf(
  settings: EncryptionSettings | undefined,
): Pick<EncryptionSettings, "recipients" | "local"> | undefined {
  return settings ? { recipients: [...settings.recipients], local: settings.local } : undefined;
}
