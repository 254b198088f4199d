/**
 * RKE's `--s3` flags: with `--s3`, the S3 target is built from the flags alone and REPLACES any `s3backupconfig` from
 * cluster.yml; a missing `backup_config` is created with its defaults (12 h, 6, 300 s), as RKE does. Unlike RKE, an
 * unreadable `--s3-endpoint-ca` file is an error rather than a silently dropped CA.
 */
import { readFile } from "node:fs/promises";
import { ConfigError } from "../util/errors.js";
import { backupConfigPolicy, caPEM, resolveS3 } from "./backup.js";
import { newReport } from "./report.js";
import type { Report } from "./report.js";
import type { RawS3BackupConfig } from "./schema.js";
import type { ClusterConfig } from "./types.js";

/** The S3 flags of `snapshot-save` / `snapshot-restore`, as RKE names them. */
export type S3Flags = {
  s3?: boolean;
  accessKey?: string;
  secretKey?: string;
  bucketName?: string;
  region?: string;
  /** Default `s3.amazonaws.com`. */
  s3Endpoint?: string;
  /** A file PATH on this machine holding the endpoint's CA (PEM). */
  s3EndpointCa?: string;
  folder?: string;
};

export const DEFAULT_S3_ENDPOINT = "s3.amazonaws.com";

const FLAG: Record<keyof RawS3BackupConfig, string> = {
  access_key: "--access-key",
  secret_key: "--secret-key",
  bucket_name: "--bucket-name",
  region: "--region",
  endpoint: "--s3-endpoint",
  custom_ca: "--s3-endpoint-ca",
  folder: "--folder",
};

const FLAG_OF_OPTION: Record<Exclude<keyof S3Flags, "s3">, string> = {
  accessKey: "--access-key",
  secretKey: "--secret-key",
  bucketName: "--bucket-name",
  region: "--region",
  s3Endpoint: "--s3-endpoint",
  s3EndpointCa: "--s3-endpoint-ca",
  folder: "--folder",
};

/** Returns `config` with the flags applied (unchanged without `--s3`). Throws ConfigError naming the flag. */
export async function applyS3Flags(config: ClusterConfig, flags: S3Flags): Promise<ClusterConfig> {
  if (!flags.s3) {
    const stray = (Object.keys(FLAG_OF_OPTION) as (keyof typeof FLAG_OF_OPTION)[]).filter(
      (k) => flags[k] !== undefined,
    );
    if (stray.length === 0) return config;
    throw new ConfigError(stray.map((k) => ({ path: FLAG_OF_OPTION[k], message: "only takes effect with --s3" })));
  }
  const report = newReport();
  if (!flags.bucketName) report.issues.push({ path: "--bucket-name", message: "required with --s3" });
  const ca = flags.s3EndpointCa ? await readCa(flags.s3EndpointCa, report) : undefined;
  const raw: RawS3BackupConfig = {
    bucket_name: flags.bucketName ?? "",
    endpoint: flags.s3Endpoint || DEFAULT_S3_ENDPOINT,
    ...defined({
      access_key: flags.accessKey,
      secret_key: flags.secretKey,
      region: flags.region,
      folder: flags.folder,
    }),
    ...(ca ? { custom_ca: ca } : {}),
  };
  const s3 = resolveS3(raw, config.lifeboat.s3, (k) => FLAG[k], report);
  if (report.issues.length > 0) throw new ConfigError(report.issues);
  const policy = config.backup.source === "legacy" ? backupConfigPolicy({}, config.backup.recurring) : config.backup;
  return { ...config, backup: { ...policy, s3 } };
}

async function readCa(path: string, report: Report): Promise<string | undefined> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    report.issues.push({ path: "--s3-endpoint-ca", message: `cannot read ${path}: ${(err as Error).message}` });
    return undefined;
  }
  const parsed = caPEM(text);
  if (parsed.ok) return parsed.pem;
  report.issues.push({ path: "--s3-endpoint-ca", message: `${path}: ${parsed.message}` });
  return undefined;
}

function defined<T extends Record<string, string | undefined>>(fields: T): { [K in keyof T]?: string } {
  const out: { [K in keyof T]?: string } = {};
  for (const [k, v] of Object.entries(fields)) if (v !== undefined) out[k as keyof T] = v;
  return out;
}
