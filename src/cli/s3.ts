/** Turning the resolved S3 target into the settings agents and stores take, and opening the S3 store. */
import type { S3Settings } from "../agent/api.js";
import type { S3Target } from "../config/cluster.js";
import { S3Store } from "../store/s3.js";
import { registerSecret } from "../util/redact.js";

export function s3Settings(target: S3Target): S3Settings {
  registerSecret(target.accessKey);
  registerSecret(target.secretKey);
  registerSecret(target.sessionToken);
  const s: S3Settings = { endpoint: target.endpointUrl, bucket: target.bucketName, addressing: target.addressing };
  if (target.region) s.region = target.region;
  if (target.folder) s.folder = target.folder;
  if (target.accessKey) s.accessKey = target.accessKey;
  if (target.secretKey) s.secretKey = target.secretKey;
  if (target.sessionToken) s.sessionToken = target.sessionToken;
  if (target.customCaPEM) s.customCaPem = target.customCaPEM;
  if (target.proxy) s.proxy = target.proxy;
  return s;
}

export function openS3(target: S3Target): S3Store {
  return new S3Store(s3Settings(target));
}

/** `s3://bucket/folder (endpoint)`, without credentials. */
export function describeS3(target: S3Target): string {
  return `s3://${target.bucketName}${target.folder ? `/${target.folder}` : ""} (${target.endpointUrl})`;
}
