/** The save pipeline's options from what an operator's request or a pushed schedule asks for (the same fields). */
import type { SaveOptions } from "./save.js";
import type { SaveEncryption } from "./seal.js";

export interface SaveSettings {
  /** The cluster state file, base64. */
  stateFile?: string | undefined;
  compression: "deflate" | "store";
  level?: number | undefined;
  retries: number;
  retryPauseSeconds: number;
  encryption?: SaveEncryption | undefined;
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
    retries: settings.retries,
    retryPauseMs: settings.retryPauseSeconds * 1000,
    toolVersion: run.version,
    signal: run.signal,
    encryption: settings.encryption,
  };
}
