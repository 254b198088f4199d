/**
 * The shape of RKE's `cluster.rkestate` (rke:cluster/state.go) plus Lifeboat's own top-level `lifeboat` object.
 * Every object is loose: fields that Lifeboat does not know are kept so that the file written back is still a valid
 * RKE state file.
 */
import { z } from "zod";

const optionalText = z.string().optional();

/** One entry of `certificatesBundle` (RKE's `CertificatePKI` JSON). */
export const CertEntrySchema = z.looseObject({
  certificatePEM: z.string(),
  keyPEM: optionalText,
  config: optionalText,
  name: optionalText,
  commonName: optionalText,
  ouName: optionalText,
  envName: optionalText,
  path: optionalText,
  keyEnvName: optionalText,
  keyPath: optionalText,
  configEnvName: optionalText,
  configPath: optionalText,
});

export const RkeStateSchema = z.looseObject({
  rkeConfig: z.unknown().optional(),
  certificatesBundle: z.record(z.string(), CertEntrySchema).nullish(),
  encryptionConfig: z.string().nullish(),
});

/**
 * A restore recorded by Lifeboat; the restore code owns the fields beyond these. `clusterId` is etcd's new cluster
 * ID, `previousClusterId` the one before the restore (see lineage.ts for how it is known when no member answered).
 */
export const RestoreRecordSchema = z.looseObject({
  snapshot: optionalText,
  at: optionalText,
  clusterId: optionalText,
  previousClusterId: optionalText,
});

export const LifeboatStateSchema = z.looseObject({
  clusterId: optionalText,
  restores: z.array(RestoreRecordSchema).optional(),
  /** Every cluster ID this cluster has had across restores, oldest first; the last is the newest restore's. */
  lineage: z.array(z.string().min(1)).optional(),
});

export const ClusterStateSchema = z.looseObject({
  desiredState: RkeStateSchema.nullish(),
  currentState: RkeStateSchema.nullish(),
  lifeboat: LifeboatStateSchema.optional(),
});

export type CertEntry = z.infer<typeof CertEntrySchema>;
export type RkeState = z.infer<typeof RkeStateSchema>;
export type RestoreRecord = z.infer<typeof RestoreRecordSchema>;
export type LifeboatState = z.infer<typeof LifeboatStateSchema>;
export type ClusterState = z.infer<typeof ClusterStateSchema>;
