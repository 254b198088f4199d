/**
 * The agent's own configuration: `agent.json` in the agent's directory, written by `lifeboat cert node`
 * (or by the sandbox) from cluster.yml and the state file. Paths are relative to that directory.
 */
import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { z } from "zod";
import { readJsonFile } from "../config/json-file.js";
import { ConfigError } from "../util/errors.js";
import type { TlsFiles } from "./http.js";

const TlsPaths = z.object({ ca: z.string(), cert: z.string(), key: z.string() });

export const AgentConfigSchema = z.object({
  version: z.literal(1),
  /** The etcd member name this agent serves (RKE: `etcd-<hostname_override>`). */
  node: z.string().min(1),
  /** host:port the agent listens on (mutual TLS). */
  listen: z.string().min(3),
  tls: TlsPaths,
  snapshotDir: z.string(),
  restoreDir: z.string(),
  etcd: z.object({
    clientUrl: z.string().url(),
    peerUrl: z.string().url(),
    dataDir: z.string(),
    /** Client TLS for talking to the member (kube-ca + kube-node; with RKE's preset the member's kube-etcd-<ip>). */
    tls: TlsPaths.optional(),
    mode: z.enum(["managed", "external"]),
    /**
     * cluster.yml's `lifeboat.etcd.tools_dir`: the only place the etcd tools are looked for when set (otherwise
     * src/etcd/binaries.ts: LIFEBOAT_ETCD_DIR, etcd-tools/ beside the single executable, PATH).
     */
    toolsDir: z.string().optional(),
    managed: z
      .object({
        /** An older agent.json's tools folder: read as `etcd.toolsDir`. */
        binaryDir: z.string().optional(),
        initialCluster: z.string(),
        initialClusterToken: z.string(),
        initialClusterState: z.enum(["new", "existing"]).default("new"),
        /** Server and peer certificate of the member (RKE: kube-etcd-<ip>). */
        serverTls: TlsPaths.optional(),
        logFile: z.string(),
        /** etcd's --quota-backend-bytes (cluster.yml's lifeboat.etcd.quota_backend_bytes). */
        quotaBackendBytes: z.number().int().positive().optional(),
      })
      .optional(),
    external: z
      .object({
        /** Empty when cluster.yml sets none: snapshots work, start/stop (and so restore) are refused. */
        startCommand: z.string(),
        stopCommand: z.string(),
        /** Exits 0 while the member runs; default: a TCP probe of the client URL. */
        statusCommand: z.string().optional(),
        /** An older agent.json's tools folder: read as `etcd.toolsDir`. */
        binaryDir: z.string().optional(),
      })
      .optional(),
  }),
  /** Shell commands run after a restore on this node (e.g. restart the API server). */
  postRestore: z.array(z.string()).default([]),
});

export type AgentConfig = z.infer<typeof AgentConfigSchema> & { dir: string };

export async function loadAgentConfig(dir: string): Promise<AgentConfig> {
  const path = resolve(dir, "agent.json");
  const config = await readJsonFile(path, AgentConfigSchema);
  if (!config) throw new ConfigError([{ path: "", message: `cannot read ${path}: no such file` }], path);
  const { etcd } = config;
  const toolsDir = etcd.toolsDir ?? etcd.managed?.binaryDir ?? etcd.external?.binaryDir;
  return { ...config, etcd: { ...etcd, ...(toolsDir ? { toolsDir } : {}) }, dir: dirname(path) };
}

/** Reads a TLS triple whose paths are relative to the agent directory. */
export async function readTls(dir: string, paths: z.infer<typeof TlsPaths>): Promise<TlsFiles> {
  const [caPEM, certPEM, keyPEM] = await Promise.all(
    [paths.ca, paths.cert, paths.key].map((p) => readFile(resolve(dir, p), "utf8")),
  );
  return { caPEM: caPEM ?? "", certPEM: certPEM ?? "", keyPEM: keyPEM ?? "" };
}
