/**
 * Case 5: a 3-member restore from S3, end to end, against the floor (bench/tools/floor-restore.ts) run in the same
 * loop. Both restore the same archive from the same S3 server. The floor runs its own three members on loopback
 * addresses of its own, with certificates from a CA of its own, and is stopped after each run.
 *
 * RESTORE HOOK: Lifeboat's side runs `lifeboat etcd snapshot-restore --config <3-node cluster.yml> --name <X> --yes`
 * as soon as `lifeboat etcd --help` lists that command; until then only the floor is measured and the row says so.
 */
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import type { EtcdTools } from "../../src/etcd/binaries.js";
import type { MemberSpec } from "../../src/etcd/member-spec.js";
import { createCA, issueCertificate } from "../../src/pki/pki.js";
import { SANDBOX_BUCKET, SANDBOX_FOLDER } from "../../src/sandbox/sandbox.js";
import { S3RVER_ACCESS_KEY } from "../../src/sandbox/s3server.js";
import { allocateLoopbackHosts } from "../../src/util/net.js";
import { measureOk } from "../lib/proc.js";
import type { Sample, Series } from "../lib/results.js";
import { lifeboat, lifeboatOk, type BenchSandbox } from "../lib/sandbox.js";
import { timingsOf } from "../lib/timings.js";
import type { FloorPlan } from "../tools/floor-restore.js";

const FLOOR = fileURLToPath(new URL("../tools/floor-restore.js", import.meta.url));
const MEMBERS = 3;

export interface RestoreSeries {
  floor: Series;
  lifeboat?: Series;
  /** Time of each floor phase (download, restore, start) in each measured run, ms. */
  floorPhasesMs: Record<string, number[]>;
  /** The same for the phases `snapshot-restore` reports (its `timings`). */
  lifeboatPhasesMs: Record<string, number[]>;
  note?: string;
}

/** True once the CLI has the restore command (the hook above). */
export async function hasRestoreCommand(): Promise<boolean> {
  const help = await lifeboat(["etcd", "--help"]);
  return /\bsnapshot-restore\b/.test(help.stdout + help.stderr);
}

export interface RestoreOptions {
  /** A 3-node sandbox whose S3 folder already holds snapshot `name` (archive and manifest). */
  sandbox: BenchSandbox;
  name: string;
  tools: EtcdTools;
  runs: number;
  workDir: string;
  log: (line: string) => void;
}

export async function runRestore(o: RestoreOptions): Promise<RestoreSeries> {
  const floorDir = join(o.workDir, "floor");
  const base = await floorMembers(floorDir);
  const withHook = await hasRestoreCommand();
  const floor: Sample[] = [];
  const ours: Sample[] = [];
  const phases: Record<string, number[]> = {};
  const ourPhases: Record<string, number[]> = {};
  const agents = o.sandbox.info.nodes.map((n) => n.pid);
  for (let i = 0; i <= o.runs; i++) {
    const steps = [
      async () => {
        const { sample, phasesMs } = await runFloor(o, floorDir, base, i);
        floor.push(sample);
        if (i > 0) for (const [k, v] of Object.entries(phasesMs)) (phases[k] ??= []).push(v);
      },
      ...(withHook
        ? [
            async () => {
              const args = [
                "--output",
                "json",
                "etcd",
                "snapshot-restore",
                "--config",
                o.sandbox.config,
                "--name",
                o.name,
                "--yes",
              ];
              const m = await lifeboatOk(args, { watch: agents, timeoutMs: 15 * 60_000 });
              ours.push({ wallMs: m.wallMs, peakRss: m.peakRss, agentRss: Math.max(...Object.values(m.watched)) });
              if (i > 0) for (const [k, v] of Object.entries(timingsOf(m.stdout))) (ourPhases[k] ??= []).push(v);
            },
          ]
        : []),
    ];
    if (i % 2) steps.reverse();
    for (const step of steps) await step();
    const line = [`floor ${sec(floor.at(-1))}`, ...(withHook ? [`lifeboat ${sec(ours.at(-1))}`] : [])].join(", ");
    o.log(`  ${i === 0 ? "warm-up" : `run ${i}/${o.runs}`}: ${line}`);
  }
  const series = (label: string, s: Sample[]): Series => ({ label, warmup: s[0]!, runs: s.slice(1) });
  return {
    floor: series("floor (download, etcdutl x3, start, healthy)", floor),
    floorPhasesMs: phases,
    lifeboatPhasesMs: ourPhases,
    ...(withHook
      ? { lifeboat: series("etcd snapshot-restore", ours) }
      : { note: "`lifeboat etcd snapshot-restore` does not exist yet: only the floor was measured" }),
  };
}

function sec(s: Sample | undefined): string {
  return s ? `${(s.wallMs / 1000).toFixed(1)}s` : "-";
}

/** Three members on fresh loopback addresses with TLS like the sandbox's (one CA, one key pair per member). */
async function floorMembers(dir: string): Promise<Omit<MemberSpec, "dataDir" | "logFile" | "initialClusterToken">[]> {
  const hosts = await allocateLoopbackHosts(MEMBERS, [2379, 2380]);
  const tlsDir = join(dir, "tls");
  await mkdir(tlsDir, { recursive: true, mode: 0o700 });
  const ca = await createCA("bench-floor-ca");
  await writeFile(join(tlsDir, "ca.pem"), ca.certificatePEM, { mode: 0o600 });
  const names = hosts.map((_, k) => `etcd-floor${k + 1}`);
  const initialCluster = hosts.map((h, k) => `${names[k]}=https://${h}:2380`).join(",");
  return Promise.all(
    hosts.map(async (host, k) => {
      // 127.0.0.1 as RKE's etcd certificates have it: peers dial from that source address on loopback.
      const ips = [host, "127.0.0.1"];
      const pair = await issueCertificate(ca, {
        commonName: names[k]!,
        ips,
        dnsNames: ["localhost"],
        usage: ["server", "client"],
      });
      const certFile = join(tlsDir, `${names[k]}.pem`);
      const keyFile = join(tlsDir, `${names[k]}-key.pem`);
      await writeFile(certFile, pair.certificatePEM, { mode: 0o600 });
      await writeFile(keyFile, pair.keyPEM, { mode: 0o600 });
      return {
        name: names[k]!,
        clientUrl: `https://${host}:2379`,
        peerUrl: `https://${host}:2380`,
        initialCluster,
        initialClusterState: "new" as const,
        tls: { caFile: join(tlsDir, "ca.pem"), certFile, keyFile },
      };
    }),
  );
}

async function runFloor(
  o: RestoreOptions,
  dir: string,
  base: Awaited<ReturnType<typeof floorMembers>>,
  i: number,
): Promise<{ sample: Sample; phasesMs: Record<string, number> }> {
  const runDir = join(dir, "run");
  await rm(runDir, { recursive: true, force: true });
  await mkdir(runDir, { recursive: true, mode: 0o700 });
  const plan: FloorPlan = {
    s3: { endpoint: o.sandbox.info.s3.endpoint, bucket: SANDBOX_BUCKET, key: `${SANDBOX_FOLDER}/${o.name}.zip` },
    name: o.name,
    snapshotFile: join(runDir, "snapshot.db"),
    restoreTool: o.tools.etcdutl ?? o.tools.etcdctl,
    etcd: o.tools.etcd,
    members: base.map((m) => ({
      ...m,
      dataDir: join(runDir, m.name, "data"),
      logFile: join(runDir, `${m.name}.log`),
      pidFile: join(runDir, `${m.name}.pid`),
      initialClusterToken: `bench-floor-${i}`,
    })),
    clientTls: base[0]!.tls!,
  };
  const planFile = join(runDir, "plan.json");
  await writeFile(planFile, JSON.stringify(plan));
  const env = { AWS_ACCESS_KEY_ID: S3RVER_ACCESS_KEY, AWS_SECRET_ACCESS_KEY: S3RVER_ACCESS_KEY };
  let pids: number[] = [];
  try {
    const m = await measureOk(process.execPath, [FLOOR, planFile], { env });
    const out = JSON.parse(m.stdout) as { pids: number[]; phasesMs: Record<string, number> };
    pids = out.pids;
    return { sample: { wallMs: m.wallMs, peakRss: m.peakRss }, phasesMs: out.phasesMs };
  } finally {
    await stopAll(pids.length ? pids : await pidsOf(plan.members));
    await rm(runDir, { recursive: true, force: true });
  }
}

/** The floor's members when the floor failed before reporting them: etcd processes whose args name its data dirs. */
async function pidsOf(members: MemberSpec[]): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const cmd = await readFile(`/proc/${entry}/cmdline`, "utf8").catch(() => "");
    if (members.some((m) => cmd.includes(`--data-dir=${m.dataDir}`))) found.push(Number(entry));
  }
  return found;
}

async function stopAll(pids: number[]): Promise<void> {
  for (const pid of pids) if (running(pid)) process.kill(pid, "SIGTERM");
  const deadline = Date.now() + 10_000;
  while (pids.some(running) && Date.now() < deadline) await sleep(50);
  for (const pid of pids) if (running(pid)) process.kill(pid, "SIGKILL");
}

/** The floor's members are not our children: once they exit they may linger as zombies, which count as stopped. */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return !/^\d+ \(.*\) [ZX]/.test(stat);
  } catch {
    return false;
  }
}
