/**
 * `lifeboat demo` (`npm run demo`): a disaster-recovery drill on a fresh loopback sandbox. Brings the cluster up,
 * writes sample data, checks health through the agents, saves a snapshot on every node (and once to S3), lists it,
 * writes more data, destroys every member's data and two nodes' local snapshots, restores from S3, checks that exactly
 * the data from before the snapshot is back, and tears everything down, printing how long each phase took.
 */
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { routes } from "../api/routes.js";
import { EtcdMemberClient } from "../etcd/client.js";
import { CA_CERT_NAME, lookupCert, NODE_CERT_NAME } from "../config/state.js";
import { sandboxDown } from "../sandbox/sandbox.js";
import { ExitCode } from "../util/errors.js";
import type { CliDeps } from "./deps.js";
import { loadConfigAndState } from "./cluster.js";
import { runHealth } from "./health.js";
import { runSnapshotList } from "./snapshot-list.js";
import { runSnapshotSave } from "./snapshot-save.js";
import { startSandbox } from "./sandbox.js";
import { runSnapshotRestore } from "./snapshot-restore.js";
import { openCluster } from "./cluster.js";
import { rm } from "node:fs/promises";

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
    await phase("snapshot-save on every node, one upload to S3", () =>
      runSnapshotSave({ config, name: "demo-before-disaster" }, track),
    );
    await phase("snapshot-list: every node and S3", () => runSnapshotList({ config }, track));
    await phase("write more data (200 keys under /after/) that the restore must not bring back", () =>
      writeSample(config, deps, 200, "/after/"),
    );
    await phase("disaster: stop every member, destroy every data dir and two nodes' local snapshots", () =>
      disaster(config, deps),
    );
    await phase("snapshot-restore from S3", () =>
      runSnapshotRestore({ config, name: "demo-before-disaster", yes: true }, track),
    );
    await phase("check: exactly the data from before the snapshot, cluster healthy", async () => {
      await runHealth({ config }, track);
      const before = await countKeys(config, deps, "/demo/");
      const after = await countKeys(config, deps, "/after/");
      deps.out.line(`/demo/ keys: ${before} (expected 1000)   /after/ keys: ${after} (expected 0)`);
      if (before !== 1000 || after !== 0) track.setExitCode(ExitCode.failure);
    });
  } finally {
    if (!options.keep) await phase("sandbox down", () => sandboxDown(dir, { purge: true }));
    else deps.out.line(`\nsandbox kept running in ${dir}; stop it with: lifeboat sandbox down --dir ${dir}`);
  }
  deps.out.line("\n== timings");
  for (const [title, ms] of phases) deps.out.line(`${(ms / 1000).toFixed(2).padStart(7)} s  ${title}`);
  deps.out.line(
    exitCode === ExitCode.ok ? "\ndemo finished: every step succeeded" : `\ndemo finished with exit code ${exitCode}`,
  );
  deps.setExitCode(exitCode);
}

/** Stops every member through its agent, then deletes its data directory and (on two nodes) its snapshots. */
async function disaster(configPath: string, deps: CliDeps): Promise<void> {
  const cluster = await openCluster(configPath, deps.out);
  try {
    // One at a time: members stopped together wait on each other for seconds (see docs/design.md R4).
    for (const { client } of cluster.agents) await client.call(routes.stopMember, { timeoutMs: 60_000 });
    for (const [i, { node }] of cluster.agents.entries()) {
      await rm(node.dataDir, { recursive: true, force: true });
      if (i > 0) await rm(node.snapshotDir, { recursive: true, force: true });
      deps.out.line(
        `${node.memberName}: member stopped, ${node.dataDir} deleted${i > 0 ? `, ${node.snapshotDir} deleted` : ""}`,
      );
    }
  } finally {
    cluster.close();
  }
}

async function countKeys(configPath: string, deps: CliDeps, prefix: string): Promise<number> {
  const etcd = await memberClient(configPath, deps, 2);
  try {
    return await etcd.count(prefix);
  } finally {
    etcd.close();
  }
}

async function memberClient(configPath: string, deps: CliDeps, index: number): Promise<EtcdMemberClient> {
  const { config, state } = await loadConfigAndState(configPath, deps.out);
  const ca = lookupCert(state, CA_CERT_NAME);
  const client = lookupCert(state, NODE_CERT_NAME);
  const node = config.etcdNodes[index];
  if (!ca || !client?.keyPEM || !node) throw new Error("sandbox state file lacks its certificates");
  return EtcdMemberClient.connect({
    endpoint: node.clientUrl,
    tls: { caPEM: ca.certificatePEM, certPEM: client.certificatePEM, keyPEM: client.keyPEM },
  });
}

async function writeSample(configPath: string, deps: CliDeps, count: number, prefix = "/demo/"): Promise<void> {
  const etcd = await memberClient(configPath, deps, 0);
  try {
    for (let i = 0; i < count; i++)
      await etcd.put(`${prefix}key-${String(i).padStart(5, "0")}`, JSON.stringify({ i, at: Date.now() }));
    deps.out.line(`wrote ${count} keys; ${await etcd.count(prefix)} keys under ${prefix}`);
  } finally {
    etcd.close();
  }
}
