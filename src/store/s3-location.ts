/** Naming an S3 target and reading its endpoint, without loading the AWS SDK (the CLI names targets in messages). */
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

/** "host[:port]" means https, as in RKE; returns undefined for "" (AWS). */
export function parseEndpoint(endpoint: string): URL | undefined {
  const trimmed = endpoint.trim();
  if (trimmed === "") return undefined;
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed) ? trimmed : `https://${trimmed}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch (err) {
    throw new UserError(`invalid S3 endpoint ${JSON.stringify(redactText(trimmed))}`, undefined, { cause: err });
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new UserError(`invalid S3 endpoint ${redactText(url.href)}: only http:// and https:// are supported`);
  }
  return url;
}

export function normaliseFolder(folder: string): string {
  return folder.split("/").filter(Boolean).join("/");
}
