/**
 * The one reader for Lifeboat's own JSON files (the state file, agent.json, the pushed schedule): read, parse and
 * check against a schema, with every failure a ConfigError that names the file and each bad key.
 */
import { readFile } from "node:fs/promises";
import type { z } from "zod";
import { ConfigError } from "../util/errors.js";
import { formatPath, issueMessage } from "./report.js";

/** The file's text; undefined when it does not exist; ConfigError when it cannot be read. */
export async function readJsonText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new ConfigError([{ path: "", message: `cannot read ${path}: ${(err as Error).message}` }], path);
  }
}

/**
 * Parses `text` (the content of `path`) and checks it against `schema`. Returns the schema's output (defaults
 * filled in) and the input as it was, for a caller that must keep its field order and unknown fields.
 */
export function parseJsonText<S extends z.ZodType>(
  text: string,
  path: string,
  schema: S,
): { data: z.output<S>; input: unknown } {
  let input: unknown;
  try {
    input = JSON.parse(text);
  } catch (err) {
    throw new ConfigError([{ path: "", message: `${path}: not valid JSON (${(err as Error).message})` }], path);
  }
  const result = schema.safeParse(input, { error: issueMessage });
  if (!result.success) {
    throw new ConfigError(
      result.error.issues.map((i) => ({ path: formatPath(i.path) || path, message: i.message })),
      path,
    );
  }
  return { data: result.data, input };
}

/** Reads and checks `path`: undefined when it does not exist; ConfigError when it is unreadable or not valid. */
export async function readJsonFile<S extends z.ZodType>(path: string, schema: S): Promise<z.output<S> | undefined> {
  const text = await readJsonText(path);
  return text === undefined ? undefined : parseJsonText(text, path, schema).data;
}
