/**
 * The manifest: one JSON document per snapshot copy, written LAST as the commit point (docs/design.md).
 * A snapshot "exists" for Lifeboat only when its manifest exists and parses; listing reads manifests, never archives.
 */
import { z } from "zod";

/** Version of the archive + manifest format. Bump it, and record the change in docs/design.md, on any change. */
export const FORMAT_VERSION = 1;

export const MANIFEST_SUFFIX = ".manifest.json";
export const ARCHIVE_SUFFIX = ".zip";

const hex64 = z.string().regex(/^[0-9a-f]{64}$/, "a sha256 in lowercase hex");

export const ManifestSchema = z.object({
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
  /** Reserved for client-side encryption: null means the archive is not encrypted. */
  encryption: z.null(),
  tool: z.object({ name: z.literal("lifeboat"), version: z.string() }),
});

export type Manifest = z.infer<typeof ManifestSchema>;

export function manifestKey(name: string): string {
  return `${name}${MANIFEST_SUFFIX}`;
}

export function archiveKey(name: string): string {
  return `${name}${ARCHIVE_SUFFIX}`;
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
