/**
 * Verified uploads to S3. The body streams once: through our digests (whole MD5, sha256, MD5 per 5 MiB part) into
 * lib-storage's `Upload`, which cuts the same 5 MiB parts (a single PutObject when the body fits in one part) and
 * retries each request. Afterwards HeadObject must report the same size and an ETag matching the digests; when the
 * ETag is no MD5 (SSE-KMS, SSE-C, other servers) the object is read back and its sha256 compared instead.
 * Memory stays near QUEUE_SIZE + 1 parts whatever the body size.
 */
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import {
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  type HeadObjectCommandOutput,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { chunksOf } from "../util/chunks.js";
import { ChecksumMismatchError, RemoteError, describeError } from "../util/errors.js";
import { redactText } from "../util/redact.js";
import { type BodyDigest, StreamDigest, expectedEtags, meteredBody } from "./digest.js";
import type { S3Connection } from "./s3-client.js";
import { abortError, type PutOptions, type Verification } from "./store.js";

/**
 * Fixed, so that our per-part MD5s line up with the parts the SDK sends. S3's smallest part, two in flight: the
 * agent holds about 15 MiB of parts during an upload (24 MiB more with 8 MiB parts three at a time), and 10,000
 * parts still reach 48 GiB, far above etcd's 8 GiB limit. Nothing stored depends on it: an upload's ETags are
 * checked against the part size it was sent with.
 */
export const PART_SIZE = 5 * 1024 * 1024;
const QUEUE_SIZE = 2;

interface Target {
  conn: S3Connection;
  bucket: string;
  key: string;
}

/**
 * Uploads `body` to `bucket/key` and verifies it. On any failure nothing is left under key: an unfinished multipart
 * upload is aborted, and an object that fails verification (or was completed after the caller aborted) is deleted
 * before the error is thrown. An abort stops reading the body at once, but part requests already in flight finish
 * (bounded by the request timeout) before the upload is abandoned. SDK errors are thrown unclassified.
 */
export async function uploadVerified(
  conn: S3Connection,
  bucket: string,
  key: string,
  body: Readable | Uint8Array,
  opts: PutOptions,
): Promise<{ size: number; verified: Verification }> {
  const target = { conn, bucket, key };
  const { signal } = opts;
  const digest = new StreamDigest(PART_SIZE);
  const { stream, release } = meteredBody(body, digest, opts);
  const upload = new Upload({
    client: conn.client,
    params: { Bucket: bucket, Key: key, Body: stream, ContentType: opts.contentType ?? "application/octet-stream" },
    partSize: PART_SIZE,
    queueSize: QUEUE_SIZE,
    // We abort an unfinished multipart upload ourselves: lib-storage would throw the abort's own failure (s3rver
    // answers 405) in place of the error that stopped the upload.
    leavePartsOnError: true,
  });
  try {
    await upload.done();
  } catch (err) {
    await abandonMultipart(target, upload.uploadId);
    throw err;
  } finally {
    release();
  }
  const d = digest.digest();
  if (signal?.aborted) {
    await removeAfterFailure(target);
    throw abortError(signal);
  }
  return { size: d.size, verified: await verify(target, d) };
}

async function verify(t: Target, d: BodyDigest): Promise<Verification> {
  const abortSignal = AbortSignal.timeout(t.conn.timeouts.requestMs);
  const head = await t.conn.client.send(new HeadObjectCommand({ Bucket: t.bucket, Key: t.key }), { abortSignal });
  if (head.ContentLength !== d.size) {
    return mismatch(t, `it has ${head.ContentLength ?? "no"} bytes where ${d.size} were sent`);
  }
  const etag = (head.ETag ?? "").replace(/"/g, "");
  if (etagIsMd5(head, etag)) {
    const expected = expectedEtags(d, PART_SIZE);
    if (expected.includes(etag)) return "etag-md5";
    return mismatch(t, `its ETag is ${etag} where ${expected.join(" or ")} was expected`);
  }
  const sha256 = await readBackSha256(t);
  if (sha256 === d.sha256Hex) return "reread";
  return mismatch(t, `reading it back gave sha256 ${sha256} where ${d.sha256Hex} was sent`);
}

/** SSE-KMS and SSE-C objects carry an ETag that is not an MD5 of the data, even when it looks like one. */
function etagIsMd5(head: HeadObjectCommandOutput, etag: string): boolean {
  if (head.SSECustomerAlgorithm) return false;
  if (head.ServerSideEncryption?.startsWith("aws:kms")) return false;
  return /^[0-9a-f]{32}(-\d+)?$/.test(etag);
}

async function readBackSha256(t: Target): Promise<string> {
  // No total timeout: the handler's request timeout bounds the wait for headers, its idle timeout the transfer.
  const out = await t.conn.client.send(new GetObjectCommand({ Bucket: t.bucket, Key: t.key }));
  if (!(out.Body instanceof Readable)) throw new RemoteError(`S3 returned no body when reading back ${t.key}`, true);
  const hash = createHash("sha256");
  for await (const chunk of chunksOf(out.Body)) hash.update(chunk);
  return hash.digest("hex");
}

async function mismatch(t: Target, what: string): Promise<never> {
  const removal = await removeAfterFailure(t);
  throw new ChecksumMismatchError(`uploaded object ${t.key} does not match what was sent: ${what}; ${removal}`);
}

/**
 * Best effort: parts of an upload that cannot be aborted stay invisible to GET and LIST, but on AWS they are billed
 * until a lifecycle rule ("AbortIncompleteMultipartUpload") removes them.
 */
async function abandonMultipart(t: Target, uploadId: string | undefined): Promise<void> {
  if (uploadId === undefined) return;
  const abortSignal = AbortSignal.timeout(t.conn.timeouts.requestMs);
  await t.conn.client
    .send(new AbortMultipartUploadCommand({ Bucket: t.bucket, Key: t.key, UploadId: uploadId }), { abortSignal })
    .catch(() => undefined);
}

async function removeAfterFailure(t: Target): Promise<string> {
  try {
    const abortSignal = AbortSignal.timeout(t.conn.timeouts.requestMs);
    await t.conn.client.send(new DeleteObjectCommand({ Bucket: t.bucket, Key: t.key }), { abortSignal });
    return "it was deleted";
  } catch (err) {
    return `deleting it failed too (${redactText(describeError(err))})`;
  }
}
