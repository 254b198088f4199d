/**
 * Loads cluster.yml: RKE's schema plus Lifeboat's `lifeboat:` keys, into a normalized `ClusterConfig`. Every problem
 * is collected and thrown at once as a `ConfigError` whose issues name the exact key path; unknown keys are warnings.
 */
import { open } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import type { z } from "zod";
import { ConfigError } from "../util/errors.js";
import { resolveBackup } from "./backup.js";
import { resolveLifeboat } from "./lifeboat-settings.js";
import { resolveEtcdNodes, resolveNodes } from "./nodes.js";
import { formatPath, issueMessage, newReport } from "./report.js";
import type { Report } from "./report.js";
import { ClusterYmlSchema } from "./schema.js";
import { resolveSsh } from "./ssh.js";
import type { ClusterConfig, LoadedConfig } from "./types.js";
import { unknownKeys } from "./unknown-keys.js";
import { configTooLarge, MAX_CONFIG_BYTES, parseYamlText } from "./yaml-source.js";

export type * from "./types.js";
export { applyS3Flags } from "./s3-flags.js";
export type { S3Flags } from "./s3-flags.js";
export { missingEtcdControl } from "./nodes.js";

/** Reads and parses the cluster config at `path`; messages name the file as given. Throws ConfigError. */
export async function loadClusterConfig(path: string): Promise<LoadedConfig> {
  let text: string;
  try {
    text = await readBounded(path);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError([{ path: "", message: `cannot read ${path}: ${(err as Error).message}` }], path);
  }
  return parseClusterConfig(text, path);
}

/** Reads at most one byte past the limit, so that a huge file (or a device) is refused without being read whole. */
async function readBounded(path: string): Promise<string> {
  const handle = await open(path, "r");
  try {
    const { size } = await handle.stat();
    if (size > MAX_CONFIG_BYTES) throw configTooLarge(path, size);
    const buffer = Buffer.alloc(MAX_CONFIG_BYTES + 1);
    let length = 0;
    while (length < buffer.length) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    if (length > MAX_CONFIG_BYTES) throw configTooLarge(path);
    return buffer.toString("utf8", 0, length);
  } finally {
    await handle.close();
  }
}

/** Parses cluster.yml text. Throws ConfigError listing every issue; unknown keys only produce warnings. */
export function parseClusterConfig(text: string, fileName: string): LoadedConfig {
  const doc = parseYamlText(text, fileName);
  if (!isRecord(doc)) {
    throw new ConfigError([{ path: fileName, message: "the top level must be a mapping of keys" }], fileName);
  }
  const report = newReport();
  // One push per key: spreading 100,000 of them into push() would overflow the call stack.
  for (const key of unknownKeys(ClusterYmlSchema, doc)) report.warnings.push(`unknown key ${key} (ignored)`);
  const input = dropNulls(doc) as Record<string, unknown>;
  const { shape } = ClusterYmlSchema;
  const nodes = part(shape.nodes, input, "nodes", report);
  const services = part(shape.services, input, "services", report);
  const lifeboatRaw = part(shape.lifeboat, input, "lifeboat", report);
  const clusterName = part(shape.cluster_name, input, "cluster_name", report);
  const sshTop = {
    ssh_key_path: part(shape.ssh_key_path, input, "ssh_key_path", report),
    ssh_cert_path: part(shape.ssh_cert_path, input, "ssh_cert_path", report),
    ssh_agent_auth: part(shape.ssh_agent_auth, input, "ssh_agent_auth", report),
    bastion_host: part(shape.bastion_host, input, "bastion_host", report),
  };

  const lifeboat = resolveLifeboat(lifeboatRaw.ok ? lifeboatRaw.value : undefined, report);
  const summaries = nodes.ok ? resolveNodes(nodes.value, report) : [];
  const topPreset = lifeboatRaw.ok ? lifeboatRaw.value?.etcd?.preset : undefined;
  const etcdNodes = nodes.ok ? resolveEtcdNodes(nodes.value, summaries, report, topPreset) : [];
  const ssh = nodes.ok ? resolveSsh(nodes.value, summaries, valuesOf(sshTop), report.warnings) : [];
  if (lifeboat.quotaBackendBytes !== undefined) {
    const external = etcdNodes.filter((n) => n.etcd.mode !== "managed").map((n) => n.memberName);
    if (external.length)
      report.warnings.push(
        `lifeboat.etcd.quota_backend_bytes: applies only to members Lifeboat runs (mode: managed); ` +
          `set etcd's --quota-backend-bytes yourself on ${external.join(", ")}`,
      );
  }
  const backup = resolveBackup(services.ok ? services.value?.etcd : undefined, lifeboat.s3, report);
  if (report.issues.length > 0) throw new ConfigError(report.issues, fileName);
  const config: ClusterConfig = { nodes: summaries, etcdNodes, ssh, backup, lifeboat, raw: doc };
  if (clusterName.ok && clusterName.value) config.clusterName = clusterName.value;
  return { config, warnings: report.warnings, path: fileName };
}

/**
 * RKE's state file path for a config path: same directory, extension replaced by `.rkestate`
 * (`cluster.yml` -> `cluster.rkestate`, `rancher-cluster.yml` -> `rancher-cluster.rkestate`).
 */
export function statePathFor(configPath: string): string {
  const base = basename(configPath);
  const dot = base.lastIndexOf(".");
  const stem = dot >= 0 ? base.slice(0, dot) : base;
  return join(dirname(configPath), `${stem}.rkestate`);
}

type PartResult<T> = { ok: true; value: T } | { ok: false };

/** Parses one top-level key on its own, so that an error in one part still lets the others be checked. */
function part<S extends z.ZodType>(
  schema: S,
  input: Record<string, unknown>,
  key: string,
  report: Report,
): PartResult<z.output<S>> {
  const result = schema.safeParse(input[key], { error: issueMessage });
  if (result.success) return { ok: true, value: result.data };
  for (const issue of result.error.issues) {
    report.issues.push({ path: formatPath([key, ...issue.path]), message: issue.message });
  }
  return { ok: false };
}

/** The parsed values of parts that parsed (the others are already issues). */
function valuesOf<T extends Record<string, PartResult<unknown>>>(
  parts: T,
): { [K in keyof T]?: T[K] extends PartResult<infer V> ? V : never } {
  const out: Record<string, unknown> = {};
  for (const [key, result] of Object.entries(parts)) if (result.ok) out[key] = result.value;
  return out as { [K in keyof T]?: T[K] extends PartResult<infer V> ? V : never };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** YAML `key:` with no value means "not set" for RKE (a nil pointer); drop such keys before validation. */
function dropNulls(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(dropNulls);
  if (!isRecord(value)) return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([, v]) => v !== null)
      .map(([k, v]) => [k, dropNulls(v)]),
  );
}
