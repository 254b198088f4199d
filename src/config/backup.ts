/**
 * RKE's snapshot policy rules (rke:cluster/defaults.go, rke:services/etcd.go): `backup_config` present => its
 * interval/retention (defaults 12 h / 6) and the age window `retention × interval_hours`; absent => the legacy Go
 * durations `creation` (12h) and `retention` (72h). Timeout defaults to 300 s and values <= 0 fall back to it.
 */
import { X509Certificate } from "node:crypto";
import { registerSecret } from "../util/redact.js";
import { parseGoDuration } from "../util/duration.js";
import { parseS3Endpoint } from "./endpoints.js";
import type { Report } from "./report.js";
import type { RawBackupConfig, RawEtcdService, RawS3BackupConfig } from "./schema.js";
import type { S3Settings } from "./s3-settings.js";
import type { BackupPolicy, LifeboatSettings } from "./types.js";

export const DEFAULT_INTERVAL_HOURS = 12;
export const DEFAULT_RETENTION_COUNT = 6;
export const DEFAULT_TIMEOUT_SECONDS = 300;
export const DEFAULT_CREATION = "12h";
export const DEFAULT_RETENTION = "72h";
const HOUR_MS = 3_600_000;
const BC = "services.etcd.backup_config";

/** Builds the effective backup policy from `services.etcd`, reporting conflicts and RKE pitfalls. */
export function resolveBackup(
  etcd: RawEtcdService | undefined,
  s3Settings: LifeboatSettings["s3"],
  report: Report,
): BackupPolicy {
  const snapshot = etcd?.snapshot ?? true;
  const bc = etcd?.backup_config;
  if (!bc) return legacyPolicy(etcd, snapshot);
  for (const key of ["creation", "retention"] as const) {
    if (etcd[key] !== undefined) {
      report.warnings.push(`services.etcd.${key}: ignored because backup_config is set (RKE's precedence)`);
    }
  }
  if (bc.enabled === false && snapshot) {
    report.warnings.push(
      `${BC}.enabled: false does not stop recurring snapshots for RKE; set services.etcd.snapshot: false to stop them`,
    );
  }
  const policy = backupConfigPolicy(bc, snapshot);
  const s3 = fileS3(bc, s3Settings, report);
  return s3 ? { ...policy, s3 } : policy;
}

/** The policy RKE uses when `backup_config` exists (also what `--s3` creates when it was missing). */
export function backupConfigPolicy(bc: RawBackupConfig, snapshot: boolean): BackupPolicy {
  const intervalHours = bc.interval_hours ?? DEFAULT_INTERVAL_HOURS;
  const retentionCount = bc.retention ?? DEFAULT_RETENTION_COUNT;
  return {
    source: "backup_config",
    recurring: snapshot || bc.enabled === true,
    intervalMs: intervalHours * HOUR_MS,
    intervalHours,
    retentionCount,
    retentionWindowMs: retentionCount * intervalHours * HOUR_MS,
    timeoutSeconds: bc.timeout !== undefined && bc.timeout > 0 ? bc.timeout : DEFAULT_TIMEOUT_SECONDS,
    safeTimestamp: bc.safe_timestamp ?? false,
    ...(bc.enabled !== undefined ? { enabled: bc.enabled } : {}),
  };
}

function legacyPolicy(etcd: RawEtcdService | undefined, snapshot: boolean): BackupPolicy {
  return {
    source: "legacy",
    recurring: snapshot,
    intervalMs: durationMs(etcd?.creation ?? DEFAULT_CREATION),
    retentionWindowMs: durationMs(etcd?.retention ?? DEFAULT_RETENTION),
    timeoutSeconds: DEFAULT_TIMEOUT_SECONDS,
    safeTimestamp: false,
  };
}

/** Durations were validated by the schema; an invalid one has already been reported. */
function durationMs(text: string): number {
  const parsed = parseGoDuration(text);
  return parsed.ok ? parsed.ms : 0;
}

function fileS3(bc: RawBackupConfig, settings: LifeboatSettings["s3"], report: Report): S3Settings | undefined {
  if (bc.s3backupconfig && bc.s3_backup_config) {
    report.issues.push({
      path: `${BC}.s3_backup_config`,
      message: "both s3backupconfig and s3_backup_config are set; keep only s3backupconfig",
    });
    return undefined;
  }
  if (bc.s3_backup_config) {
    report.warnings.push(`${BC}.s3_backup_config: read as s3backupconfig (RKE itself ignores this spelling)`);
    return resolveS3(bc.s3_backup_config, settings, (k) => `${BC}.s3_backup_config.${k}`, report);
  }
  if (bc.s3backupconfig) {
    return resolveS3(bc.s3backupconfig, settings, (k) => `${BC}.s3backupconfig.${k}`, report);
  }
  return undefined;
}

/**
 * Validates one S3 target and merges Lifeboat's S3 settings into it. `at` names a key for messages (a key path, or
 * a flag for `--s3`). Credentials are registered as secrets so that they never print.
 */
export function resolveS3(
  raw: RawS3BackupConfig,
  settings: LifeboatSettings["s3"],
  at: (key: keyof RawS3BackupConfig) => string,
  report: Report,
): S3Settings {
  registerSecret(raw.access_key);
  registerSecret(raw.secret_key);
  const endpoint = parseS3Endpoint(raw.endpoint);
  if (!endpoint.ok) report.issues.push({ path: at("endpoint"), message: endpoint.message });
  const ca = raw.custom_ca ? caPEM(raw.custom_ca) : undefined;
  if (ca && !ca.ok) report.issues.push({ path: at("custom_ca"), message: ca.message });
  return {
    endpoint: endpoint.ok ? endpoint.value : raw.endpoint,
    bucket: raw.bucket_name,
    addressing: settings.addressing,
    ...nonEmpty({
      region: raw.region,
      folder: raw.folder,
      accessKey: raw.access_key,
      secretKey: raw.secret_key,
      sessionToken: settings.sessionToken,
      customCaPem: ca?.ok ? ca.pem : undefined,
      proxy: settings.proxy,
    }),
  };
}

/** Accepts PEM text, or base64 of PEM text (the form RKE passes to rke-tools), and checks it parses as X.509. */
export function caPEM(value: string): { ok: true; pem: string } | { ok: false; message: string } {
  const pem = value.includes("-----BEGIN") ? value : Buffer.from(value, "base64").toString("utf8");
  try {
    new X509Certificate(pem);
    return { ok: true, pem };
  } catch (err) {
    return { ok: false, message: `not a valid PEM certificate (${(err as Error).message})` };
  }
}

function nonEmpty<T extends Record<string, string | undefined>>(fields: T): { [K in keyof T]?: string } {
  const out: { [K in keyof T]?: string } = {};
  for (const [k, v] of Object.entries(fields)) if (v !== undefined && v !== "") out[k as keyof T] = v;
  return out;
}
