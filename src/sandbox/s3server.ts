/**
 * A real S3 API server on a loopback address, for the sandbox and the tests: s3rver 3.7.1 run in-process, storing
 * objects as files under `dir`.
 *
 * What s3rver does NOT do, read from its source (lib/middleware/authentication.js, lib/controllers, lib/stores):
 * - Credentials: it knows one key pair, access key "S3RVER" / secret "S3RVER". A request signed with any other
 *   access key id gets 403 InvalidAccessKeyId (so "unknown access key" can be tested against it). SigV4 signatures
 *   are never computed, so a WRONG SECRET with access key "S3RVER" is accepted: "bad secret" cannot be tested here;
 *   use a stand-in server that answers 403 AccessDenied to every request instead. Unsigned requests are served too.
 *   Checked: a wrong secret with "S3RVER" passes HeadBucket; an unknown key id gets 403 on every call.
 * - Integrity headers: Content-MD5 and x-amz-checksum-* are ignored (never BadDigest), and aws-chunked request bodies
 *   are stored as sent, framing included; clients must not use the SDK's default streaming checksums.
 * - ETags: a single PUT gives the MD5 of the body, as S3 does; a completed multipart upload gives the MD5 of the
 *   whole object, NOT S3's MD5-of-part-MD5s-N. The part ETags sent with CompleteMultipartUpload are not checked.
 * - Atomicity: objects are written straight to their final file. A PUT cut off mid-body leaves a partial object
 *   that HEAD, GET and LIST then report (real S3 discards it; checked: 500 of 1000 bytes sent, HEAD says 500).
 *   Multipart parts go to a separate uploads folder and never show as objects, but AbortMultipartUpload is not
 *   implemented (405 MethodNotAllowed), so the parts of an abandoned upload stay on disk until the dir is removed.
 * - Listing: objects are found by walking directories in readdir order, not in key order, and pages are capped at
 *   1000 keys; continuing a listing after a page skips keys that sort before the last one returned, so listings of
 *   more than 1000 keys can miss objects.
 * - Keys: a key and "key/child" can coexist (the object is stored as a suffixed file), but keys with ".." segments
 *   are mapped onto the file system unchecked.
 * - Addressing: only path style is served here (virtual-host names need DNS for the bucket name).
 * - No versioning, object lock, SSE, lifecycle or region checks; region is echoed as us-east-1.
 */
import type { Server } from "node:http";
import { isLoopbackV4 } from "../util/net.js";

export interface S3ServerOptions {
  /** A 127.0.0.0/8 address. */
  host: string;
  /** Default 0: any free port. */
  port?: number;
  /** Where buckets and objects are kept; reused (not wiped) across restarts. */
  dir: string;
  /** Buckets created at start if missing. */
  buckets: string[];
  /** Serve https with this certificate instead of plain http. */
  tls?: { certPEM: string; keyPEM: string };
}

export interface S3Server {
  /** "http://127.x.y.z:port" or "https://...". */
  endpoint: string;
  /** Closes the listener and every open connection. */
  stop(): Promise<void>;
}

/** The access key s3rver accepts; any secret goes with it. */
export const S3RVER_ACCESS_KEY = "S3RVER";

interface S3rverInstance {
  run(): Promise<{ address: string; port: number }>;
  close(): Promise<void>;
  httpServer?: Server;
}
type S3rverClass = new (options: Record<string, unknown>) => S3rverInstance;

/** Starts s3rver on `host`; resolves once it listens and the buckets exist. */
export async function startS3Server(options: S3ServerOptions): Promise<S3Server> {
  if (!isLoopbackV4(options.host)) throw new Error(`S3 sandbox address ${options.host} is not in 127.0.0.0/8`);
  // s3rver ships no type declarations (s3rver.d.ts declares the module untyped); the surface used here is declared
  // above. Imported here, not at the top, so that only a process that runs an S3 server loads it.
  const S3rver = ((await import("s3rver")) as { default: S3rverClass }).default;
  const server = new S3rver({
    address: options.host,
    port: options.port ?? 0,
    directory: options.dir,
    silent: true,
    resetOnClose: false,
    vhostBuckets: false,
    configureBuckets: options.buckets.map((name) => ({ name, configs: [] })),
    ...(options.tls ? { cert: options.tls.certPEM, key: options.tls.keyPEM } : {}),
  });
  const { port } = await server.run();
  const scheme = options.tls ? "https" : "http";
  return {
    endpoint: `${scheme}://${options.host}:${port}`,
    stop: async () => {
      const closed = server.close();
      server.httpServer?.closeAllConnections();
      await closed;
    },
  };
}
