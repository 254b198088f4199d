/**
 * What the point-in-time tests share: a sandbox with the revision log on (S3, one segment a second), a seeded
 * random workload of every kind of etcd write, the keyspace as `etcdctl get --prefix ""` shows it (keys, values,
 * create and mod revisions, versions, leases), and waiting for the log to reach a revision.
 */
import assert from "node:assert/strict";
import type { EtcdMemberClient } from "../../src/etcd/client.js";
import { listChains, type ChainView } from "../../src/pitr/catalog.js";
import type { Store } from "../../src/store/store.js";
import { operatorOf, type ConfigDoc } from "./operator.js";
import { waitFor, type TestSandbox } from "./sandbox.js";

/** The workload's keys: the agents' own keys (under /lifeboat/) change after a restore, these do not. */
export const PREFIX = "/pitr/";

export interface KeyState {
  key: string;
  value: string;
  create: number;
  mod: number;
  version: number;
  lease: string;
}

/** The workload's keyspace at `revision` (the newest when absent), in key order. */
export async function keyspace(client: EtcdMemberClient, revision?: number): Promise<KeyState[]> {
  const at = await client.rangeAll(revision === undefined ? {} : { revision });
  return at.kvs
    .map((kv) => ({
      key: kv.key.toString("utf8"),
      value: kv.value.toString("base64"),
      create: kv.createRevision,
      mod: kv.modRevision,
      version: kv.version,
      lease: kv.lease,
    }))
    .filter((k) => k.key.startsWith(PREFIX));
}

/** A small seeded generator (mulberry32): the same seed gives the same workload. */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * `ops` writes of every kind: puts (some on a lease), deletes, range deletes, multi-key transactions, and one lease
 * revoked with keys on it. Returns every revision that exists after the workload began.
 */
export async function workload(client: EtcdMemberClient, rng: () => number, ops: number): Promise<number[]> {
  const keys = Array.from({ length: 24 }, (_, i) => `${PREFIX}k${String(i).padStart(2, "0")}`);
  const pick = () => keys[Math.floor(rng() * keys.length)]!;
  const value = () => Buffer.from(`v${Math.floor(rng() * 1e9).toString(36)}`.repeat(1 + Math.floor(rng() * 4)));
  const long = await client.leaseGrant(3600);
  let short: string | undefined = await client.leaseGrant(3600);
  const revisions: number[] = [];
  const note = async () => revisions.push((await client.status()).revision);
  for (let i = 0; i < ops; i++) {
    const r = rng();
    if (i === Math.floor(ops / 2) && short) {
      await client.leaseRevoke(short);
      short = undefined;
    } else if (r < 0.4) await client.put(pick(), value());
    else if (r < 0.5) await client.put(pick(), value(), rng() < 0.5 || !short ? long : short);
    else if (r < 0.62) await client.txnApply([{ type: "delete", key: Buffer.from(pick()) }]);
    else if (r < 0.7) await client.deletePrefix(`${PREFIX}k${Math.floor(rng() * 3)}`);
    else {
      const chosen = [...new Set(Array.from({ length: 2 + Math.floor(rng() * 3) }, pick))];
      await client.txnApply(
        chosen.map((k) =>
          rng() < 0.75
            ? { type: "put" as const, key: Buffer.from(k), value: value(), ...(rng() < 0.3 ? { lease: long } : {}) }
            : { type: "delete" as const, key: Buffer.from(k) },
        ),
      );
    }
    await note();
  }
  return [...new Set(revisions)];
}

/** `probe` as waitFor runs it, failing with the agents' logs attached. */
export async function waitLogged<T>(
  sb: TestSandbox,
  what: string,
  probe: () => Promise<T | undefined | false>,
  timeoutMs = 60_000,
): Promise<T> {
  try {
    return await waitFor(what, probe, timeoutMs);
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${await sb.agentsReport(12)}`, { cause: err });
  }
}

/** The chains in S3 once the newest one of `clusterId` (any, when absent) has reached `revision`. */
export async function logReaches(s3: Store, revision: number, clusterId?: string): Promise<ChainView[]> {
  return waitFor(
    `the revision log to reach revision ${revision}`,
    async () => {
      const chains = await listChains(s3);
      const mine = chains.filter((c) => c.doc && (!clusterId || c.doc.clusterId === clusterId));
      return (mine.at(-1)?.reached ?? 0) >= revision ? chains : undefined;
    },
    60_000,
  );
}

/** Turns the revision log on (one segment a second) with a daily schedule, and pushes it. */
export async function enableLog(sb: () => TestSandbox, interval = "1s"): Promise<void> {
  const { editConfig, ok } = operatorOf(sb);
  await editConfig((doc: ConfigDoc) => {
    doc.lifeboat!.snapshot = { retries: 0, retry_pause_seconds: 0 };
    doc.lifeboat!.schedule = { interval: "24h", stale_after: "48h" };
    doc.lifeboat!.continuous = { enabled: true, interval };
  });
  const push = await ok(["etcd", "schedule", "push", "--jitter", "0s"]);
  assert.match(push.stdout, /revision log/i, push.stdout);
}

/** `snapshot-restore` to a point, failing the test with its output unless it exits 0. */
export async function restoreTo(sb: () => TestSandbox, flags: string[]): Promise<string> {
  const { lifeboat } = operatorOf(sb);
  const run = await lifeboat(["etcd", "snapshot-restore", ...flags, "--yes"]);
  assert.equal(run.code, 0, `snapshot-restore ${flags.join(" ")} exited ${run.code}:\n${run.stdout}\n${run.stderr}`);
  return run.stdout + run.stderr;
}
