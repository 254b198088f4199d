/**
 * The normalized, fully defaulted cluster configuration that the rest of Lifeboat reads. Every default and every
 * RKE precedence rule has already been applied: consumers never look at the raw cluster.yml keys.
 */
import type { IdentitySource } from "../crypto/age.js";
import type { PassphraseSource } from "../crypto/passphrase.js";
import type { S3Settings } from "./s3-settings.js";
import type { Role } from "./schema.js";
import type { NodeSsh } from "./ssh.js";

export type { Role };
export type { NodeSsh, SshEndpoint } from "./ssh.js";

/** Every node of cluster.yml, in file order (including nodes without the etcd role). */
export type NodeSummary = {
  /** Position in cluster.yml's `nodes` list, for messages (`nodes[2]`). */
  index: number;
  address: string;
  internalAddress?: string;
  /** Lower-cased, as RKE does; absent when cluster.yml has none. */
  hostnameOverride?: string;
  roles: Role[];
};

/** How the node's etcd process is started and stopped around a restore. */
export type EtcdControl =
  /** Lifeboat's agent runs etcd itself, with the tools from `toolsDir` (see src/etcd/binaries.ts for the default). */
  | { mode: "managed"; toolsDir?: string }
  /**
   * Something else runs etcd (RKE's `etcd` container, systemd). Restore needs both commands; they are optional at
   * load time so that a plain RKE cluster.yml loads for snapshots. `missingEtcdControl` lists the gaps.
   * `statusCommand` exits 0 while the member runs (default: a TCP probe of the client URL). `toolsDir` holds the
   * etcdutl/etcdctl that restores use.
   */
  | { mode: "external"; startCommand?: string; stopCommand?: string; statusCommand?: string; toolsDir?: string };

/** A known layout (`lifeboat.etcd.preset`): `rke` is RKE's Docker etcd (nodes.ts `RKE_PRESET`). */
export type EtcdPreset = "rke";

/**
 * `systemd`: a `lifeboat-agent.service` unit; `plain`: started detached with a pid file (hosts without systemd).
 * `root` prefixes every installed path ("/" on a real node; a temp directory in tests).
 */
export type InstallSettings = { mode: "systemd" | "plain"; root: string };

/** One etcd member, resolved: identity as RKE derives it plus where its agent listens and keeps files. */
export type EtcdNode = NodeSummary & {
  /** `internal_address || address`: the address etcd peers and clients use (RKE's rule). */
  ip: string;
  /** `etcd-<hostname_override || address>` (RKE's rule) unless `lifeboat.member_name` is set. */
  memberName: string;
  clientUrl: string;
  peerUrl: string;
  agent: { host: string; port: number; endpoint: string };
  snapshotDir: string;
  restoreDir: string;
  dataDir: string;
  etcd: EtcdControl;
  postRestore: string[];
  /** How `lifeboat agent install` runs the agent here (`lifeboat.install`). */
  install: InstallSettings;
  /** The RKE state file name of this member's etcd certificate, `kube-etcd-<ip with dots as dashes>`. */
  etcdCertName: string;
  /** The state file name of the client certificate the agent presents to etcd: `kube-node`, or with RKE's preset
   * the member's own `kube-etcd-<ip>` (as RKE's etcd container sets for its etcdctl). */
  etcdClientCertName: string;
  /** The node's preset (its own, else the top-level one). */
  preset?: EtcdPreset;
};

export type S3Addressing = NonNullable<S3Settings["addressing"]>;

/** The snapshot policy after RKE's precedence: `backup_config` wins over `creation`/`retention` when present. */
export type BackupPolicy = {
  /** `backup_config` when present in cluster.yml (or created by `--s3`), otherwise the legacy duration keys. */
  source: "backup_config" | "legacy";
  /** Recurring snapshots run when `services.etcd.snapshot` (default true) or `backup_config.enabled === true`. */
  recurring: boolean;
  /** Time between recurring snapshots. */
  intervalMs: number;
  /** Only with backup_config. */
  intervalHours?: number;
  /** Only with backup_config: RKE's snapshot count, turned into an age window below. */
  retentionCount?: number;
  /** Snapshots older than this are pruned: `retention × interval_hours` hours, or the legacy `retention` duration. */
  retentionWindowMs: number;
  /** How long one snapshot or restore step may take (`backup_config.timeout`, <= 0 or absent => 300). */
  timeoutSeconds: number;
  /** Rancher-only naming option, kept for completeness; RKE ignores it. */
  safeTimestamp: boolean;
  /** `backup_config.enabled` as written. */
  enabled?: boolean;
  /**
   * Where snapshots go in S3, merged from `s3backupconfig` (or `--s3` flags) and `lifeboat.s3`: the store's own
   * settings (`endpoint` with its scheme, https unless written with `http://`; `folder` as written; both keys absent
   * => the SDK's default credential chain, as rke-tools does), passed to agents and stores as they are.
   */
  s3?: S3Settings;
};

/** Lifeboat's cluster-wide settings (top-level `lifeboat:`), defaulted. */
export type LifeboatSettings = {
  clusterId?: string;
  /** Files on each node for the agent's client connection to etcd; absent => kube-ca/kube-node from the state file. */
  etcdTls?: { caFile: string; certFile: string; keyFile: string };
  /** `lifeboat.etcd.quota_backend_bytes`: etcd's backend quota for managed members; absent: etcd's default (2 GiB). */
  quotaBackendBytes?: number;
  s3: { addressing: S3Addressing; proxy?: string; sessionToken?: string };
  snapshot: {
    retries: number;
    retryPauseSeconds: number;
    compression: "deflate" | "none";
    level?: number;
    /** Deflate threads on each node (`compression_threads`); absent: the agent's default. */
    threads?: number;
  };
  /** A cron expression (UTC) or a fixed interval (Go duration, e.g. `30m`: below an hour for a tight RPO). */
  schedule?: { cron: string } | { intervalMs: number };
  /**
   * `lifeboat.schedule.stale_after`: a location whose newest good snapshot is older is stale (src/schedule/freshness.ts);
   * null for `off`; absent: twice the schedule's period.
   */
  staleAfterMs?: number | null;
  /**
   * `lifeboat.schedule.verify`: a scheduled restore of the newest snapshot into a throwaway etcd, every `everyMs` or
   * after every `afterSnapshots`-th recurring snapshot (src/schedule/verify.ts).
   */
  verify?: VerifyEvery;
  /** `lifeboat.continuous` when enabled: the revision log's interval and segment size bound (src/pitr/writer.ts). */
  continuous?: { intervalMs: number; maxSegmentBytes: number };
  notifications?: { webhookUrl: string; headers: Record<string, string>; onSuccess: boolean };
  /** `lifeboat.encryption`: the recipients every S3 copy (and with `local` every node copy) is encrypted to. */
  encryption?: EncryptionSettings;
};

export type VerifyEvery = { everyMs: number } | { afterSnapshots: number };

/** Recipients are public keys; `identity` says where the private key is found (never the key itself). */
export type EncryptionSettings = {
  recipients: string[];
  local: boolean;
  /**
   * `identity_file` (a path on every node and on the CLI's host) or `identity_env` (a variable's name), and the
   * break-glass passphrase when one is configured (`any` of both).
   */
  identity?: IdentitySource;
  /** `passphrase_file` or `passphrase_env`: its derived recipient is added to `recipients` (withBreakGlass). */
  passphrase?: PassphraseSource;
};

export type ClusterConfig = {
  clusterName?: string;
  nodes: NodeSummary[];
  /** Nodes with the etcd role, in cluster.yml order (RKE's order matters for restore). */
  etcdNodes: EtcdNode[];
  /** How every node (same order as `nodes`) is reached over SSH. `privateKey` fields are secrets: never print them. */
  ssh: NodeSsh[];
  backup: BackupPolicy;
  lifeboat: LifeboatSettings;
  /** The parsed cluster.yml exactly as written (for the state file's rkeConfig). Holds secrets: never print it. */
  raw: Record<string, unknown>;
};

export type LoadedConfig = { config: ClusterConfig; warnings: string[]; path: string };

export type ConfigIssue = { path: string; message: string };
