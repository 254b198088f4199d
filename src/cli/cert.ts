/**
 * `lifeboat cert init|node|etcd|client`: the cluster CA, created only here (or by the sandbox), and the folders and
 * files that agents, operator-run etcd members and metrics scrapers use, all written from the state file.
 */
import { findMember, writeAgentBundle } from "../agent/bundle.js";
import { clientFiles, etcdServerFiles, writePemFiles } from "../config/cert-files.js";
import { ensureClusterPki, METRICS_CERT_NAME, writeState, type PkiResult } from "../config/state.js";
import type { CliDeps } from "./deps.js";
import { loadConfigAndState } from "../fleet/open.js";

export async function runCertInit(options: { config: string }, deps: CliDeps): Promise<void> {
  const { statePath, created } = await loadConfigAndState(options.config, deps.out, { init: true });
  deps.out.line(
    created
      ? `created the cluster CA (kube-ca) and the certificates of every node in ${statePath}; keep this file safe: it holds private keys`
      : `${statePath} already holds the cluster CA (kube-ca): it was kept, and only missing certificates were issued`,
  );
  deps.out.result({ statePath, created });
}

export async function runCertNode(
  options: { config: string; node: string; out: string },
  deps: CliDeps,
): Promise<void> {
  const { config, state } = await loadConfigAndState(options.config, deps.out);
  const dir = await writeAgentBundle({ config, state, memberName: options.node, outDir: options.out });
  deps.out.line(`wrote agent folder ${dir} for ${options.node}; start it with: lifeboat agent --dir ${dir}`);
  deps.out.result({ node: options.node, dir });
}

/** The server and peer certificate of a member the operator runs (RKE's `kube-etcd-<ip>`, issued when missing). */
export async function runCertEtcd(
  options: { config: string; node: string; out: string },
  deps: CliDeps,
): Promise<void> {
  const { config, state, statePath } = await loadConfigAndState(options.config, deps.out);
  const node = findMember(config, options.node);
  const pki = await ensureClusterPki(state, config, { etcdServerCertsFor: [node.memberName] });
  await saveChanges(statePath, pki, deps);
  const files = await writePemFiles(options.out, etcdServerFiles(pki.state, node));
  deps.out.line(`wrote ${files.join(", ")}`);
  deps.out.line(
    `etcd flags: --trusted-ca-file ${files[0]} --cert-file ${files[1]} --key-file ${files[2]} --client-cert-auth, ` +
      `and the same three as --peer-trusted-ca-file, --peer-cert-file, --peer-key-file with --peer-client-cert-auth`,
  );
  deps.out.result({ node: node.memberName, files });
}

/** A client certificate for the agents' `/metrics` (identity `lifeboat-metrics`: that route and no other). */
export async function runCertClient(options: { config: string; out: string }, deps: CliDeps): Promise<void> {
  const { config, state, statePath } = await loadConfigAndState(options.config, deps.out);
  const pki = await ensureClusterPki(state, config, { metricsClient: true });
  await saveChanges(statePath, pki, deps);
  const files = await writePemFiles(options.out, clientFiles(pki.state, METRICS_CERT_NAME));
  deps.out.line(`wrote ${files.join(", ")}: the agents accept it for GET /metrics only`);
  deps.out.result({ name: METRICS_CERT_NAME, files });
}

async function saveChanges(statePath: string, pki: PkiResult, deps: CliDeps): Promise<void> {
  if (pki.changes.length === 0) return;
  await writeState(statePath, pki.state);
  deps.out.note(`state file ${statePath}: ${pki.changes.map((c) => `${c.action} ${c.name}`).join(", ")}`);
}
