/**
 * The full snapshot a new chain begins with (docs/design.md, "Chains"): the one-time pipeline on the writer's own
 * node (health gate, trailer check, archive, the local copy and the verified upload, manifest last), kind
 * `recurring` and named like a catch-up run, so that retention ages it out with the schedule's. It waits for a save
 * that is going (one save at a time per node); a restore holding the node makes it fail, and the writer steps down.
 */
import { recurringName } from "../schedule/plan.js";
import { refreshListingIndex } from "../snapshot/catalog.js";
import type { SaveFlight } from "../snapshot/flight.js";
import { saveSnapshot, type SaveDeps, type SnapshotSource } from "../snapshot/save.js";
import { saveOptions, type SaveSettings } from "../snapshot/save-options.js";
import type { Store } from "../store/store.js";
import type { Logger } from "../util/log.js";

export interface BaseDeps {
  node: string;
  version: string;
  etcd: SnapshotSource;
  local: Store;
  flight: SaveFlight;
  log: Logger;
  clock: () => Date;
  sleep: SaveDeps["sleep"];
}

const WAIT_FOR_SAVE_MS = 10 * 60_000;

export async function saveChainBase(
  store: Store,
  settings: SaveSettings & { timeoutSeconds: number },
  deps: BaseDeps,
  signal: AbortSignal,
): Promise<{ name: string; revision: number; clusterId: string }> {
  const now = deps.clock();
  const name = recurringName({ slot: now, catchUp: true }, now);
  const release = await deps.flight.acquire(name, "recurring", {
    waitMs: WAIT_FOR_SAVE_MS,
    mayWait: (holder) => holder.kind !== "restore",
    signal,
  });
  if (!release)
    throw new Error(`cannot take the chain's base snapshot: ${deps.flight.current ?? "a save"} holds the node`);
  try {
    const run = { name, kind: "recurring" as const, node: deps.node, version: deps.version, signal };
    const timed = { ...run, signal: AbortSignal.any([signal, AbortSignal.timeout(settings.timeoutSeconds * 1000)]) };
    const result = await saveSnapshot(saveOptions(settings, timed), {
      source: deps.etcd,
      local: deps.local,
      remote: store,
      log: deps.log.child({ snapshot: name, purpose: "log base" }),
      clock: deps.clock,
      sleep: deps.sleep,
    });
    if (!result.upload?.ok)
      throw new Error(`the chain's base snapshot ${name} was not uploaded: ${result.upload?.error ?? "no upload"}`);
    await refreshListingIndex(store, deps.log);
    return { name, revision: result.manifest.etcd.revision, clusterId: result.manifest.clusterId };
  } finally {
    release();
  }
}
