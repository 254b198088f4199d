/** Request bodies of the agent API, validated at the edge (docs/design.md "Agent API"). */
import { z } from "zod";
import { validateSnapshotName } from "../archive/names.js";
import { S3Settings } from "../config/s3-settings.js";
import { HttpError } from "./http.js";

/**
 * A snapshot name as it arrives over the network: the same rule as for operator input (one safe path segment), but
 * recurring-style names are allowed (the scheduler made them). Every route that takes a name parses it with this.
 */
export const SnapshotName = z.string().superRefine((name, ctx) => {
  const why = validateSnapshotName(name, { allowRecurring: true });
  if (why) ctx.addIssue({ code: "custom", message: `invalid snapshot name ${JSON.stringify(name)}: ${why}` });
});

/** A restore session's id, chosen by the CLI. */
export const SessionId = z.string().regex(/^[0-9a-z-]{8,64}$/, "a session id is 8-64 of [0-9a-z-]");

/** A restore stamp (also part of data directory names), e.g. 20261127T101502Z. */
export const Stamp = z.string().regex(/^[0-9A-Za-z]{1,40}$/, "a stamp is 1-40 letters and digits");

/** S3 settings travel in request bodies exactly as the store takes them (one schema, src/config/s3-settings.ts). */
export { S3Settings };

export const SaveRequest = z.object({
  name: SnapshotName,
  kind: z.enum(["one-time", "recurring"]).default("one-time"),
  /** The cluster state file, base64, embedded as `/etc/kubernetes/<name>.rkestate`. */
  stateFile: z.string().optional(),
  compression: z.enum(["deflate", "store"]).default("deflate"),
  level: z.number().int().min(0).max(9).optional(),
  retries: z.number().int().min(0).max(20).default(4),
  retryPauseSeconds: z.number().min(0).max(600).default(15),
  /** Present only on the node chosen to upload. */
  s3: S3Settings.optional(),
  /** How long to wait for a recurring save that holds the node's flight (a restore is never waited for). */
  waitSeconds: z.number().min(0).max(3600).default(600),
});
export type SaveRequest = z.infer<typeof SaveRequest>;

export const UploadRequest = z.object({ s3: S3Settings });

/** Events of the newline-delimited JSON response of POST /v1/snapshots. */
export type SaveEvent =
  | { type: "progress"; bytes: number }
  | { type: "waiting"; for: string }
  | { type: "result"; result: unknown }
  | { type: "error"; error: string; kind: string };

/** Parses a URL parameter with its schema at the API boundary: a bad one is a 400 naming the parameter. */
export function parseParam<T extends z.ZodType>(schema: T, value: string | undefined, label: string): z.infer<T> {
  const parsed = schema.safeParse(value ?? "");
  if (!parsed.success) throw new HttpError(400, `${label}: ${parsed.error.issues[0]?.message ?? "invalid"}`);
  return parsed.data;
}
