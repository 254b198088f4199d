/**
 * Re-encrypting one S3 copy to the current recipients (`lifeboat etcd snapshot-rekey`), so that a leaked key can be
 * retired: the stored file streams through decryption (when it is encrypted), its plaintext is checked against the
 * manifest's `archive.sha256` while it flows, and it is encrypted again into `<name>.zip.age`. The put is verified by
 * the store and fails, leaving the old object, when the plaintext does not match; the manifest is written last, and
 * a plain `<name>.zip` is removed only after it. docs/design.md "Encryption at rest" has the crash window.
 */
import type { Readable } from "node:stream";
import { decryptStream, recipientFingerprint, type LoadedIdentities } from "../crypto/age.js";
import type { Store } from "../store/store.js";
import { ChecksumMismatchError, IdentityError } from "../util/errors.js";
import { sha256PassThrough } from "../util/hash-stream.js";
import type { CatalogEntry } from "./catalog.js";
import { archiveKey, manifestKey, serializeManifest, type Manifest } from "./manifest.js";
import { encryptingConsumer, sealedManifest } from "./seal.js";

export type RekeyDecision = { name: string; action: "rekey" | "skip"; reason: string };

/** Which copies to re-encrypt (pure): good copies not already encrypted to exactly `recipients`. */
export function planRekey(entries: readonly CatalogEntry[], recipients: readonly string[]): RekeyDecision[] {
  const wanted = [...recipients].map(recipientFingerprint).sort().join(",");
  return entries.map((e) => {
    if (e.status !== "ok" || !e.manifest)
      return { name: e.name, action: "skip", reason: `not a good copy (${e.status})` };
    const enc = e.manifest.encryption;
    if (!enc) return { name: e.name, action: "rekey", reason: "not encrypted yet" };
    if ([...enc.recipients].sort().join(",") === wanted) {
      return { name: e.name, action: "skip", reason: "already encrypted to the current recipients" };
    }
    return { name: e.name, action: "rekey", reason: `encrypted to ${enc.recipients.join(", ")}` };
  });
}

/** Re-encrypts the copy `manifest` describes in `store`; returns its new manifest (already written). */
export async function rekeyCopy(
  store: Store,
  manifest: Manifest,
  recipients: string[],
  identities: LoadedIdentities | undefined,
): Promise<Manifest> {
  const what = `snapshot ${manifest.name} (${store.location}/${manifest.archive.file})`;
  const stored = await store.get(manifest.archive.file);
  let plain: Readable = stored;
  if (manifest.encryption) {
    if (!identities) {
      stored.destroy();
      throw new IdentityError(`${what} is encrypted and no identity is configured: set identity_file or --identity`);
    }
    plain = await decryptStream(stored, identities, what);
  }
  const { stream: checked } = sha256PassThrough({
    sha256: manifest.archive.sha256,
    mismatch: (actual) =>
      new ChecksumMismatchError(`${what}: the archive's sha256 ${actual} differs from its manifest; left as it was`),
  });
  plain.on("error", (err) => checked.destroy(err));
  plain.pipe(checked);
  const written = await encryptingConsumer(manifest.name, store, { recipients, local: false }).run(checked);
  const plainManifest: Manifest = { ...manifest, archive: { ...manifest.archive, file: archiveKey(manifest.name) } };
  const next = sealedManifest({ ...plainManifest, encryption: null }, { ok: true, value: written });
  await store.put(manifestKey(manifest.name), Buffer.from(serializeManifest(next)));
  if (!manifest.encryption) await store.remove(archiveKey(manifest.name));
  return next;
}
