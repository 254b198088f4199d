/** Request bodies of the agent API, validated at the edge (docs/design.md "Agent API"). */
import { z } from "zod";

export const S3Settings = z.object({
  endpoint: z.string().min(1),
  bucket: z.string().min(1),
  region: z.string().optional(),
  folder: z.string().optional(),
  accessKey: z.string().optional(),
  secretKey: z.string().optional(),
  sessionToken: z.string().optional(),
  customCaPem: z.string().optional(),
  addressing: z.enum(["auto", "path", "virtual"]).optional(),
  proxy: z.string().optional(),
});
export type S3Settings = z.infer<typeof S3Settings>;

export const SaveRequest = z.object({
  name: z.string().min(1).max(200),
  kind: z.enum(["one-time", "recurring"]).default("one-time"),
  /** The cluster state file, base64, embedded as `/etc/kubernetes/<name>.rkestate`. */
  stateFile: z.string().optional(),
  compression: z.enum(["deflate", "store"]).default("deflate"),
  level: z.number().int().min(0).max(9).optional(),
  retries: z.number().int().min(0).max(20).default(4),
  retryPauseSeconds: z.number().min(0).max(600).default(15),
  /** Present only on the node chosen to upload. */
  s3: S3Settings.optional(),
});
export type SaveRequest = z.infer<typeof SaveRequest>;

export const UploadRequest = z.object({ s3: S3Settings });

/** Events of the newline-delimited JSON response of POST /v1/snapshots. */
export type SaveEvent =
  | { type: "progress"; bytes: number }
  | { type: "result"; result: unknown }
  | { type: "error"; error: string; kind: string };
