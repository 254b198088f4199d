/**
 * Encrypted copies in the save pipeline: a tee consumer that stores the archive as it is (`<name>.zip`) or through
 * age (`<name>.zip.age`), and the manifest of that copy. The zip inside is the same either way; each copy's manifest
 * says how it is stored (docs/design.md "Encryption at rest").
 */
import { z } from "zod";
import { encryptStream, recipientFingerprint, recipientProblem, type CipherDigest } from "../crypto/age.js";
import type { PutResult, Store } from "../store/store.js";
import { archiveKey, encryptedArchiveKey, manifestKey, serializeManifest, type Manifest } from "./manifest.js";
import type { TeeConsumer, TeeOutcome } from "./tee.js";

/**
 * The recipients a save encrypts to (public keys only: what a save request and a pushed schedule carry), and whether
 * the node's own copy is encrypted too (`encrypt_local`).
 */
export const SaveEncryption = z.object({
  recipients: z
    .array(
      z.string().check(
        z.superRefine((value, ctx) => {
          const problem = recipientProblem(value);
          if (problem) ctx.addIssue({ code: "custom", message: problem, input: "" });
        }),
      ),
    )
    .min(1),
  local: z.boolean().default(false),
});
export type SaveEncryption = z.infer<typeof SaveEncryption>;

/** One copy as written: the store's answer and, when encrypted, the ciphertext's digest and recipients. */
export interface CopyWrite {
  put: PutResult;
  sealed?: { digest: CipherDigest; recipients: string[] };
}

/** Stores the archive in `store`, through age when `encryption` is given. */
export function encryptingConsumer(
  name: string,
  store: Store,
  encryption: SaveEncryption | undefined,
): TeeConsumer<CopyWrite> {
  if (!encryption) return { run: async (input) => ({ put: await store.put(archiveKey(name), input) }) };
  return {
    run: async (input) => {
      const cipher = await encryptStream(input, encryption.recipients);
      const put = await store.put(encryptedArchiveKey(name), cipher.stream);
      return { put, sealed: { digest: cipher.digest(), recipients: encryption.recipients } };
    },
  };
}

/** The manifest of one copy: the plain manifest, or with `archive.file` and `encryption` of the encrypted file. */
export function sealedManifest(manifest: Manifest, outcome: TeeOutcome<CopyWrite> | undefined): Manifest {
  const sealed = outcome?.ok ? outcome.value.sealed : undefined;
  if (!sealed) return manifest;
  return {
    ...manifest,
    archive: { ...manifest.archive, file: encryptedArchiveKey(manifest.name) },
    encryption: {
      format: "age",
      recipients: sealed.recipients.map(recipientFingerprint),
      size: sealed.digest.size,
      sha256: sealed.digest.sha256,
    },
  };
}

/**
 * Uploads a copy this node holds (the fallback when the chosen uploader failed), archive first, manifest last. A
 * plain local copy is encrypted on the way when `encryption` is given; an encrypted one goes as it is.
 */
export async function uploadCopy(
  local: Store,
  remote: Store,
  manifest: Manifest,
  encryption: SaveEncryption | undefined,
): Promise<PutResult> {
  const source = manifest.archive.file;
  if (manifest.encryption || !encryption) {
    const put = await remote.put(source, await local.get(source));
    await remote.put(manifestKey(manifest.name), Buffer.from(serializeManifest(manifest)));
    return put;
  }
  const written = await encryptingConsumer(manifest.name, remote, encryption).run(await local.get(source));
  const sealed = sealedManifest(manifest, { ok: true, value: written });
  await remote.put(manifestKey(manifest.name), Buffer.from(serializeManifest(sealed)));
  return written.put;
}
