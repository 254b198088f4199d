/** Naming an S3 target and reading its endpoint, without loading the AWS SDK (the CLI names targets in messages). */
import { parseS3Endpoint } from "../config/endpoints.js";
import type { S3Settings } from "../config/s3-settings.js";
import { UserError } from "../util/errors.js";
import { redactText } from "../util/redact.js";

/**
 * "s3://bucket/folder (endpoint)" without credentials. Never throws: an endpoint that does not parse is named as
 * written, and the store's first call reports it.
 */
export function s3Location(settings: Pick<S3Settings, "endpoint" | "bucket" | "folder" | "region">): string {
  const folder = normaliseFolder(settings.folder ?? "");
  return redactText(`s3://${settings.bucket}${folder ? `/${folder}` : ""} (${origin(settings)})`);
}

function origin(settings: Pick<S3Settings, "endpoint" | "region">): string {
  let url: URL | undefined;
  try {
    url = parseEndpoint(settings.endpoint);
  } catch {
    return settings.endpoint.trim();
  }
  return url ? url.origin : `https://s3.${settings.region || "us-east-1"}.amazonaws.com`;
}

/**
 * The endpoint's URL, read by the same rules as cluster.yml (parseS3Endpoint: "host[:port]" means https, as in RKE);
 * undefined for "" (AWS). Throws UserError for anything cluster.yml would refuse.
 */
export function parseEndpoint(endpoint: string): URL | undefined {
  const trimmed = endpoint.trim();
  if (trimmed === "") return undefined;
  const parsed = parseS3Endpoint(trimmed);
  if (!parsed.ok) throw new UserError(`invalid S3 endpoint: ${redactText(parsed.message)}`);
  return new URL(parsed.value);
}

export function normaliseFolder(folder: string): string {
  return folder.split("/").filter(Boolean).join("/");
}
