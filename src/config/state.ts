/**
 * The cluster state file (`cluster.rkestate`): RKE's `{ desiredState, currentState }` plus Lifeboat's `lifeboat`
 * object, and the cluster PKI kept in its certificates bundle. See state-file.ts and cluster-pki.ts.
 */
export { parseState, readState, writeState } from "./state-file.js";
export {
  CA_CERT_NAME,
  CLI_CERT_NAME,
  METRICS_CERT_NAME,
  NODE_CERT_NAME,
  agentCertName,
  ensureClusterPki,
  lookupCert,
  nodeCertFiles,
} from "./cluster-pki.js";
export type { PkiChange, PkiResult } from "./cluster-pki.js";
export type { CertEntry, ClusterState, LifeboatState, RestoreRecord, RkeState } from "./state-schema.js";
export { extendLineage, lineageOf, previousClusterId } from "./lineage.js";
export type { RestoreIds } from "./lineage.js";
