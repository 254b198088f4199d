/**
 * Case 6: `lifeboat etcd snapshot-list` with 100 and 1,000 snapshots (manifest + small archive each) in S3, against
 * a bare ListObjectsV2 of the same folder; both whole processes. The snapshots are synthetic but their manifests
 * are valid (src/snapshot/manifest.ts) and their archives have the manifest's size, so every one lists as "ok".
 * The seed ends as an uploader's commit does, by rewriting the folder's listing index (refreshListingIndex).
 */
import { createHash, randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import {
  FORMAT_VERSION,
  archiveKey,
  manifestKey,
  serializeManifest,
  type Manifest,
} from "../../src/snapshot/manifest.js";
import { refreshListingIndex } from "../../src/snapshot/catalog.js";
import type { Store } from "../../src/store/store.js";
import { SANDBOX_BUCKET } from "../../src/sandbox/sandbox.js";
import { S3RVER_ACCESS_KEY } from "../../src/sandbox/s3server.js";
import { measureOk } from "../lib/proc.js";
import type { Sample, Series } from "../lib/results.js";
import { lifeboatOk, type BenchSandbox } from "../lib/sandbox.js";

const BARE_LIST = fileURLToPath(new URL("../tools/bare-list.js", import.meta.url));
export const LIST_COUNTS = [100, 1000] as const;
const ARCHIVE_BYTES = 4096;
const UPLOADS_IN_FLIGHT = 16;

export interface ListSeries {
  count: number;
  lifeboat: Series;
  bare: Series;
  /** What each side saw in its last run: snapshots listed "ok" from S3, keys listed. */
  listed: { snapshots: number; keys: number };
}

export async function runList(sandbox: BenchSandbox, runs: number, log: (line: string) => void): Promise<ListSeries[]> {
  const setups = [];
  for (const count of LIST_COUNTS) {
    const folder = `bench-list-${count}`;
    const started = Date.now();
    const store = sandbox.s3(folder);
    try {
      await seed(store, count);
      const indexed = await refreshListingIndex(store);
      if (!indexed.ok) throw new Error(`listing index not written: ${indexed.error}`);
    } finally {
      await store.close();
    }
    log(
      `  seeded ${count} snapshots in s3://${SANDBOX_BUCKET}/${folder} in ${((Date.now() - started) / 1000).toFixed(1)}s`,
    );
    const config = await sandbox.variant(`list${count}`, (doc) => {
      const s3 = doc.services.etcd.backup_config.s3backupconfig;
      if (s3) s3.folder = folder;
    });
    setups.push({
      count,
      folder,
      config,
      lifeboat: [] as Sample[],
      bare: [] as Sample[],
      listed: { snapshots: 0, keys: 0 },
    });
  }
  const env = { AWS_ACCESS_KEY_ID: S3RVER_ACCESS_KEY, AWS_SECRET_ACCESS_KEY: S3RVER_ACCESS_KEY };
  for (let i = 0; i <= runs; i++) {
    for (const s of setups) {
      const lb = await lifeboatOk(["--output", "json", "etcd", "snapshot-list", "--config", s.config]);
      const report = JSON.parse(lb.stdout) as { snapshots: { location: string; status: string }[] };
      s.listed.snapshots = report.snapshots.filter((x) => x.location === "s3" && x.status === "ok").length;
      s.lifeboat.push({ wallMs: lb.wallMs, peakRss: lb.peakRss });
      const bare = await measureOk(
        process.execPath,
        [BARE_LIST, sandbox.info.s3.endpoint, SANDBOX_BUCKET, `${s.folder}/`],
        { env },
      );
      s.listed.keys = (JSON.parse(bare.stdout) as { keys: number }).keys;
      s.bare.push({ wallMs: bare.wallMs, peakRss: bare.peakRss });
    }
    const line = setups.map((s) => `${s.count}: ${ms(s.lifeboat.at(-1)!)} vs ${ms(s.bare.at(-1)!)}`).join(", ");
    log(`  ${i === 0 ? "warm-up" : `run ${i}/${runs}`}: ${line}`);
  }
  return setups.map((s) => ({
    count: s.count,
    lifeboat: { label: `snapshot-list (${s.count})`, warmup: s.lifeboat[0]!, runs: s.lifeboat.slice(1) },
    bare: { label: `ListObjectsV2 (${s.count})`, warmup: s.bare[0]!, runs: s.bare.slice(1) },
    listed: s.listed,
  }));
}

function ms(s: Sample): string {
  return `${Math.round(s.wallMs)}ms`;
}

/** Puts `count` archives and their manifests, a few at a time, each verified by the store. */
async function seed(store: Store, count: number): Promise<void> {
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < count; i = next++) {
      const name = `bench_list_${String(i).padStart(5, "0")}`;
      const archive = randomBytes(ARCHIVE_BYTES);
      await store.put(archiveKey(name), archive);
      await store.put(manifestKey(name), Buffer.from(serializeManifest(syntheticManifest(name, i, archive))));
    }
  };
  await Promise.all(Array.from({ length: UPLOADS_IN_FLIGHT }, worker));
}

function syntheticManifest(name: string, i: number, archive: Buffer): Manifest {
  const sha = (b: Buffer | string) => createHash("sha256").update(b).digest("hex");
  return {
    formatVersion: FORMAT_VERSION,
    name,
    kind: i % 2 ? "recurring" : "one-time",
    clusterId: "cdf818194e3a8c32",
    node: "etcd-node1",
    memberId: "8e9e05c52164694d",
    createdAt: new Date(Date.UTC(2026, 0, 1) + i * 3_600_000).toISOString(),
    etcd: { version: "3.5.30", revision: 1000 + i, dbSize: 1 << 20 },
    snapshot: {
      entry: `/backup/${name}`,
      size: (1 << 20) + 32,
      sha256: sha(`${name}-snapshot`),
      dbSha256: sha(`${name}-db`),
    },
    archive: {
      file: archiveKey(name),
      format: "zip",
      compression: "deflate",
      size: archive.length,
      sha256: sha(archive),
    },
    stateFile: { included: false },
    encryption: null,
    tool: { name: "lifeboat", version: "0.1.0" },
  };
}
