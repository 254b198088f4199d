/**
 * Who may call which agent route. Mutual TLS only proves a client holds a certificate from the cluster CA, and that
 * CA (RKE's `kube-ca`) also signs every node's and kubelet's certificate: so each route names the identities allowed
 * to call it, and the identity is read from the verified client certificate's common name, matched exactly.
 */
import type { PeerCertificate } from "node:tls";
import type { Access, Caller } from "../api/route.js";
import { agentCertName, CLI_CERT_NAME } from "../config/cluster-pki.js";

/** Who may call is part of each route's entry in the table (src/api/routes.ts). */
export type { Access, Caller };

export const METRICS_CERT_NAME = "lifeboat-metrics";

const CLIENT_AUTH_OID = "1.3.6.1.5.5.7.3.2";
const ANY_EKU_OID = "2.5.29.37.0";
const AGENT_PREFIX = agentCertName("");

/** The certificate's one common name, or undefined when it has none or several (Node gives repeats as an array). */
export function commonNameOf(cert: Partial<PeerCertificate> | undefined): string | undefined {
  const cn: unknown = cert?.subject?.CN;
  return typeof cn === "string" ? cn : undefined;
}

/**
 * The Lifeboat identity a verified client certificate carries, or undefined. A certificate restricted to other
 * usages (e.g. server-only) is no client identity, whatever its name.
 */
export function callerOf(cert: Partial<PeerCertificate> | undefined): Caller | undefined {
  const eku = cert?.ext_key_usage;
  if (eku && !eku.includes(CLIENT_AUTH_OID) && !eku.includes(ANY_EKU_OID)) return undefined;
  const cn = commonNameOf(cert);
  if (cn === CLI_CERT_NAME) return "cli";
  if (cn === METRICS_CERT_NAME) return "metrics";
  // Lifeboat issues agent certificates only for cluster.yml's members; the member name must not be empty.
  if (cn !== undefined && cn.startsWith(AGENT_PREFIX) && cn.length > AGENT_PREFIX.length) return "agent";
  return undefined;
}

/** The certificate names an access allows, for the 403 message. */
export function describeAccess(access: Access): string {
  const names: Record<Caller, string> = {
    cli: CLI_CERT_NAME,
    agent: `${AGENT_PREFIX}<member>`,
    metrics: METRICS_CERT_NAME,
  };
  return access.allow.map((c) => names[c]).join(", ");
}
