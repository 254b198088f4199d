/**
 * Reading and writing the state file. Reads keep the parsed JSON as it was (field order, unknown fields) and only
 * validate it; writes are pretty JSON (2 spaces, as RKE writes it), mode 0600, atomic.
 */
import { writeFileAtomic } from "../util/fs.js";
import { parseJsonText, readJsonText } from "./json-file.js";
import { ClusterStateSchema } from "./state-schema.js";
import type { ClusterState } from "./state-schema.js";

/** Reads the state file at `path`: undefined when it does not exist; ConfigError when it is not valid. */
export async function readState(path: string): Promise<ClusterState | undefined> {
  const text = await readJsonText(path);
  return text === undefined ? undefined : parseState(text, path);
}

/** Parses state file text (`path` names it in messages). Unknown fields are kept as they were. */
export function parseState(text: string, path: string): ClusterState {
  // The validated input, not zod's copy: the copy would reorder keys.
  return parseJsonText(text, path, ClusterStateSchema).input as ClusterState;
}

/** Writes `state` to `path` as RKE does (2-space JSON, mode 0600), atomically: readers see the old or the new file. */
export async function writeState(path: string, state: ClusterState): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(state, null, 2), 0o600);
}
