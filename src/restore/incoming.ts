/**
 * A copy arriving into a node's restore folder, and the snapshot extracted out of it while it arrives: the serving
 * node's download (source.ts) and a peer's fetch (steps.ts) are the same pipeline (docs/design.md, "The restore
 * pipeline").
 */
import { extractSnapshotStreaming, type ExtractResult, type StreamingExtractOptions } from "../archive/rke.js";
import type { GrowingFile } from "../util/growing-file.js";

/**
 * A copy on its way into the restore folder (or already there): `file` grows as it arrives, `arrived` resolves once
 * it is whole and checked (it is then committed under `file.path`), `cancel` stops the transfer.
 */
export interface Incoming {
  file: GrowingFile;
  arrived: Promise<void>;
  cancel(reason: unknown): void;
}

/**
 * Extracts the snapshot from `incoming` as it arrives (extractSnapshotStreaming). An extraction that fails stops the
 * transfer; a transfer that fails fails the extraction, and its error is the one thrown (it says why first).
 */
export async function extractArriving(
  incoming: Incoming,
  o: Omit<StreamingExtractOptions, "source" | "whole">,
): Promise<ExtractResult> {
  const extracting = extractSnapshotStreaming({
    ...o,
    source: incoming.file.reader(),
    whole: () => incoming.arrived.then(() => incoming.file.path),
  });
  extracting.catch((err: unknown) => incoming.cancel(err));
  const [arrived, extracted] = await Promise.allSettled([incoming.arrived, extracting]);
  if (arrived.status === "rejected") throw arrived.reason;
  if (extracted.status === "rejected") throw extracted.reason;
  return extracted.value;
}

/** `incoming.cancel` for a transfer read from `body`: it is destroyed with the reason. */
export function cancelling(body: { destroy(err?: Error): unknown }): (reason: unknown) => void {
  return (reason) => void body.destroy(reason instanceof Error ? reason : new Error(String(reason)));
}
