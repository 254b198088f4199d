/**
 * Writes the folder one agent runs from (`lifeboat agent --dir DIR`): `agent.json` plus the PEM files it needs,
 * derived from cluster.yml and the state file. Private keys are written 0600; the folder 0700.
 */
import { join, posix } from "node:path";
import { nodeCertFiles } from "../config/state.js";
import type { ClusterState } from "../config/state.js";
import type { ClusterConfig, EtcdNode } from "../config/cluster.js";
import { UserError } from "../util/errors.js";
import { writeFileAtomic } from "../util/fs.js";
import { writePemFiles } from "../config/cert-files.js";
import type { z } from "zod";
import type { AgentConfigSchema } from "./config.js";

/** RKE's fixed cluster token (`etcd-cluster-1`); a restore sets a new one. */
export const DEFAULT_CLUSTER_TOKEN = "etcd-cluster-1";

export interface BundleOptions {
  config: ClusterConfig;
  state: ClusterState;
  memberName: string;
  outDir: string;
  /** For managed members: the cluster token and state etcd starts with (defaults: RKE's token, "new"). */
  initialClusterToken?: string;
  initialClusterState?: "new" | "existing";
}

export function findMember(config: ClusterConfig, memberName: string): EtcdNode {
  const node = config.etcdNodes.find((n) => n.memberName === memberName);
  if (!node) {
    const known = config.etcdNodes.map((n) => n.memberName).join(", ");
    throw new UserError(`--node ${memberName}: no etcd member of that name in cluster.yml (known: ${known})`);
  }
  return node;
}

/** RKE's `--initial-cluster`: every etcd member `name=peerURL`, in cluster.yml order. */
export function initialClusterOf(config: ClusterConfig): string {
  return config.etcdNodes.map((n) => `${n.memberName}=${n.peerUrl}`).join(",");
}

/** Writes the folder at `outDir` (0700, every file 0600). */
export async function writeAgentBundle(options: BundleOptions): Promise<string> {
  const files = agentBundleFiles(options);
  const { "agent.json": agentJson, ...pems } = files;
  await writePemFiles(options.outDir, pems);
  await writeFileAtomic(join(options.outDir, "agent.json"), agentJson ?? "", 0o600);
  return options.outDir;
}

/**
 * The folder's files by name, for an agent that will run from `outDir` (on this machine, or on the node when
 * `lifeboat agent install` uploads them): `agent.json` and the PEM files. Holds private keys.
 */
export function agentBundleFiles(options: BundleOptions): Record<string, string> {
  const node = findMember(options.config, options.memberName);
  const certs = nodeCertFiles(options.state, node.memberName, node.etcdCertName, node.etcdClientCertName);
  const files: Record<string, string> = {
    "ca.pem": certs.caPEM,
    "agent.pem": certs.agent.certificatePEM,
    "agent-key.pem": certs.agent.keyPEM,
    "etcd-client.pem": certs.etcdClient.certificatePEM,
    "etcd-client-key.pem": certs.etcdClient.keyPEM,
  };
  if (certs.etcdServer) {
    files["etcd-server.pem"] = certs.etcdServer.certificatePEM;
    files["etcd-server-key.pem"] = certs.etcdServer.keyPEM;
  }
  const secure = node.clientUrl.startsWith("https:");
  const tlsOf = (cert: string, key: string) => ({ ca: "ca.pem", cert, key });
  const agentJson: z.input<typeof AgentConfigSchema> = {
    version: 1,
    node: node.memberName,
    listen: node.agent.endpoint,
    tls: tlsOf("agent.pem", "agent-key.pem"),
    snapshotDir: node.snapshotDir,
    restoreDir: node.restoreDir,
    etcd: {
      clientUrl: node.clientUrl,
      peerUrl: node.peerUrl,
      dataDir: node.dataDir,
      ...(secure ? { tls: tlsOf("etcd-client.pem", "etcd-client-key.pem") } : {}),
      mode: node.etcd.mode,
      ...(node.etcd.toolsDir ? { toolsDir: node.etcd.toolsDir } : {}),
      ...(node.etcd.mode === "managed"
        ? {
            managed: {
              initialCluster: initialClusterOf(options.config),
              initialClusterToken: options.initialClusterToken ?? DEFAULT_CLUSTER_TOKEN,
              initialClusterState: options.initialClusterState ?? "new",
              ...(certs.etcdServer && secure ? { serverTls: tlsOf("etcd-server.pem", "etcd-server-key.pem") } : {}),
              logFile: posix.join(options.outDir, "etcd.log"),
              ...(options.config.lifeboat.quotaBackendBytes !== undefined
                ? { quotaBackendBytes: options.config.lifeboat.quotaBackendBytes }
                : {}),
            },
          }
        : {
            external: {
              startCommand: node.etcd.startCommand ?? "",
              stopCommand: node.etcd.stopCommand ?? "",
              ...(node.etcd.statusCommand ? { statusCommand: node.etcd.statusCommand } : {}),
            },
          }),
    },
    postRestore: node.postRestore,
  };
  return { ...files, "agent.json": JSON.stringify(agentJson, null, 2) + "\n" };
}
