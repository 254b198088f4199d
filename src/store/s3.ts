/**
 * A store in an S3 bucket (AWS or any S3-compatible server), laid out as RKE does: `[<folder>/]<key>`.
 * Every call has a timeout; every error is classified by `classifyS3Error`; uploads are verified (see `upload.ts`).
 */
import { Readable, Transform } from "node:stream";
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  type S3Client,
} from "@aws-sdk/client-s3";
import { RemoteError } from "../util/errors.js";
import { classifyS3Error } from "./s3-errors.js";
import { connectS3, type S3Config, type S3Connection } from "./s3-client.js";
import { s3Location } from "./s3-location.js";
import { abortError, checkKey, checkPrefix } from "./store.js";
import type { ObjectInfo, PutOptions, PutResult, Store } from "./store.js";
import { uploadVerified } from "./upload.js";

export type { S3Config } from "./s3-client.js";

/** A `Store` over `s3://bucket/folder`. `close()` releases the client's keep-alive sockets. */
export class S3Store implements Store {
  readonly kind = "s3";
  readonly location: string;
  private readonly conn: S3Connection;

  constructor(private readonly config: S3Config) {
    this.conn = connectS3(config);
    this.location = s3Location(config);
  }

  private get client(): S3Client {
    return this.conn.client;
  }

  async check(): Promise<void> {
    await this.call(undefined, (abortSignal) =>
      this.client.send(new HeadBucketCommand({ Bucket: this.config.bucket }), { abortSignal }),
    );
  }

  async put(key: string, body: Readable | Uint8Array, opts: PutOptions = {}): Promise<PutResult> {
    const objectKey = this.objectKey(key);
    try {
      const { size, verified } = await uploadVerified(this.conn, this.config.bucket, objectKey, body, opts);
      return { key, size, verified };
    } catch (err) {
      if (opts.signal?.aborted) throw abortError(opts.signal);
      throw this.classify(err, key);
    }
  }

  async get(key: string, opts: { signal?: AbortSignal } = {}): Promise<Readable> {
    const Key = this.objectKey(key);
    // The timeout covers the wait for the response headers only; a long download is bounded by the idle timeout.
    const out = await this.call(
      key,
      (abortSignal) => this.client.send(new GetObjectCommand({ Bucket: this.config.bucket, Key }), { abortSignal }),
      opts.signal,
    );
    if (!(out.Body instanceof Readable)) throw new RemoteError(`S3 returned no body for ${key}`, true);
    return this.checkedBody(out.Body, out.ContentLength, key, opts.signal);
  }

  async stat(key: string): Promise<ObjectInfo> {
    const Key = this.objectKey(key);
    const head = await this.call(key, (abortSignal) =>
      this.client.send(new HeadObjectCommand({ Bucket: this.config.bucket, Key }), { abortSignal }),
    );
    return info(key, head.ContentLength, head.LastModified, head.ETag);
  }

  async list(prefix: string): Promise<ObjectInfo[]> {
    checkPrefix(prefix);
    const base = this.conn.folder ? `${this.conn.folder}/` : "";
    const found: ObjectInfo[] = [];
    let token: string | undefined;
    do {
      const page = await this.call(undefined, (abortSignal) =>
        this.client.send(
          new ListObjectsV2Command({ Bucket: this.config.bucket, Prefix: base + prefix, ContinuationToken: token }),
          { abortSignal },
        ),
      );
      for (const o of page.Contents ?? []) {
        if (o.Key?.startsWith(base)) found.push(info(o.Key.slice(base.length), o.Size, o.LastModified, o.ETag));
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return found.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async remove(key: string): Promise<void> {
    const Key = this.objectKey(key);
    await this.call(key, (abortSignal) =>
      this.client.send(new DeleteObjectCommand({ Bucket: this.config.bucket, Key }), { abortSignal }),
    );
  }

  /** Destroys the SDK client, and with it every pooled socket (idle or not). */
  close(): Promise<void> {
    this.client.destroy();
    return Promise.resolve();
  }

  private objectKey(key: string): string {
    checkKey(key);
    return this.conn.folder ? `${this.conn.folder}/${key}` : key;
  }

  private classify(err: unknown, key: string | undefined): Error {
    return classifyS3Error(err, {
      endpoint: this.conn.endpoint,
      bucket: this.config.bucket,
      connectMs: this.conn.timeouts.connectMs,
      requestMs: this.conn.timeouts.requestMs,
      ...(key === undefined ? {} : { key }),
    });
  }

  /**
   * Runs one SDK call under a `requestMs` timeout (and the caller's signal, which stays attached to the response
   * body afterwards). Classifies the failure; an abort by the caller becomes an AbortError.
   */
  private async call<T>(
    key: string | undefined,
    op: (signal: AbortSignal) => Promise<T>,
    signal?: AbortSignal,
  ): Promise<T> {
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(), this.conn.timeouts.requestMs);
    try {
      return await op(signal ? AbortSignal.any([signal, timeout.signal]) : timeout.signal);
    } catch (err) {
      if (signal?.aborted) throw abortError(signal);
      // Our own timer cut the call (retries included): classify it as the timeout it is, not as an abort.
      const timedOut = timeout.signal.aborted
        ? Object.assign(new Error("no answer in time"), { name: "TimeoutError" })
        : err;
      throw this.classify(timedOut, key);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Passes the body through, failing it when it ends short of `expected` bytes or the connection breaks. */
  private checkedBody(body: Readable, expected: number | undefined, key: string, signal?: AbortSignal): Readable {
    let seen = 0;
    const out = new Transform({
      transform(chunk: Buffer, _enc, done) {
        seen += chunk.byteLength;
        done(null, chunk);
      },
      flush: (done) => {
        if (expected === undefined || seen === expected) return done();
        done(
          new RemoteError(`download of ${key} from ${this.location} ended after ${seen} of ${expected} bytes`, true),
        );
      },
    });
    body.once("error", (err) => {
      if (signal?.aborted) return out.destroy(abortError(signal));
      const cause = this.classify(err, key);
      const total = expected === undefined ? "" : ` of ${expected}`;
      out.destroy(
        new RemoteError(`download of ${key} from ${this.location} broke off after ${seen}${total} bytes`, true, {
          cause,
        }),
      );
    });
    out.once("close", () => body.destroy());
    body.pipe(out);
    return out;
  }
}

function info(key: string, size: number | undefined, modified: Date | undefined, etag: string | undefined): ObjectInfo {
  return {
    key,
    size: size ?? 0,
    modified: modified ?? new Date(0),
    ...(etag ? { etag: etag.replace(/"/g, "") } : {}),
  };
}
