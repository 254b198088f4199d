/**
 * Fills one etcd member with Kubernetes-like objects until its database reaches a target size, through the
 * project's own etcd client: puts in parallel with a bounded number in flight, so that etcd batches them into few
 * commits (the fill is the slowest part of a benchmark run, and its speed does not count).
 */
import type { EtcdMemberClient } from "../../src/etcd/client.js";
import { DEFAULT_MIX, kubeObject, prng, type ValueMix } from "./values.js";

export interface FillOptions {
  /** Stop once etcd reports a database (dbSize) of at least this many bytes. */
  targetBytes: number;
  /** Puts in flight at once (default 32). */
  concurrency?: number;
  mix?: ValueMix;
  seed?: number;
  /** Number of the first object (a second fill continues the first one's keys instead of overwriting them). */
  firstIndex?: number;
  /** Called now and then with the database size so far. */
  onProgress?: (dbSize: number) => void;
}

export interface FillResult {
  keys: number;
  /** Sum of the values written. */
  valueBytes: number;
  incompressibleBytes: number;
  /** etcd's database size at the end (Status.dbSize). */
  dbSize: number;
  durationMs: number;
}

/** Puts between two size checks; a check is one Status call, cheap next to ~50 KB puts. */
const CHECK_EVERY = 128;

/**
 * Puts objects until Status.dbSize >= targetBytes. Resolves with what was written; rejects with the first put that
 * failed (e.g. etcd's NOSPACE alarm when the target is above the member's quota).
 */
export async function fillEtcd(client: EtcdMemberClient, options: FillOptions): Promise<FillResult> {
  const started = Date.now();
  const mix = options.mix ?? DEFAULT_MIX;
  const rand = prng(options.seed ?? 42);
  const result: FillResult = { keys: 0, valueBytes: 0, incompressibleBytes: 0, dbSize: 0, durationMs: 0 };
  result.dbSize = (await client.status()).dbSize;
  let next = options.firstIndex ?? 0;
  let checking: Promise<void> | undefined;
  const done = () => result.dbSize >= options.targetBytes;
  const check = () =>
    (checking ??= client
      .status()
      .then((s) => {
        result.dbSize = s.dbSize;
        options.onProgress?.(s.dbSize);
      })
      .finally(() => (checking = undefined)));
  const worker = async () => {
    while (!done()) {
      const i = next++;
      const obj = kubeObject(i, mix, rand);
      await client.put(obj.key, obj.value);
      result.keys++;
      result.valueBytes += obj.value.length;
      if (obj.incompressible) result.incompressibleBytes += obj.value.length;
      if (i % CHECK_EVERY === 0) await check();
    }
  };
  await Promise.all(Array.from({ length: options.concurrency ?? 32 }, worker));
  result.dbSize = (await client.status()).dbSize;
  result.durationMs = Date.now() - started;
  return result;
}
