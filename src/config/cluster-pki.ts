/**
 * The cluster's certificates, kept in the state file's `certificatesBundle` under RKE's names where RKE has one:
 * `kube-ca` (cluster CA), `kube-node` (etcd client for agents and the CLI), `kube-etcd-<ip>` (etcd server/peer), plus
 * Lifeboat's own `lifeboat-agent-<member>` (agent server) and `lifeboat-cli` (CLI client).
 *
 * RKE reads every bundle entry's key as RSA (rke:pki `TransformPEMToObject` asserts `*rsa.PrivateKey`), so leaves
 * issued under an RSA kube-ca (every RKE cluster) are RSA too; under a CA created here they are ECDSA P-256.
 * RKE's own entries are never replaced; Lifeboat's are re-issued when they no longer fit (expired, other CA, SANs).
 */
import { X509Certificate } from "node:crypto";
import { isIP } from "node:net";
import { checkCertificate, createCA, issueCertificate, keyAlgorithmOf } from "../pki/pki.js";
import type { CertKeyPair, CertUsage } from "../pki/pki.js";
import { UserError } from "../util/errors.js";
import type { CertEntry, ClusterState } from "./state-schema.js";
import type { ClusterConfig, EtcdNode } from "./types.js";

export const CA_CERT_NAME = "kube-ca";
export const NODE_CERT_NAME = "kube-node";
export const CLI_CERT_NAME = "lifeboat-cli";
/** The identity a scraper uses for the agents' `/metrics` (issued only by `lifeboat cert client`). */
export const METRICS_CERT_NAME = "lifeboat-metrics";
/** Lifeboat's certificates are renewed when less than this much validity is left. */
const RENEW_BEFORE_MS = 30 * 24 * 3_600_000;

export function agentCertName(memberName: string): string {
  return `lifeboat-agent-${memberName}`;
}

export type PkiChange = { name: string; action: "created" | "issued" | "reissued"; reason?: string };

/** What `ensureClusterPki` did: the new state (the input is not modified), what changed, and what looks wrong. */
export type PkiResult = { state: ClusterState; changes: PkiChange[]; warnings: string[] };

type Wanted = {
  name: string;
  commonName: string;
  usage: CertUsage[];
  ips: string[];
  dnsNames: string[];
  /** RKE's entries are kept as they are; Lifeboat's are checked and re-issued when they no longer fit. */
  owner: "rke" | "lifeboat";
};

/**
 * Makes sure the bundle holds every certificate the cluster needs, issuing what is missing. New entries are written
 * to both desiredState and currentState. `kube-etcd-<ip>` is only issued for members whose etcd Lifeboat runs
 * (mode managed), and for the external members named in `etcdServerCertsFor` (an etcd the operator runs with
 * certificates from this CA: the sandbox's external mode); any other etcd already has its certificates.
 */
export async function ensureClusterPki(
  state: ClusterState | undefined,
  config: ClusterConfig,
  opts: { now?: Date; etcdServerCertsFor?: readonly string[]; metricsClient?: boolean } = {},
): Promise<PkiResult> {
  const next: ClusterState = structuredClone(state ?? {});
  const result: PkiResult = { state: next, changes: [], warnings: [] };
  const ca = await ensureCa(next, result, opts.now);
  const algorithm = keyAlgorithmOf(ca.keyPEM);
  const wanted = wantedCerts(config, opts.etcdServerCertsFor ?? []);
  if (opts.metricsClient) wanted.push(lifeboatClient(METRICS_CERT_NAME));
  for (const want of wanted) {
    const existing = lookupCert(next, want.name);
    const problem = existing ? unfit(existing, want, ca.certificatePEM, opts.now) : "missing";
    if (problem === undefined) continue;
    const pair = await issueCertificate(ca, { ...want, keyAlgorithm: algorithm, ...nowOpt(opts.now) });
    storeCert(next, toEntry(want.name, want.commonName, pair));
    result.changes.push(
      existing ? { name: want.name, action: "reissued", reason: problem } : { name: want.name, action: "issued" },
    );
  }
  result.warnings.push(...rkeCertWarnings(next, config, ca.certificatePEM, opts.now));
  return result;
}

/**
 * The PEMs one agent needs: `etcdClientCertName` is what it presents to etcd (RKE's preset: the member's own
 * kube-etcd-<ip>). Throws UserError when the state file lacks one of them.
 */
export function nodeCertFiles(
  state: ClusterState,
  memberName: string,
  etcdCertName?: string,
  etcdClientCertName: string = NODE_CERT_NAME,
): { caPEM: string; agent: CertKeyPair; etcdClient: CertKeyPair; etcdServer?: CertKeyPair } {
  const pair = (name: string): CertKeyPair => {
    const entry = lookupCert(state, name);
    if (!entry?.keyPEM) throw new UserError(`the state file has no certificate and key "${name}"`);
    return { certificatePEM: entry.certificatePEM, keyPEM: entry.keyPEM };
  };
  const ca = lookupCert(state, CA_CERT_NAME);
  if (!ca) throw new UserError(`the state file has no "${CA_CERT_NAME}" certificate`);
  const out = {
    caPEM: ca.certificatePEM,
    agent: pair(agentCertName(memberName)),
    etcdClient: pair(etcdClientCertName),
  };
  return etcdCertName && lookupCert(state, etcdCertName) ? { ...out, etcdServer: pair(etcdCertName) } : out;
}

/** A bundle entry by name, from currentState first (what is deployed), then desiredState. */
export function lookupCert(state: ClusterState, name: string): CertEntry | undefined {
  return state.currentState?.certificatesBundle?.[name] ?? state.desiredState?.certificatesBundle?.[name];
}

async function ensureCa(state: ClusterState, result: PkiResult, now: Date | undefined): Promise<CertKeyPair> {
  const existing = lookupCert(state, CA_CERT_NAME);
  if (existing) {
    if (!existing.keyPEM) throw new UserError(`"${CA_CERT_NAME}" in the state file has no private key`);
    return { certificatePEM: existing.certificatePEM, keyPEM: existing.keyPEM };
  }
  const ca = await createCA(CA_CERT_NAME, nowOpt(now));
  storeCert(state, toEntry(CA_CERT_NAME, CA_CERT_NAME, ca));
  result.changes.push({ name: CA_CERT_NAME, action: "created" });
  return ca;
}

function wantedCerts(config: ClusterConfig, etcdServerCertsFor: readonly string[]): Wanted[] {
  const wanted: Wanted[] = [
    {
      name: NODE_CERT_NAME,
      commonName: "system:node",
      usage: ["client", "server"],
      ips: [],
      dnsNames: [],
      owner: "rke",
    },
  ];
  for (const node of config.etcdNodes) {
    if (node.etcd.mode === "managed" || etcdServerCertsFor.includes(node.memberName)) wanted.push(etcdCert(node));
    wanted.push({
      name: agentCertName(node.memberName),
      commonName: agentCertName(node.memberName),
      usage: ["server", "client"],
      ...sans([node.agent.host]),
      owner: "lifeboat",
    });
  }
  wanted.push(lifeboatClient(CLI_CERT_NAME));
  return wanted;
}

function lifeboatClient(name: string): Wanted {
  return { name, commonName: name, usage: ["client"], ips: [], dnsNames: [], owner: "lifeboat" };
}

/** RKE's etcd certificate: CN kube-etcd, SANs for the node's addresses and hostname plus localhost. */
function etcdCert(node: EtcdNode): Wanted {
  const hosts = [node.address, node.internalAddress, node.hostnameOverride, "localhost", "127.0.0.1"];
  return {
    name: node.etcdCertName,
    commonName: "kube-etcd",
    usage: ["server", "client"],
    ...sans(hosts),
    owner: "rke",
  };
}

function sans(hosts: (string | undefined)[]): { ips: string[]; dnsNames: string[] } {
  const unique = [...new Set(hosts.filter((h): h is string => !!h))];
  return { ips: unique.filter((h) => isIP(h) !== 0), dnsNames: unique.filter((h) => isIP(h) === 0) };
}

/** Why an existing entry cannot be used as it is, or undefined when it can. RKE's entries are always used. */
function unfit(entry: CertEntry, want: Wanted, caPEM: string, now: Date | undefined): string | undefined {
  if (want.owner === "rke") return undefined;
  if (!entry.keyPEM) return "it has no private key";
  const at = now ?? new Date();
  for (const usage of want.usage) {
    const check = checkCertificate(entry.certificatePEM, { caPEM, now: at, usage });
    if (!check.ok) return check.reason;
    if (check.notAfter.getTime() - at.getTime() < RENEW_BEFORE_MS) return "it expires within 30 days";
  }
  const cert = new X509Certificate(entry.certificatePEM);
  const missing = [
    ...want.ips.filter((ip) => cert.checkIP(ip) === undefined),
    ...want.dnsNames.filter((name) => cert.checkHost(name) === undefined),
  ];
  return missing.length > 0 ? `it does not name ${missing.join(", ")}` : undefined;
}

/** Problems with RKE's certificates that Lifeboat will use but must not replace. */
function rkeCertWarnings(state: ClusterState, config: ClusterConfig, caPEM: string, now: Date | undefined): string[] {
  const names = [
    NODE_CERT_NAME,
    ...config.etcdNodes.filter((n) => n.etcd.mode === "managed").map((n) => n.etcdCertName),
  ];
  return names.flatMap((name) => {
    const entry = lookupCert(state, name);
    if (!entry) return [];
    const check = checkCertificate(entry.certificatePEM, { caPEM, ...nowOpt(now) });
    return check.ok ? [] : [`certificate ${name} in the state file: ${check.reason}`];
  });
}

function storeCert(state: ClusterState, entry: CertEntry & { name: string }): void {
  for (const key of ["desiredState", "currentState"] as const) {
    const rke = (state[key] ??= {});
    (rke.certificatesBundle ??= {})[entry.name] = entry;
  }
}

/** An entry in RKE's CertificatePKI layout, with the file paths and env names RKE would give it. */
function toEntry(name: string, commonName: string, pair: CertKeyPair): CertEntry & { name: string } {
  const envName = name.toUpperCase().replace(/-/g, "_");
  return {
    certificatePEM: pair.certificatePEM,
    csrPEM: "",
    keyPEM: pair.keyPEM,
    config: "",
    name,
    commonName,
    ouName: "",
    envName,
    path: `/etc/kubernetes/ssl/${name}.pem`,
    keyEnvName: `${envName}_KEY`,
    keyPath: `/etc/kubernetes/ssl/${name}-key.pem`,
    configEnvName: "",
    configPath: "",
  };
}

function nowOpt(now: Date | undefined): { now?: Date } {
  return now ? { now } : {};
}
