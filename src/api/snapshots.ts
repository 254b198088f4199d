/** The snapshot routes' bodies: saving (and its events), listing, uploading and deleting this node's copies. */
import { z } from "zod";
import { S3Settings } from "../config/s3-settings.js";
import { ManifestSchema } from "../snapshot/manifest.js";
import { SaveEncryption } from "../snapshot/seal.js";
import { SnapshotName } from "./params.js";

export const SaveRequest = z.object({
  name: SnapshotName,
  kind: z.enum(["one-time", "recurring"]).default("one-time"),
  /** The cluster state file, base64, embedded as `/etc/kubernetes/<name>.rkestate`. */
  stateFile: z.string().optional(),
  compression: z.enum(["deflate", "store"]).default("deflate"),
  level: z.number().int().min(0).max(9).optional(),
  /** Deflate threads (lifeboat.snapshot.compression_threads); absent: DEFAULT_DEFLATE_THREADS, at most the cores. */
  threads: z.number().int().min(1).max(16).optional(),
  retries: z.number().int().min(0).max(20).default(4),
  retryPauseSeconds: z.number().min(0).max(600).default(15),
  /** Present only on the node chosen to upload. */
  s3: S3Settings.optional(),
  /** How long to wait for a recurring save that holds the node's flight (a restore is never waited for). */
  waitSeconds: z.number().min(0).max(3600).default(600),
  /** Encrypt the S3 copy (and with `local` this node's) to these age recipients: public keys, never an identity. */
  encryption: SaveEncryption.optional(),
});
export type SaveRequest = z.infer<typeof SaveRequest>;

export const UploadRequest = z.object({ s3: S3Settings, encryption: SaveEncryption.optional() });

/** How the S3 upload of a save went (only on the node that uploads). */
export const UploadOutcome = z.discriminatedUnion("ok", [
  z.object({ ok: z.literal(true), key: z.string(), verified: z.string() }),
  z.object({ ok: z.literal(false), error: z.string() }),
]);
export type UploadOutcome = z.infer<typeof UploadOutcome>;

/** One saved snapshot: its manifest (what was committed), how long it took, and the upload's outcome. */
export const SaveResult = z.object({
  manifest: ManifestSchema,
  durationMs: z.number(),
  /** How long the member was busy sending its snapshot (first to last byte), when it was spooled (src/snapshot/spool.ts). */
  memberMs: z.number().optional(),
  upload: UploadOutcome.optional(),
});
export type SaveResult = z.infer<typeof SaveResult>;

/**
 * The lines of POST /v1/snapshots: `progress` while the snapshot streams (`bytes` of archive written; `read` bytes of
 * the snapshot read from the member, of about `total`, the member's dbSize plus the trailer when the save began),
 * `waiting` while a recurring save holds the node, then exactly one `result` or `error` (`kind`: the error's class,
 * `Busy` when the wait ran out, `Interrupted` when the agent stopped).
 */
export const SaveEvent = z.discriminatedUnion("type", [
  z.object({
    type: z.literal("progress"),
    bytes: z.number(),
    read: z.number().int().nonnegative().optional(),
    total: z.number().int().nonnegative().optional(),
  }),
  z.object({ type: z.literal("waiting"), for: z.string() }),
  z.object({ type: z.literal("result"), result: SaveResult }),
  z.object({ type: z.literal("error"), error: z.string(), kind: z.string() }),
]);
export type SaveEvent = z.infer<typeof SaveEvent>;

export const CopyStatus = z.enum(["ok", "no-manifest", "broken"]);
export type CopyStatus = z.infer<typeof CopyStatus>;

/** One copy of a snapshot in one store, as listing judges it from its manifest (docs/design.md "Listing"). */
export const CatalogEntry = z.object({
  name: z.string(),
  /** "node:<member>" or "s3". */
  location: z.string(),
  format: z.enum(["zip", "raw"]),
  /** The archive (or raw file) key in its store. */
  key: z.string(),
  size: z.number(),
  modified: z.string(),
  status: CopyStatus,
  reason: z.string().optional(),
  manifest: ManifestSchema.optional(),
});
export type CatalogEntry = z.infer<typeof CatalogEntry>;

export const SnapshotList = z.object({ node: z.string(), snapshots: z.array(CatalogEntry) });

export const Uploaded = z.object({ node: z.string(), key: z.string(), verified: z.string() });

/** The keys removed (manifest first, then archive). */
export const Deleted = z.object({ node: z.string(), removed: z.array(z.string()) });
