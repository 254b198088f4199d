/**
 * The cluster.yml schema as written by users: RKE's keys (snake_case, as RKE's yaml tags spell them) plus Lifeboat's
 * own `lifeboat:` blocks. These schemas only check shapes and types; defaults, precedence and cross-field rules live
 * in normalize.ts so that every rule has one place.
 */
import { MAX_QUOTA_BYTES, MIN_QUOTA_BYTES, QUOTA_RULE } from "./quota.js";
import { z } from "zod";
import { parseGoDuration } from "../util/duration.js";

/**
 * A scalar read as text. Go's yaml.v2 stores an unquoted `12345` into a string field as "12345", so numbers and
 * booleans are accepted and stringified the same way.
 */
const text = z
  .union([z.string(), z.number(), z.boolean()], {
    error: (iss) => (iss.input === undefined ? "required" : "must be a string"),
  })
  .transform(String);

const nonEmptyText = text.pipe(z.string().min(1, { error: "must not be empty" }));

const whole = (min: number, what = "") => {
  const message = `must be a whole number >= ${min}${what}`;
  return z.int({ error: message }).min(min, { error: message });
};

const goDuration = z.string({ error: "must be a Go duration string such as 72h or 1h30m" }).check(
  z.superRefine((value, ctx) => {
    const parsed = parseGoDuration(value);
    if (!parsed.ok) ctx.addIssue({ code: "custom", message: parsed.message, input: value });
    else if (parsed.ms <= 0) ctx.addIssue({ code: "custom", message: "must be a positive duration", input: value });
  }),
);

const QUOTA_MESSAGE = `must be ${QUOTA_RULE}`;

/** Accepted for RKE compatibility and otherwise ignored; its content is not checked. */
const ignored = z.unknown().optional();

const s3Config = (keyName: string) => {
  const required = `required when ${keyName} is set`;
  const requiredText = z
    .union([z.string(), z.number()], { error: (iss) => (iss.input === undefined ? required : "must be a string") })
    .transform(String)
    .pipe(z.string().min(1, { error: required }));
  return z.object({
    access_key: text.optional(),
    secret_key: text.optional(),
    bucket_name: requiredText,
    region: text.optional(),
    endpoint: requiredText,
    custom_ca: text.optional(),
    folder: text.optional(),
  });
};

export const S3BackupConfigSchema = s3Config("s3backupconfig");

export const BackupConfigSchema = z.object({
  enabled: z.boolean().optional(),
  interval_hours: whole(1).optional(),
  retention: whole(1).optional(),
  safe_timestamp: z.boolean().optional(),
  timeout: z.int({ error: "must be a whole number of seconds" }).optional(),
  s3backupconfig: S3BackupConfigSchema.optional(),
  s3_backup_config: s3Config("s3_backup_config").optional(),
});

export const EtcdServiceSchema = z.object({
  image: ignored,
  extra_args: ignored,
  extra_args_array: ignored,
  extra_binds: ignored,
  extra_env: ignored,
  win_extra_args: ignored,
  win_extra_args_array: ignored,
  win_extra_binds: ignored,
  win_extra_env: ignored,
  external_urls: ignored,
  ca_cert: ignored,
  cert: ignored,
  key: ignored,
  path: ignored,
  uid: ignored,
  gid: ignored,
  snapshot: z.boolean().optional(),
  creation: goDuration.optional(),
  retention: goDuration.optional(),
  backup_config: BackupConfigSchema.optional(),
});

export const ServicesSchema = z.object({
  etcd: EtcdServiceSchema.optional(),
  "kube-api": ignored,
  "kube-controller": ignored,
  scheduler: ignored,
  kubelet: ignored,
  kubeproxy: ignored,
});

export const ROLES = ["etcd", "controlplane", "worker"] as const;
export type Role = (typeof ROLES)[number];

/** `lifeboat.etcd.preset`: a known layout whose keys a node gets unless it sets them itself (nodes.ts). */
const preset = z.enum(["rke"], { error: "must be rke" });

export const NodeLifeboatSchema = z.object({
  agent: text.optional(),
  client_url: text.optional(),
  peer_url: text.optional(),
  member_name: nonEmptyText.optional(),
  snapshot_dir: text.optional(),
  restore_dir: text.optional(),
  data_dir: text.optional(),
  etcd: z
    .object({
      preset: preset.optional(),
      mode: z.enum(["managed", "external"], { error: "must be one of managed, external" }).optional(),
      start_command: nonEmptyText.optional(),
      stop_command: nonEmptyText.optional(),
      status_command: nonEmptyText.optional(),
      tools_dir: text.optional(),
      /** The older name of tools_dir. */
      binary_dir: text.optional(),
    })
    .optional(),
  post_restore: z.array(nonEmptyText, { error: "must be a list of shell commands" }).optional(),
  /** How `lifeboat agent install` puts the agent on this node. */
  install: z
    .object({
      mode: z.enum(["systemd", "plain"], { error: "must be one of systemd, plain" }).optional(),
      root: text.optional(),
    })
    .optional(),
});

/**
 * How RKE reaches a host over SSH (rke:types/rke_types.go `RKEConfigNode` and `BastionHost`). RKE's fields are Go
 * strings, so `port: 22` and `port: "22"` both load; the port is checked when it is used. `ssh_key` holds a private key.
 */
const sshKeys = {
  port: text.optional(),
  user: text.optional(),
  ssh_key: text.optional(),
  ssh_key_path: text.optional(),
  ssh_cert: text.optional(),
  ssh_cert_path: text.optional(),
};

export const BastionHostSchema = z.object({
  address: text.optional(),
  ...sshKeys,
  ssh_agent_auth: ignored,
  ignore_proxy_env_vars: ignored,
});

export const NodeSchema = z.object({
  address: text.pipe(z.string().min(1, { error: "required" })),
  internal_address: text.optional(),
  hostname_override: text.optional(),
  role: z
    .array(z.enum(ROLES, { error: `must be one of ${ROLES.join(", ")}` }), {
      error: (iss) => (iss.input === undefined ? "required" : "must be a list of roles, e.g. [etcd, controlplane]"),
    })
    .min(1, { error: `must list at least one of ${ROLES.join(", ")}` }),
  nodeName: ignored,
  ...sshKeys,
  docker_socket: ignored,
  /** RKE reads only the top-level `ssh_agent_auth` (it overwrites each node's); accepted here and not used. */
  ssh_agent_auth: ignored,
  labels: ignored,
  taints: ignored,
  lifeboat: NodeLifeboatSchema.optional(),
});

export const ClusterLifeboatSchema = z.object({
  cluster_id: nonEmptyText.optional(),
  /** The preset of every etcd node that names none itself. */
  etcd: z
    .object({
      preset: preset.optional(),
      /** etcd's --quota-backend-bytes for the members Lifeboat runs (mode: managed). */
      quota_backend_bytes: z
        .int({ error: QUOTA_MESSAGE })
        .min(MIN_QUOTA_BYTES, { error: QUOTA_MESSAGE })
        .max(MAX_QUOTA_BYTES, { error: QUOTA_MESSAGE })
        .optional(),
    })
    .optional(),
  etcd_tls: z.object({ ca_file: text, cert_file: text, key_file: text }).optional(),
  s3: z
    .object({
      addressing: z.enum(["auto", "path", "virtual"], { error: "must be one of auto, path, virtual" }).optional(),
      proxy: text.optional(),
      session_token: text.optional(),
    })
    .optional(),
  snapshot: z
    .object({
      retries: whole(0).optional(),
      retry_pause_seconds: whole(0).optional(),
      compression: z.enum(["deflate", "none"], { error: "must be one of deflate, none" }).optional(),
      level: z
        .int({ error: "must be a whole number from 0 to 9" })
        .min(0, { error: "must be a whole number from 0 to 9" })
        .max(9, { error: "must be a whole number from 0 to 9" })
        .optional(),
      compression_threads: z
        .int({ error: "must be a whole number from 1 to 16" })
        .min(1, { error: "must be a whole number from 1 to 16" })
        .max(16, { error: "must be a whole number from 1 to 16" })
        .optional(),
    })
    .optional(),
  schedule: z
    .object({
      cron: text.optional(),
      interval: text.optional(),
      stale_after: text.optional(),
      /** The scheduled verify (src/schedule/verify.ts): exactly one of `every` and `after_snapshots`. */
      verify: z.object({ every: text.optional(), after_snapshots: whole(1).optional() }).optional(),
    })
    .optional(),
  /** The continuous revision log in S3 (src/pitr/): on or off, how often a segment is committed, its size bound. */
  continuous: z
    .object({ enabled: z.boolean(), interval: text.optional(), max_segment_bytes: whole(65_536).optional() })
    .optional(),
  /** Encryption at rest with age (config/encryption.ts): public recipients, and where the identity is found. */
  encryption: z
    .object({
      recipients: z.array(text, { error: "must be a list of age recipients (age1…)" }),
      identity_file: text.optional(),
      identity_env: text.optional(),
      passphrase_file: text.optional(),
      passphrase_env: text.optional(),
      encrypt_local: z.boolean().optional(),
    })
    .optional(),
  notifications: z
    .object({
      webhook_url: text,
      headers: z.record(z.string(), text, { error: "must be a mapping of header names to values" }).optional(),
      on_success: z.boolean().optional(),
    })
    .optional(),
});

/**
 * Top-level keys of RKE's `RancherKubernetesEngineConfig` (rke:types/rke_types.go) that Lifeboat does not use. They
 * are accepted silently so that any RKE cluster.yml loads.
 */
export const RKE_OTHER_TOP_LEVEL_KEYS = [
  "network",
  "authentication",
  "addons",
  "addons_include",
  "system_images",
  "authorization",
  "ignore_docker_version",
  "enable_cri_dockerd",
  "kubernetes_version",
  "private_registries",
  "ingress",
  "cloud_provider",
  "prefix_path",
  "win_prefix_path",
  "addon_job_timeout",
  "monitoring",
  "restore",
  "rotate_certificates",
  "rotate_encryption_key",
  "dns",
  "upgrade_strategy",
  "cri_dockerd_stream_server_address",
  "cri_dockerd_stream_server_port",
] as const;

const rkeOtherKeys = Object.fromEntries(RKE_OTHER_TOP_LEVEL_KEYS.map((k) => [k, ignored])) as Record<
  (typeof RKE_OTHER_TOP_LEVEL_KEYS)[number],
  typeof ignored
>;

export const ClusterYmlSchema = z.object({
  nodes: z.array(NodeSchema, {
    error: (iss) => (iss.input === undefined ? "required" : "must be a list of nodes"),
  }),
  services: ServicesSchema.optional(),
  cluster_name: text.optional(),
  lifeboat: ClusterLifeboatSchema.optional(),
  ssh_key_path: text.optional(),
  ssh_cert_path: text.optional(),
  ssh_agent_auth: z.boolean({ error: "must be true or false" }).optional(),
  bastion_host: BastionHostSchema.optional(),
  ...rkeOtherKeys,
});

export type RawClusterYml = z.infer<typeof ClusterYmlSchema>;
export type RawNode = z.infer<typeof NodeSchema>;
export type RawEtcdService = z.infer<typeof EtcdServiceSchema>;
export type RawBackupConfig = z.infer<typeof BackupConfigSchema>;
export type RawS3BackupConfig = z.infer<typeof S3BackupConfigSchema>;
export type RawClusterLifeboat = z.infer<typeof ClusterLifeboatSchema>;
export type RawNodeLifeboat = z.infer<typeof NodeLifeboatSchema>;
export type RawBastionHost = z.infer<typeof BastionHostSchema>;
