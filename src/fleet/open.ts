/**
 * Opening a cluster: load and validate cluster.yml, read the state file (issuing the cluster PKI on first use), and
 * build one mutual-TLS agent client per etcd node.
 */
import { readFile } from "node:fs/promises";
import { AgentClient } from "../agent/client.js";
import { loadClusterConfig, statePathFor, type ClusterConfig } from "../config/cluster.js";
import { CA_CERT_NAME, CLI_CERT_NAME, ensureClusterPki, lookupCert, readState, writeState } from "../config/state.js";
import type { ClusterState } from "../config/state.js";
import { UserError } from "../util/errors.js";
import { agentNode } from "./agent-node.js";
import type { Fleet, FleetOutput } from "./fleet.js";

export type OpenFleet = (configPath: string, out: Pick<FleetOutput, "note">, timeoutMs?: number) => Promise<Fleet>;

export async function loadConfigAndState(
  configPath: string,
  out: Pick<FleetOutput, "note">,
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

/** Reads the state file as it is on disk, to embed it in snapshots; undefined when there is none. */
export async function readStateFile(fleet: Pick<Fleet, "statePath">): Promise<Buffer | undefined> {
  return readFile(fleet.statePath).catch(() => undefined);
}

/** The cluster of `configPath`, its agents reached with `timeoutMs` per call unless a call says otherwise. */
export const openFleet: OpenFleet = async (configPath, out, timeoutMs = 30_000) => {
  const { config, state, statePath } = await loadConfigAndState(configPath, out);
  const tls = cliTls(state);
  const clients = config.etcdNodes.map((node) => new AgentClient({ endpoint: node.agent.endpoint, tls, timeoutMs }));
  return {
    configPath,
    statePath,
    config,
    state,
    nodes: config.etcdNodes.map((node, i) => agentNode(node, clients[i]!)),
    close: () => clients.forEach((c) => c.close()),
  };
};

export function cliTls(state: ClusterState): { caPEM: string; certPEM: string; keyPEM: string } {
  const ca = lookupCert(state, CA_CERT_NAME);
  const cli = lookupCert(state, CLI_CERT_NAME);
  if (!ca || !cli?.keyPEM) throw new UserError(`the state file lacks "${CA_CERT_NAME}" or "${CLI_CERT_NAME}"`);
  return { caPEM: ca.certificatePEM, certPEM: cli.certificatePEM, keyPEM: cli.keyPEM };
}
