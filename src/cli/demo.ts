/**
 * `lifeboat demo` (`npm run demo`): a disaster-recovery drill on a fresh loopback sandbox. Brings the cluster up,
 * writes sample data, checks health through the agents, saves a snapshot on every node (and once to S3), lists it,
 * and tears everything down, printing how long each phase took.
 */
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EtcdMemberClient } from "../etcd/client.js";
import { CA_CERT_NAME, lookupCert, NODE_CERT_NAME } from "../config/state.js";
import { sandboxDown } from "../sandbox/sandbox.js";
import { ExitCode } from "../util/errors.js";
import type { CliDeps } from "./main.js";
import { loadConfigAndState } from "./cluster.js";
import { runHealth } from "./health.js";
import { runSnapshotList } from "./snapshot-list.js";
import { runSnapshotSave } from "./snapshot-save.js";
import { startSandbox } from "./sandbox.js";

export async function runDemo(options: { keep: boolean; etcdSeries?: string }, deps: CliDeps): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "lifeboat-demo-"));
  const phases: [string, number][] = [];
  const phase = async <T>(title: string, fn: () => Promise<T>): Promise<T> => {
    deps.out.line(`\n== ${title}`);
    const started = Date.now();
    const value = await fn();
    phases.push([title, Date.now() - started]);
    return value;
  };
  let exitCode: number = ExitCode.ok;
  const track: CliDeps = { ...deps, setExitCode: (c) => (exitCode = Math.max(exitCode, c)) };
  try {
    const info = await phase("sandbox up: 3 etcd members with TLS, 3 agents, an S3 server", () =>
      startSandbox({ dir, nodes: 3, etcdSeries: options.etcdSeries }, track),
    );
    deps.out.line(`working folder ${dir}`);
    const config = info.configPath;
    await phase("write sample data (1000 keys under /demo/)", () => writeSample(config, deps, 1000));
    await phase("health of each member, through its agent", () => runHealth({ config }, track));
    await phase("snapshot-save on every node, one upload to S3", () => runSnapshotSave({ config, name: "demo-before-disaster" }, track));
    await phase("snapshot-list: every node and S3", () => runSnapshotList({ config }, track));
  } finally {
    if (!options.keep) await phase("sandbox down", () => sandboxDown(dir, { purge: true }));
    else deps.out.line(`\nsandbox kept running in ${dir}; stop it with: lifeboat sandbox down --dir ${dir}`);
  }
  deps.out.line("\n== timings");
  for (const [title, ms] of phases) deps.out.line(`${(ms / 1000).toFixed(2).padStart(7)} s  ${title}`);
  deps.out.line(exitCode === ExitCode.ok ? "\ndemo finished: every step succeeded" : `\ndemo finished with exit code ${exitCode}`);
  deps.setExitCode(exitCode);
}

async function writeSample(configPath: string, deps: CliDeps, count: number): Promise<void> {
  const { config, state } = await loadConfigAndState(configPath, deps.out);
  const ca = lookupCert(state, CA_CERT_NAME);
  const client = lookupCert(state, NODE_CERT_NAME);
  const first = config.etcdNodes[0];
  if (!ca || !client?.keyPEM || !first) throw new Error("sandbox state file lacks its certificates");
  const etcd = await EtcdMemberClient.connect({
    endpoint: first.clientUrl,
    tls: { caPEM: ca.certificatePEM, certPEM: client.certificatePEM, keyPEM: client.keyPEM },
  });
  try {
    for (let i = 0; i < count; i++) await etcd.put(`/demo/key-${String(i).padStart(5, "0")}`, JSON.stringify({ i, at: Date.now() }));
    deps.out.line(`wrote ${count} keys through ${first.memberName}; ${await etcd.count("/demo/")} keys under /demo/`);
  } finally {
    etcd.close();
  }
}
