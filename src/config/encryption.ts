/** `lifeboat.encryption`: validation of the recipients and of where the identity is found (docs/config-reference.md). */
import { isAbsolute } from "node:path";
import { recipientFingerprint, recipientProblem, type IdentitySource } from "../crypto/age.js";
import type { Report } from "./report.js";
import type { RawClusterLifeboat } from "./schema.js";
import type { EncryptionSettings } from "./types.js";

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
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
  const identity = identityOf(raw, report);
  if (identity) settings.identity = identity;
  return settings;
}

function identityOf(
  raw: { identity_file?: string | undefined; identity_env?: string | undefined },
  report: Report,
): IdentitySource | undefined {
  if (raw.identity_file !== undefined && raw.identity_env !== undefined) {
    report.issues.push({ path: PATH, message: "give at most one of identity_file and identity_env" });
    return undefined;
  }
  if (raw.identity_file !== undefined) {
    if (!isAbsolute(raw.identity_file)) {
      report.issues.push({
        path: `${PATH}.identity_file`,
        message: "must be an absolute path (on the nodes and here)",
      });
    }
    return { file: raw.identity_file };
  }
  if (raw.identity_env !== undefined) {
    if (!ENV_NAME.test(raw.identity_env)) {
      report.issues.push({ path: `${PATH}.identity_env`, message: "must be an environment variable's name" });
    }
    return { env: raw.identity_env };
  }
  return undefined;
}

/** What a save request and a pushed schedule carry of `lifeboat.encryption`: the public recipients only. */
export function saveEncryptionOf(
  settings: EncryptionSettings | undefined,
): Pick<EncryptionSettings, "recipients" | "local"> | undefined {
  return settings ? { recipients: [...settings.recipients], local: settings.local } : undefined;
}
