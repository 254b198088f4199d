/**
 * The restore routes' bodies (docs/design.md "Restore", src/restore/README.md): sessions, the node steps, and the
 * listing and cleanup of what restores leave behind. The node side in src/restore/ takes its types from here.
 */
import { z } from "zod";
import type { SnapshotDigest as TrailerDigest } from "../archive/trailer.js";
import { S3Settings } from "../config/s3-settings.js";
import { IdentitySource } from "../crypto/age.js";
import { ContentsSchema, ManifestSchema } from "../snapshot/manifest.js";
import { assertSame, type Same } from "./check.js";
import { HostPort, SessionId, Sha256, SnapshotName, Stamp } from "./params.js";

const node = z.string();

export const SessionPurpose = z.enum(["restore", "verify"]);

/** The one restore (or verify) session open on a node (src/agent/restore-session.ts). */
export const SessionInfo = z.object({
  id: z.string(),
  name: z.string(),
  purpose: SessionPurpose,
  openedAt: z.string(),
  expiresAt: z.string(),
});
export type SessionInfo = z.infer<typeof SessionInfo>;

/** `rollback.json` (and the retired `restored-<stamp>.json`): how to undo a restore's swap. */
export const RollbackRecord = z.object({
  stamp: z.string(),
  name: z.string(),
  dataDir: z.string(),
  /** Where the data directory that was live before the restore now is; absent when there was none. */
  oldDataDir: z.string().optional(),
  swappedAt: z.string(),
});
export type RollbackRecord = z.infer<typeof RollbackRecord>;

export const SessionRequest = z.object({
  session: SessionId,
  name: SnapshotName,
  purpose: z.enum(["restore", "verify", "rollback"]),
});
export const SessionOpened = z.object({ node, ...SessionInfo.shape });

export const SessionRef = z.object({ session: SessionId });
export const SessionReleased = z.object({ node, released: z.boolean() });

/** A step of the open session on snapshot `name`. */
export const Step = z.object({ session: SessionId, name: SnapshotName });
/** A verify step carries what the manifest says the snapshot holds, when it says it. */
export const VerifyStep = Step.extend({ expected: ContentsSchema.nullable().optional() });

/** A snapshot file's digest: its size and sha256 with etcd's trailer, and the trailer's own value. */
export const SnapshotDigest = z.object({ size: z.number(), sha256: z.string(), dbSha256: z.string() });
export type SnapshotDigest = z.infer<typeof SnapshotDigest>;
assertSame<Same<SnapshotDigest, TrailerDigest>>();
export const NodeDigest = z.object({ node, ...SnapshotDigest.shape });

/**
 * A restore to a point (docs/design.md, "Restore to a point"): after preparing the base, the serving node replays the
 * log's `segments` of `chain` up to `toRevision` (src/pitr/replay.ts). At most a million segments, in order.
 */
export const ReplayRequest = z.object({
  chain: z.string().regex(/^[0-9a-f]{1,16}-[0-9]{16}$/),
  toRevision: z.number().int().positive(),
  segments: z
    .array(z.object({ first: z.number().int().positive(), last: z.number().int().positive() }))
    .max(1_000_000)
    .refine((s) => s.every((x, i) => x.first <= x.last && (i === 0 || x.first === s[i - 1]!.last + 1)), {
      message: "segments must be consecutive revision ranges",
    }),
});
export type ReplayRequest = z.infer<typeof ReplayRequest>;

/** `identity`: where this node finds the age identity of an encrypted copy (a location, never the key). */
export const PrepareRequest = Step.extend({
  s3: S3Settings.optional(),
  identity: IdentitySource.optional(),
  replay: ReplayRequest.optional(),
});

/**
 * Before anything is held or stopped: can this node open the copy of `name` (S3 with `s3`, else its own) with the
 * identity at `identity`? Reads the age header only. An unencrypted copy needs no identity (`encrypted: false`).
 */
export const IdentityCheckRequest = z.object({
  name: SnapshotName,
  s3: S3Settings.optional(),
  identity: IdentitySource.optional(),
});
export const IdentityChecked = z.object({
  node,
  encrypted: z.boolean(),
  /** Where the identity that opened it was found (`file …`, `environment variable …`). */
  where: z.string().optional(),
});
/** The prepared file of the serving node, and the archive's state file (base64; null without one). */
export const Prepared = z.object({
  node,
  from: z.string(),
  format: z.enum(["zip", "raw"]),
  ...SnapshotDigest.shape,
  manifest: ManifestSchema.nullable(),
  stateFile: z.string().nullable(),
  /** For a restore to a point: the base's digest and revision, and the revisions replayed onto it. */
  pointInTime: z
    .object({
      baseSha256: z.string(),
      baseRevision: z.number(),
      revision: z.number(),
      applied: z.number(),
    })
    .optional(),
});
export type Prepared = z.infer<typeof Prepared>;

/**
 * Fetch what `peer` serves of `name` (docs/design.md, "The restore pipeline"). `sha256` and `size`: what the snapshot
 * is, when the coordinator knows it before it arrives (a manifest's); the copy is refused unless its sha256 matches.
 */
export const FetchRequest = Step.extend({
  peer: HostPort,
  sha256: Sha256.optional(),
  size: z.number().int().nonnegative().optional(),
});

const MemberState = z.enum(["running", "stopped", "starting", "crashed"]);

export const Preflight = z.object({
  node,
  mode: z.enum(["managed", "external"]),
  member: MemberState,
  tool: z.enum(["etcdutl", "etcdctl"]),
  /** The version of the node's etcd tools (`etcd --version` in the folder the restore tool is taken from). */
  toolVersion: z.string(),
  /** The running member's version (its status); null when it did not answer (stopped, unreachable). */
  memberVersion: z.string().nullable(),
  supportsBumpRevision: z.boolean(),
  dataDir: z.string(),
  dataDirExists: z.boolean(),
  /** A restore is mid-way or failed after the swap on this node. */
  pendingRollback: RollbackRecord.nullable(),
  /** The newest restore that finished here, and whether the data from before it is still on disk. */
  lastRestored: z.object({ ...RollbackRecord.shape, oldDataDirExists: z.boolean() }).nullable(),
  session: SessionInfo.nullable(),
});
export type Preflight = z.infer<typeof Preflight>;

/** What a node's restore work is doing (GET /v1/restore/progress; src/restore/progress.ts). */
export const ProgressPhaseName = z.enum(["download", "extract", "replay", "fetch", "rebuild"]);
export const PhaseProgress = z.object({
  /**
   * download: from S3; extract: decompression and checks; replay: a restore to a point's log (time only); fetch: from
   * a peer; rebuild: the restore tool.
   */
  phase: ProgressPhaseName,
  /** Bytes done; null for a phase measured by time alone (the rebuild). */
  done: z.number().nullable(),
  /** Bytes the phase will have done, when known. */
  total: z.number().nullable(),
  /** Bytes per second since the phase began (0 until bytes moved). */
  rate: z.number(),
  startedAt: z.string(),
  /** Set once the phase ended, with whether it succeeded. */
  endedAt: z.string().nullable(),
  ok: z.boolean().nullable(),
});
export type PhaseProgress = z.infer<typeof PhaseProgress>;
export const RestoreProgress = z.object({
  node,
  /** The open session the phases belong to; null (and no phases) when none is open. */
  session: z.string().nullable(),
  phases: z.array(PhaseProgress),
});
export type RestoreProgress = z.infer<typeof RestoreProgress>;

export const ApplyRequest = Step.extend({
  sha256: Sha256,
  initialCluster: z.string().min(1).max(65_536),
  initialClusterToken: z.string().regex(/^[0-9A-Za-z._-]{1,200}$/),
  bumpRevision: z.number().int().min(0).default(0),
  stamp: Stamp,
});
export const Applied = z.object({ node, ...RollbackRecord.shape });

/** `stamp`: undo that successful restore (its `restored-<stamp>.json`) when no restore is pending. */
export const RollbackRequest = SessionRef.extend({ stamp: Stamp.optional() });
export const RolledBack = z.object({
  node,
  restored: z.boolean(),
  /** Why nothing was put back. */
  reason: z.string().optional(),
  record: RollbackRecord.optional(),
});

export const HookResult = z.object({ command: z.string(), code: z.number().nullable(), output: z.string() });
export const Finished = z.object({ node, hooks: z.array(HookResult) });

export const VerifyReport = z.object({
  revision: z.number(),
  keys: z.number(),
  /** etcd's hash of the snapshot's key-value data (`snapshot status`). */
  hash: z.number(),
  /** Key revisions stored in the snapshot (etcd's `snapshot status` totalKey). */
  storedRevisions: z.number(),
  totalSize: z.number(),
  etcdVersion: z.string(),
  /** What was compared: the revision always; the key count and HashKV when the manifest recorded them. */
  checked: z.array(z.enum(["revision", "keys", "hash"])),
  /** The restored member's HashKV at the snapshot's revision (when the manifest recorded one to compare with). */
  hashKV: z.number().optional(),
  /** Why a recorded value was not compared (e.g. the hash of another compaction). */
  note: z.string().optional(),
  /** The throwaway member answered, and what was checked matches. */
  ok: z.boolean(),
  reason: z.string().optional(),
});
export type VerifyReport = z.infer<typeof VerifyReport>;
export const Verified = z.object({ node, ...VerifyReport.shape });

export const LeftoverKind = z.enum([
  /** `<dataDir>.old-<stamp>`: the data from before a restore. */
  "old-data",
  /** `<dataDir>.failed-<stamp>`: a restored directory that was rolled back. */
  "failed-data",
  /** `<dataDir>.restore-<stamp>`: a rebuild that never swapped in. */
  "staging",
  /** `<restoreDir>/<name>`: an extracted snapshot, a full copy of the database. */
  "snapshot",
  /** `<restoreDir>/download/`: archives fetched from S3. */
  "download",
  /** `<restoreDir>/verify-*`: a snapshot-verify's throwaway etcd. */
  "verify",
  /** `<restoreDir>/.<file>.<hex>.part`: an interrupted write. */
  "partial",
  /** `<restoreDir>/restored-<stamp>.json`: the retired rollback record of a restore that succeeded. */
  "record",
  /** Anything else in the restore directory: listed, never removed. */
  "unknown",
]);

export const LeftoverEntry = z.object({
  path: z.string(),
  kind: LeftoverKind,
  /** Bytes, counted without following symbolic links. */
  size: z.number(),
  modified: z.string(),
  /** The restore stamp in the name, e.g. 20261127T101502Z. */
  stamp: z.string().optional(),
  /** Symbolic links are never followed and never removed (the data may live on another disk). */
  symlink: z.boolean().optional(),
});

const dirs = { dataDir: z.string(), restoreDir: z.string() };

export const LeftoverListing = z.object({
  ...dirs,
  entries: z.array(LeftoverEntry),
  /** rollback.json is there: a restore is mid-way or awaiting rollback (`error` when it does not parse). */
  pendingRollback: z
    .object({ name: z.string().optional(), stamp: z.string().optional(), error: z.string().optional() })
    .nullable(),
});
export const Leftovers = z.object({ node, busy: z.string().nullable(), ...LeftoverListing.shape });

export const CleanupItem = z.object({
  ...LeftoverEntry.shape,
  ageSeconds: z.number(),
  action: z.enum(["keep", "remove"]),
  reason: z.string(),
});

export const CleanupPlan = z.object({
  ...dirs,
  keep: z.number(),
  now: z.string(),
  /** Why nothing at all is removed on this node. */
  refused: z.string().optional(),
  items: z.array(CleanupItem),
});

export const CleanupResult = z.object({
  removed: z.array(z.string()),
  failed: z.array(z.object({ path: z.string(), error: z.string() })),
});

export const CleanupRequest = z.object({
  /** How many old data directories (and restore records) to keep, newest first. */
  keep: z.number().int().min(0).max(10_000),
  /** Plan only: nothing is removed. */
  dryRun: z.boolean(),
});
export type CleanupRequest = z.infer<typeof CleanupRequest>;

export const CleanupResponse = z.object({
  node,
  dryRun: z.boolean(),
  plan: CleanupPlan,
  /** Absent on a dry run and when refused. */
  result: CleanupResult.optional(),
});
export type CleanupResponse = z.infer<typeof CleanupResponse>;
