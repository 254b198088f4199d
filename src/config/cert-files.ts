/**
 * Certificates written out of the state file for programs that are not Lifeboat's agents: an etcd member the
 * operator runs (RKE's names: `kube-ca.pem`, `kube-etcd-<ip>.pem`, `kube-etcd-<ip>-key.pem`) and a client of the
 * agents' `/metrics`. Folders are 0700, every file 0600 (keys and certificates alike, as RKE writes them).
 */
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { UserError } from "../util/errors.js";
import { writeFileAtomic } from "../util/fs.js";
import { CA_CERT_NAME, lookupCert, nodeCertFiles } from "./cluster-pki.js";
import type { ClusterState } from "./state-schema.js";
import type { EtcdNode } from "./types.js";

/** Writes `files` (name -> PEM text) into `dir`; returns the paths written, in order. */
export async function writePemFiles(dir: string, files: Record<string, string>): Promise<string[]> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const paths: string[] = [];
  for (const [name, text] of Object.entries(files)) {
    const path = join(dir, name);
    await writeFileAtomic(path, text, 0o600);
    paths.push(path);
  }
  return paths;
}

/** The CA and the member's server and peer certificate, under RKE's file names. */
export function etcdServerFiles(state: ClusterState, node: EtcdNode): Record<string, string> {
  const certs = nodeCertFiles(state, node.memberName, node.etcdCertName);
  if (!certs.etcdServer) throw new UserError(`the state file has no certificate and key "${node.etcdCertName}"`);
  return {
    [`${CA_CERT_NAME}.pem`]: certs.caPEM,
    [`${node.etcdCertName}.pem`]: certs.etcdServer.certificatePEM,
    [`${node.etcdCertName}-key.pem`]: certs.etcdServer.keyPEM,
  };
}

/** The CA and the client certificate `name` (with its key). */
export function clientFiles(state: ClusterState, name: string): Record<string, string> {
  const ca = lookupCert(state, CA_CERT_NAME);
  const entry = lookupCert(state, name);
  if (!ca || !entry?.keyPEM) throw new UserError(`the state file has no certificate and key "${name}"`);
  return {
    [`${CA_CERT_NAME}.pem`]: ca.certificatePEM,
    [`${name}.pem`]: entry.certificatePEM,
    [`${name}-key.pem`]: entry.keyPEM,
  };
}
