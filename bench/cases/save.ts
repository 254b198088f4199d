/**
 * Cases 1-4 in one loop, so that every subject and its baseline run back to back under the same machine load:
 *   lifeboat-local  `lifeboat etcd snapshot-save` on the 1-node sandbox, cluster.yml without S3
 *   lifeboat-s3     the same with the sandbox's S3 (the node uploads while it streams)
 *   etcdctl         `etcdctl snapshot save` of the same member with the agent's TLS files
 *   zip             Debian's `zip` of etcdctl's file, run right after it (RKE's helper: save, then compress)
 *   lifeboat-s3-encrypted  lifeboat-s3 with lifeboat.encryption: the S3 copy goes through age (case "encrypted")
 *   lifeboat-local-store   lifeboat-local with `compression: none` (the archive stores the snapshot as it is)
 * Iteration 0 is the warm-up; the order of subjects rotates each iteration so that none always runs first.
 * The agent's peak RSS is reset before each Lifeboat save and read after it (case 4).
 */
import { rm, stat } from "node:fs/promises";
import { join } from "node:path";
import type { EtcdTools } from "../../src/etcd/binaries.js";
import { measureOk } from "../lib/proc.js";
import type { Sample, Series } from "../lib/results.js";
import { lifeboatOk, type BenchSandbox } from "../lib/sandbox.js";

export type SaveSubject =
  "lifeboat-local" | "lifeboat-local-store" | "lifeboat-s3" | "lifeboat-s3-encrypted" | "etcdctl" | "zip";

export interface SaveLoopOptions {
  sandbox: BenchSandbox;
  tools: EtcdTools;
  /** cluster.yml without S3. */
  localConfig: string;
  /** cluster.yml without S3 and with `lifeboat.snapshot.compression: none`, for lifeboat-local-store. */
  storeConfig?: string;
  /** cluster.yml with lifeboat.encryption (one recipient), for lifeboat-s3-encrypted. */
  encryptedConfig?: string;
  subjects: ReadonlySet<SaveSubject>;
  runs: number;
  /** Where etcdctl's file and zip's archive go (same disk as the sandbox's snapshot directory). */
  workDir: string;
  /** Removes a Lifeboat snapshot (local copy and S3 copy) between runs, outside the measured time. */
  removeSnapshot: (name: string) => Promise<void>;
  log: (line: string) => void;
  /** Part of every snapshot name, so that two loops on one sandbox never reuse a name. */
  tag?: string;
}

export interface SaveLoopResult {
  series: Partial<Record<SaveSubject, Series>>;
  /** The last Lifeboat archive kept (for the restore case), and etcdctl's last file (for compression). */
  keptSnapshot?: string;
  snapshotFile?: string;
}

const ORDER: readonly SaveSubject[] = [
  "lifeboat-local",
  "etcdctl",
  "lifeboat-local-store",
  "lifeboat-s3",
  "lifeboat-s3-encrypted",
];

export async function runSaveLoop(o: SaveLoopOptions): Promise<SaveLoopResult> {
  const samples = new Map<SaveSubject, Sample[]>();
  const add = (s: SaveSubject, sample: Sample) => samples.set(s, [...(samples.get(s) ?? []), sample]);
  const agentPid = o.sandbox.info.nodes[0]!.pid;
  const dbFile = join(o.workDir, "etcdctl-snapshot.db");
  const zipFile = join(o.workDir, "etcdctl-snapshot.zip");
  let kept: string | undefined;
  const order = ORDER.filter((s) => o.subjects.has(s) || (s === "etcdctl" && o.subjects.has("zip")));
  for (let i = 0; i <= o.runs; i++) {
    const rotated = [...order.slice(i % order.length), ...order.slice(0, i % order.length)];
    for (const subject of rotated) {
      if (subject === "etcdctl") {
        add("etcdctl", await etcdctlSave(o, dbFile));
        if (o.subjects.has("zip")) add("zip", await zipSave(dbFile, zipFile));
        continue;
      }
      const name = `bench-${o.tag ?? "main"}-${subject}-${i}`;
      const config =
        subject === "lifeboat-local"
          ? o.localConfig
          : subject === "lifeboat-local-store"
            ? (o.storeConfig ?? assertNever("storeConfig"))
            : subject === "lifeboat-s3-encrypted"
              ? (o.encryptedConfig ?? assertNever("encryptedConfig"))
              : o.sandbox.config;
      add(subject, await lifeboatSave(config, name, agentPid));
      // An encrypted copy never becomes the kept one (the restore case has no identity), nor a stored one.
      if (subject === "lifeboat-s3-encrypted" || subject === "lifeboat-local-store") {
        await o.removeSnapshot(name);
        continue;
      }
      // The last Lifeboat save stays (the restore case uses it); every other one goes, so disks stay small.
      if (kept !== undefined) await o.removeSnapshot(kept);
      kept = name;
    }
    const line = [...samples].map(([s, v]) => `${s} ${(v.at(-1)!.wallMs / 1000).toFixed(1)}s`).join(", ");
    o.log(`  ${i === 0 ? "warm-up" : `run ${i}/${o.runs}`}: ${line}`);
  }
  const series: SaveLoopResult["series"] = {};
  for (const [subject, list] of samples) series[subject] = { label: subject, warmup: list[0]!, runs: list.slice(1) };
  return {
    series,
    ...(kept !== undefined ? { keptSnapshot: kept } : {}),
    ...(samples.has("etcdctl") ? { snapshotFile: dbFile } : {}),
  };
}

function assertNever(what: string): never {
  throw new Error(`the save loop needs ${what}`);
}

async function lifeboatSave(config: string, name: string, agentPid: number): Promise<Sample> {
  const m = await lifeboatOk(["--output", "json", "etcd", "snapshot-save", "--config", config, "--name", name], {
    watch: [agentPid],
  });
  const report = JSON.parse(m.stdout) as {
    nodes: { size?: number; memberMs?: number }[];
    s3?: { ok: boolean; reason?: string };
  };
  if (report.s3 && !report.s3.ok)
    throw new Error(`snapshot-save ${name}: S3 upload failed: ${report.s3.reason ?? "?"}`);
  return {
    wallMs: m.wallMs,
    peakRss: m.peakRss,
    agentRss: m.watched[agentPid] ?? 0,
    agentCpuMs: m.watchedCpuMs[agentPid] ?? 0,
    agentStartRss: m.watchedStartRss[agentPid] ?? 0,
    bytes: report.nodes[0]?.size ?? 0,
    ...(report.nodes[0]?.memberMs !== undefined ? { memberMs: report.nodes[0].memberMs } : {}),
  };
}

/** Saves the member's snapshot to `file` using etcdctl and the agent's TLS files. */
export async function etcdctlSave(o: Pick<SaveLoopOptions, "sandbox" | "tools">, file: string): Promise<Sample> {
  await rm(file, { force: true });
  const tls = o.sandbox.clientTls(0);
  const m = await measureOk(
    o.tools.etcdctl,
    [
      `--endpoints=https://${o.sandbox.info.nodes[0]!.host}:2379`,
      `--cacert=${tls.caFile}`,
      `--cert=${tls.certFile}`,
      `--key=${tls.keyFile}`,
      "snapshot",
      "save",
      file,
    ],
    { env: { ETCDCTL_API: "3" } },
  );
  return { wallMs: m.wallMs, peakRss: m.peakRss, bytes: (await stat(file)).size };
}

async function zipSave(input: string, output: string): Promise<Sample> {
  await rm(output, { force: true });
  // -j: store the file without its directory, as RKE's helper stores one entry per file.
  const m = await measureOk("/usr/bin/zip", ["-q", "-j", output, input]);
  const bytes = (await stat(output)).size;
  await rm(output, { force: true });
  return { wallMs: m.wallMs, peakRss: m.peakRss, bytes };
}
