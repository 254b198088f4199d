/**
 * `lifeboat key generate --out FILE`: a new age identity for `lifeboat.encryption`. The identity goes to FILE only
 * (mode 0600, created exclusively: an existing file is never overwritten); what is printed is its recipient, the
 * public key to list under `lifeboat.encryption.recipients`.
 */
import { open } from "node:fs/promises";
import { generateIdentity, recipientFingerprint } from "../crypto/age.js";
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
  const file = resolve(options.out);
  const { identity, recipient } = await generateIdentity();
  const handle = await open(file, "wx", 0o600).catch((err: unknown) => {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "EEXIST") throw new UserError(`--out: ${file} already exists; refusing to overwrite an identity`);
    throw new UserError(`--out: cannot create ${file} (${code ?? String(err)})`);
  });
  try {
    const created = deps.clock().toISOString();
    await handle.writeFile(`# created: ${created}\n# recipient: ${recipient}\n${identity}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await fsyncDir(dirname(file));
  const report = { file, recipient, fingerprint: recipientFingerprint(recipient) };
  deps.out.line(recipient);
  deps.out.note(`wrote the identity to ${file} (0600); add the recipient above to lifeboat.encryption.recipients`);
  deps.out.result(report);
  return report;
}
