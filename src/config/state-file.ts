/**
 * Reading and writing the state file. Reads keep the parsed JSON as it was (field order, unknown fields) and only
 * validate it; writes are pretty JSON (2 spaces, as RKE writes it), mode 0600, atomic.
 */
import { readFile } from "node:fs/promises";
import { ConfigError } from "../util/errors.js";
import { writeFileAtomic } from "../util/fs.js";
import { formatPath, issueMessage } from "./report.js";
import { ClusterStateSchema } from "./state-schema.js";
import type { ClusterState } from "./state-schema.js";

/** Reads the state file at `path`: undefined when it does not exist; ConfigError when it is not valid. */
export async function readState(path: string): Promise<ClusterState | undefined> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new ConfigError([{ path: "", message: `cannot read ${path}: ${(err as Error).message}` }], path);
  }
  return parseState(text, path);
}

/** Parses state file text (`path` names it in messages). Unknown fields are kept as they were. */
export function parseState(text: string, path: string): ClusterState {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ConfigError([{ path: "", message: `${path}: not valid JSON (${(err as Error).message})` }], path);
  }
  const result = ClusterStateSchema.safeParse(json, { error: issueMessage });
  if (!result.success) {
    throw new ConfigError(
      result.error.issues.map((i) => ({ path: formatPath(i.path) || path, message: i.message })),
      path,
    );
  }
  // The validated input, not zod's copy: the copy would reorder keys.
  return json as ClusterState;
}

/** Writes `state` to `path` as RKE does (2-space JSON, mode 0600), atomically: readers see the old or the new file. */
export async function writeState(path: string, state: ClusterState): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(state, null, 2), 0o600);
}
