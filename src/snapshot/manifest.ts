/**
 * The manifest: one JSON document per snapshot copy, written LAST as the commit point (docs/design.md).
 * A snapshot "exists" for Lifeboat only when its manifest exists and parses; listing reads manifests, never archives.
 */
import { z } from "zod";
import { AGE_SUFFIX } from "../crypto/age.js";

/** Version of the archive + manifest format. Bump it, and record the change in docs/design.md, on any change. */
export const FORMAT_VERSION = 1;

export const MANIFEST_SUFFIX = ".manifest.json";
export const ARCHIVE_SUFFIX = ".zip";

const hex64 = z.string().regex(/^[0-9a-f]{64}$/, "a sha256 in lowercase hex");

/**
 * How the stored copy is encrypted (src/crypto/age.ts). `archive.size`/`archive.sha256` stay those of the zip inside,
 * which extraction checks end to end; these are the stored age file's, so the copy itself can be checked too.
 */
export const EncryptionSchema = z.object({
  format: z.literal("age"),
  /** Fingerprints of the recipients the copy was encrypted to (sha256 of the recipient, shortened): never keys. */
  recipients: z.array(z.string().regex(/^sha256:[0-9a-f]{16}$/)).min(1),
  size: z.number().int().nonnegative(),
  sha256: hex64,
});
export type Encryption = z.infer<typeof EncryptionSchema>;

/**
 * What the snapshot holds (src/snapshot/contents.ts): the member's revision when the stream began (the snapshot holds
 * it at least), the keys at that revision and etcd's HashKV there, with the compact revision the hash starts from
 * (-1: never compacted). A verify restores the snapshot and compares these at that revision. Absent in manifests
 * written before it was recorded; null when the member did not answer.
 */
export const ContentsSchema = z.object({
  revision: z.number().int().positive(),
  keys: z.number().int().nonnegative(),
  hashKV: z.number().int().nonnegative().max(0xffffffff),
  compactRevision: z.number().int().min(-1),
});
export type Contents = z.infer<typeof ContentsSchema>;

export const ManifestSchema = z
  .object({
    formatVersion: z.literal(FORMAT_VERSION),
    name: z.string().min(1),
    kind: z.enum(["one-time", "recurring"]),
    clusterId: z.string(),
    node: z.string(),
    memberId: z.string(),
    createdAt: z.iso.datetime({ offset: true }),
    etcd: z.object({
      version: z.string(),
      revision: z.number().int().nonnegative(),
      dbSize: z.number().int().nonnegative(),
    }),
    snapshot: z.object({
      /** Entry name inside the archive: RKE's `/backup/<name>`. */
      entry: z.string(),
      size: z.number().int().nonnegative(),
      /** sha256 of the whole snapshot file, etcd's trailer included. */
      sha256: hex64,
      /** The trailer itself: etcd's sha256 of the bbolt database. */
      dbSha256: hex64,
    }),
    archive: z.object({
      file: z.string(),
      format: z.literal("zip"),
      compression: z.enum(["deflate", "store"]),
      size: z.number().int().nonnegative(),
      sha256: hex64,
    }),
    stateFile: z.object({ included: z.boolean(), entry: z.string().optional() }),
    /** null: the archive is stored as it is; otherwise the stored file (`archive.file`, `<name>.zip.age`) is age. */
    encryption: EncryptionSchema.nullable(),
    contents: ContentsSchema.nullable().optional(),
    tool: z.object({ name: z.literal("lifeboat"), version: z.string() }),
  })
  .superRefine((m, ctx) => {
    // The manifest names the file it describes, and only ever its own: `<name>.zip`, or `<name>.zip.age` when encrypted.
    const expected = m.encryption ? encryptedArchiveKey(m.name) : archiveKey(m.name);
    if (m.archive.file !== expected) {
      ctx.addIssue({
        code: "custom",
        path: ["archive", "file"],
        message: `must be ${expected}`,
        input: m.archive.file,
      });
    }
  });

export type Manifest = z.infer<typeof ManifestSchema>;

export function manifestKey(name: string): string {
  return `${name}${MANIFEST_SUFFIX}`;
}

/** The plain archive's key, `<name>.zip`; an encrypted copy's is `encryptedArchiveKey`. */
export function archiveKey(name: string): string {
  return `${name}${ARCHIVE_SUFFIX}`;
}

/** An encrypted copy's archive: `<name>.zip.age`. */
export function encryptedArchiveKey(name: string): string {
  return `${archiveKey(name)}${AGE_SUFFIX}`;
}

/** The size the stored file must have: the ciphertext's for an encrypted copy, the zip's otherwise. */
export function storedArchiveSize(manifest: Manifest): number {
  return manifest.encryption ? manifest.encryption.size : manifest.archive.size;
}

/** Parses a manifest, returning the reason when it is not one (so a listing can show broken copies). */
export function parseManifest(text: string): { ok: true; manifest: Manifest } | { ok: false; reason: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { ok: false, reason: `not JSON: ${(err as Error).message}` };
  }
  const parsed = ManifestSchema.safeParse(value);
  if (parsed.success) return { ok: true, manifest: parsed.data };
  const issue = parsed.error.issues[0];
  return { ok: false, reason: issue ? `${issue.path.join(".")}: ${issue.message}` : "invalid manifest" };
}

export function serializeManifest(manifest: Manifest): string {
  return JSON.stringify(manifest, null, 2) + "\n";
}
