/**
 * Real etcd clusters for tests: 1 or 3 members on fresh loopback addresses (ports 2379/2380), run by ManagedMember,
 * optionally with TLS everywhere (client and peer, client certificates required) from src/pki.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { findEtcdTools, type EtcdTools } from "../../src/etcd/binaries.js";
import { EtcdMemberClient } from "../../src/etcd/client.js";
import { ManagedMember, type ManagedMemberOptions, type MemberSpec } from "../../src/etcd/member.js";
import { createCA, issueCertificate, type CertKeyPair } from "../../src/pki/pki.js";
import { silentLogger, type Logger } from "../../src/util/log.js";
import { allocateLoopbackHosts } from "../../src/util/net.js";

export interface TestMember {
  name: string;
  host: string;
  clientUrl: string;
  peerUrl: string;
  dataDir: string;
  logFile: string;
  pidFile: string;
  spec: MemberSpec;
  controller: ManagedMember;
}

export interface ClientTLS {
  caPEM: string;
  certPEM: string;
  keyPEM: string;
  /** The same material on disk, for etcdctl's --cacert/--cert/--key. */
  files: { caFile: string; certFile: string; keyFile: string };
}

export interface TestCluster {
  members: TestMember[];
  /** A client certificate the members accept (when started with tls). */
  tls?: ClientTLS;
  tools: EtcdTools;
  initialCluster: string;
  token: string;
  /** A client bound to one member, closed by stop(). */
  client(member: TestMember, timeoutMs?: number): Promise<EtcdMemberClient>;
  stop(): Promise<void>;
}

export interface StartClusterOptions {
  members: 1 | 3;
  /** Default: $LIFEBOAT_TEST_ETCD_SERIES, else the newest etcd found. */
  series?: string;
  tls?: boolean;
  /** A temp directory owned by the test; every member lives in <dir>/<name>. */
  dir: string;
  log?: Logger;
  memberOptions?: ManagedMemberOptions;
  /** etcd's --quota-backend-bytes for every member (a small one reaches the NOSPACE alarm quickly). */
  quotaBackendBytes?: number;
}

/** Starts every member at once (a member of a new cluster answers only after a quorum has formed). */
export async function startEtcdCluster(opts: StartClusterOptions): Promise<TestCluster> {
  const series = opts.series ?? process.env.LIFEBOAT_TEST_ETCD_SERIES;
  const tools = await findEtcdTools({ ...(series ? { series } : {}), developerCache: true });
  const scheme = opts.tls ? "https" : "http";
  const hosts = await allocateLoopbackHosts(opts.members, [2379, 2380]);
  const names = hosts.map((_, i) => `etcd-${i + 1}`);
  const token = `lifeboat-test-${Math.random().toString(36).slice(2, 10)}`;
  const initialCluster = hosts.map((h, i) => `${names[i]}=${scheme}://${h}:2380`).join(",");
  const certs = opts.tls ? await makeCerts(opts.dir, hosts, names) : undefined;
  const members = hosts.map((host, i): TestMember => {
    const name = names[i] ?? `etcd-${i + 1}`;
    const base = join(opts.dir, name);
    const spec: MemberSpec = {
      name,
      dataDir: join(base, "data"),
      clientUrl: `${scheme}://${host}:2379`,
      peerUrl: `${scheme}://${host}:2380`,
      initialCluster,
      initialClusterState: "new",
      initialClusterToken: token,
      logFile: join(base, "etcd.log"),
      pidFile: join(base, "etcd.pid"),
      ...(certs?.members[i] ? { tls: certs.members[i] } : {}),
      ...(opts.quotaBackendBytes ? { quotaBackendBytes: opts.quotaBackendBytes } : {}),
    };
    const controller = new ManagedMember(spec, tools, opts.log ?? silentLogger, opts.memberOptions);
    const { clientUrl, peerUrl, dataDir, logFile } = spec;
    return { name, host, clientUrl, peerUrl, dataDir, logFile, pidFile: join(base, "etcd.pid"), spec, controller };
  });
  const clients: EtcdMemberClient[] = [];
  const stop = async () => {
    for (const c of clients.splice(0)) c.close();
    await Promise.allSettled(members.map((m) => m.controller.stop()));
  };
  const started = await Promise.allSettled(members.map((m) => m.controller.start()));
  const failed = started.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed) {
    await stop();
    throw failed.reason;
  }
  const client = async (member: TestMember, timeoutMs?: number) => {
    const c = await EtcdMemberClient.connect({
      endpoint: member.clientUrl,
      ...(certs ? { tls: certs.client } : {}),
      ...(timeoutMs ? { timeoutMs } : {}),
    });
    clients.push(c);
    return c;
  };
  return { members, tools, initialCluster, token, client, stop, ...(certs ? { tls: certs.client } : {}) };
}

async function makeCerts(dir: string, hosts: string[], names: string[]) {
  const ca = await createCA("lifeboat-test-ca");
  const members = [];
  for (const [i, host] of hosts.entries()) {
    const name = names[i] ?? host;
    const cert = await issueCertificate(ca, {
      commonName: name,
      ips: [host],
      dnsNames: ["localhost"],
      usage: ["server", "client"],
    });
    members.push(await writeTls(join(dir, name, "tls"), ca.certificatePEM, cert));
  }
  const c = await issueCertificate(ca, { commonName: "lifeboat-test-client", usage: ["client"] });
  const files = await writeTls(join(dir, "client-tls"), ca.certificatePEM, c);
  const client: ClientTLS = { caPEM: ca.certificatePEM, certPEM: c.certificatePEM, keyPEM: c.keyPEM, files };
  return { members, client };
}

async function writeTls(tlsDir: string, caPEM: string, pair: CertKeyPair) {
  await mkdir(tlsDir, { recursive: true });
  const f = { caFile: join(tlsDir, "ca.pem"), certFile: join(tlsDir, "cert.pem"), keyFile: join(tlsDir, "key.pem") };
  await writeFile(f.caFile, caPEM);
  await writeFile(f.certFile, pair.certificatePEM);
  await writeFile(f.keyFile, pair.keyPEM, { mode: 0o600 });
  return f;
}
