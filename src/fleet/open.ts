/**
 * Opening a cluster: load and validate cluster.yml, read the state file (issuing missing Lifeboat certificates from
 * its CA), and build one mutual-TLS agent client per etcd node.
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

/**
 * Loads cluster.yml and its state file, issuing the Lifeboat certificates the state file lacks (a new node's agent,
 * a renewal) from the cluster CA already in it. A missing state file, or one without the CA, is refused (exit 2,
 * nothing written): a new CA next to a cluster that already has one breaks every certificate it issued. Only
 * `init` (`lifeboat cert init`, the sandbox) creates the CA.
 */
export async function loadConfigAndState(
  configPath: string,
  out: Pick<FleetOutput, "note">,
  opts: { init?: boolean } = {},
): Promise<{ config: ClusterConfig; state: ClusterState; statePath: string; created: boolean }> {
  const loaded = await loadClusterConfig(configPath);
  for (const w of loaded.warnings) out.note(`warning: ${w}`);
  const statePath = statePathFor(configPath);
  const existing = await readState(statePath);
  if (!opts.init && !(existing && lookupCert(existing, CA_CERT_NAME)))
    throw noClusterCa(configPath, statePath, existing);
  const pki = await ensureClusterPki(existing, loaded.config);
  for (const w of pki.warnings) out.note(`warning: ${w}`);
  if (pki.changes.length) {
    await writeState(statePath, pki.state);
    out.note(`state file ${statePath}: ${pki.changes.map((c) => `${c.action} ${c.name}`).join(", ")}`);
  }
  const created = pki.changes.some((c) => c.name === CA_CERT_NAME);
  return { config: loaded.config, state: pki.state, statePath, created };
}

function noClusterCa(configPath: string, statePath: string, existing: ClusterState | undefined): UserError {
  const what = existing
    ? `the state file ${statePath} has no cluster CA ("${CA_CERT_NAME}")`
    : `no state file at ${statePath}`;
  return new UserError(
    `${what}. If RKE built this cluster, put its state file there (rke util get-state-file) or copy it from a ` +
      `control-plane node; for a new cluster, create the CA with: lifeboat cert init -c ${configPath}`,
  );
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
