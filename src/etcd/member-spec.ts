/** The command line and files of one etcd member that Lifeboat runs itself. */
import { dirname, join } from "node:path";

/** Everything needed to run one etcd member. Paths are absolute. */
export interface MemberSpec {
  name: string;
  dataDir: string;
  /** This member's client URL (listened on and advertised). */
  clientUrl: string;
  /** This member's peer URL (listened on and advertised). */
  peerUrl: string;
  /** "name=peerURL,..." for every member. */
  initialCluster: string;
  initialClusterState: "new" | "existing";
  initialClusterToken: string;
  /** Client and peer TLS with client certificates required on both. The same key pair serves and dials. */
  tls?: { caFile: string; certFile: string; keyFile: string };
  quotaBackendBytes?: number;
  /** Request limits above etcd's defaults (a replay applies a whole revision, however many keys, in one txn). */
  limits?: { maxTxnOps: number; maxRequestBytes: number };
  /** etcd's stdout and stderr are appended here. */
  logFile: string;
  /** Where the running etcd's pid is written (default `<dataDir>/../etcd.pid`). */
  pidFile?: string;
}

/** The etcd command line for `spec` (without the binary). */
export function etcdArgs(spec: MemberSpec): string[] {
  const args = [
    `--name=${spec.name}`,
    `--data-dir=${spec.dataDir}`,
    `--listen-client-urls=${spec.clientUrl}`,
    `--advertise-client-urls=${spec.clientUrl}`,
    `--listen-peer-urls=${spec.peerUrl}`,
    `--initial-advertise-peer-urls=${spec.peerUrl}`,
    `--initial-cluster=${spec.initialCluster}`,
    `--initial-cluster-state=${spec.initialClusterState}`,
    `--initial-cluster-token=${spec.initialClusterToken}`,
  ];
  if (spec.tls) {
    const { caFile, certFile, keyFile } = spec.tls;
    args.push(`--trusted-ca-file=${caFile}`, `--cert-file=${certFile}`, `--key-file=${keyFile}`, "--client-cert-auth");
    args.push(`--peer-trusted-ca-file=${caFile}`, `--peer-cert-file=${certFile}`, `--peer-key-file=${keyFile}`);
    args.push("--peer-client-cert-auth");
  }
  if (spec.quotaBackendBytes !== undefined) args.push(`--quota-backend-bytes=${spec.quotaBackendBytes}`);
  if (spec.limits) {
    args.push(`--max-txn-ops=${spec.limits.maxTxnOps}`, `--max-request-bytes=${spec.limits.maxRequestBytes}`);
  }
  return args;
}

export function pidFileOf(spec: MemberSpec): string {
  return spec.pidFile ?? join(dirname(spec.dataDir), "etcd.pid");
}
