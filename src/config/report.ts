/** Collects every problem found while checking a config, so the user sees all of them at once. */
import type { z } from "zod";
import type { ConfigIssue } from "./types.js";

export type Report = { issues: ConfigIssue[]; warnings: string[] };

export function newReport(): Report {
  return { issues: [], warnings: [] };
}

/** Formats a zod-style path (`["nodes", 1, "address"]`) as `nodes[1].address`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else out += out === "" ? String(part) : `.${String(part)}`;
  }
  return out;
}

const EXPECTED: Record<string, string> = {
  string: "a string",
  number: "a number",
  int: "a whole number",
  boolean: "true or false",
  array: "a list",
  object: "a mapping",
  record: "a mapping",
};

/** Default wording for issues whose schema has no message of its own; never echoes values (they may be secrets). */
export function issueMessage(issue: z.core.$ZodRawIssue): string | undefined {
  if (issue.code === "invalid_type") {
    if (issue.input === undefined) return "required";
    return `must be ${EXPECTED[issue.expected] ?? issue.expected} (found ${kindOf(issue.input)})`;
  }
  return undefined;
}

function kindOf(value: unknown): string {
  if (Array.isArray(value)) return "a list";
  if (value === null) return "nothing";
  if (typeof value === "object") return "a mapping";
  if (typeof value === "boolean") return "true/false";
  return typeof value === "number" ? "a number" : "text";
}
