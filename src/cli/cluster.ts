/**
 * Opening a cluster for a command: load and validate cluster.yml, read the state file (issuing the cluster PKI on
 * first use), and build one mutual-TLS client per etcd node's agent.
 */
import { AgentClient } from "../agent/client.js";
import { loadClusterConfig, statePathFor, type ClusterConfig, type EtcdNode } from "../config/cluster.js";
import { CA_CERT_NAME, CLI_CERT_NAME, ensureClusterPki, lookupCert, readState, writeState } from "../config/state.js";
import type { ClusterState } from "../config/state.js";
import { UserError } from "../util/errors.js";
import type { Output } from "./output.js";

export interface OpenCluster {
  configPath: string;
  statePath: string;
  config: ClusterConfig;
  state: ClusterState;
  agents: { node: EtcdNode; client: AgentClient }[];
  close(): void;
}

/** The default config path: `--config`, else $RKE_CONFIG (RKE's variable), else ./cluster.yml. */
export function defaultConfigPath(): string {
  return process.env.RKE_CONFIG ?? "cluster.yml";
}

export async function loadConfigAndState(
  configPath: string,
  out: Output,
): Promise<{ config: ClusterConfig; state: ClusterState; statePath: string }> {
  const loaded = await loadClusterConfig(configPath);
  for (const w of loaded.warnings) out.note(`warning: ${w}`);
  const statePath = statePathFor(configPath);
  const existing = await readState(statePath);
  const pki = await ensureClusterPki(existing, loaded.config);
  for (const w of pki.warnings) out.note(`warning: ${w}`);
  if (!existing && hasExternalMembers(loaded.config)) {
    out.note(
      `warning: there was no state file at ${statePath}, so a new cluster CA (kube-ca) was created. If RKE built this cluster, ` +
        "put its cluster.rkestate back first (rke util get-state-file): RKE would otherwise roll this new CA out.",
    );
  }
  if (pki.changes.length) {
    await writeState(statePath, pki.state);
    out.note(`state file ${statePath}: ${pki.changes.map((c) => `${c.action} ${c.name}`).join(", ")}`);
  }
  return { config: loaded.config, state: pki.state, statePath };
}

function hasExternalMembers(config: ClusterConfig): boolean {
  return config.etcdNodes.some((n) => n.etcd.mode === "external");
}

export async function openCluster(configPath: string, out: Output, timeoutMs = 30_000): Promise<OpenCluster> {
  const { config, state, statePath } = await loadConfigAndState(configPath, out);
  const tls = cliTls(state);
  const agents = config.etcdNodes.map((node) => ({
    node,
    client: new AgentClient({ endpoint: node.agent.endpoint, tls, timeoutMs }),
  }));
  return {
    configPath,
    statePath,
    config,
    state,
    agents,
    close: () => agents.forEach((a) => a.client.close()),
  };
}

export function cliTls(state: ClusterState): { caPEM: string; certPEM: string; keyPEM: string } {
  const ca = lookupCert(state, CA_CERT_NAME);
  const cli = lookupCert(state, CLI_CERT_NAME);
  if (!ca || !cli?.keyPEM) throw new UserError(`the state file lacks "${CA_CERT_NAME}" or "${CLI_CERT_NAME}"`);
  return { caPEM: ca.certificatePEM, certPEM: cli.certificatePEM, keyPEM: cli.keyPEM };
}
