/** The save pipeline's options from what an operator's request or a pushed schedule asks for (the same fields). */
import { availableParallelism } from "node:os";
import type { SaveOptions } from "./save.js";
import type { SaveEncryption } from "./seal.js";

export interface SaveSettings {
  /** The cluster state file, base64. */
  stateFile?: string | undefined;
  compression: "deflate" | "store";
  level?: number | undefined;
  threads?: number | undefined;
  retries: number;
  retryPauseSeconds: number;
  encryption?: SaveEncryption | undefined;
}

/** Deflate threads when a request or schedule names none: two, so that compression is not one core's work. */
export const DEFAULT_DEFLATE_THREADS = 2;

/** The threads a save deflates on: the asked number (or the default), never more than the node's cores. */
export function deflateThreads(asked: number | undefined, cores = availableParallelism()): number {
  return Math.max(1, Math.min(asked ?? DEFAULT_DEFLATE_THREADS, cores));
}

export function saveOptions(
  settings: SaveSettings,
  run: { name: string; kind: SaveOptions["kind"]; node: string; version: string; signal: AbortSignal },
): SaveOptions {
  return {
    name: run.name,
    kind: run.kind,
    node: run.node,
    stateFile: settings.stateFile === undefined ? undefined : Buffer.from(settings.stateFile, "base64"),
    compression: settings.compression,
    level: settings.level,
    threads: deflateThreads(settings.threads),
    retries: settings.retries,
    retryPauseMs: settings.retryPauseSeconds * 1000,
    toolVersion: run.version,
    signal: run.signal,
    encryption: settings.encryption,
  };
}
