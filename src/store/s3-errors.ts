/**
 * Turns whatever the AWS SDK or node threw into the store's error classes, with the one sentence an operator needs.
 * The original error is kept as `cause`, but scrubbed: only its name, code, status and redacted message survive, so
 * that no request header, signature or access key id can leak through an inspected error.
 */
import { ChecksumMismatchError, NotFoundError, RemoteError, UserError } from "../util/errors.js";
import { redactText } from "../util/redact.js";

export interface ErrorContext {
  endpoint: string;
  bucket: string;
  /** The object key as the caller named it, when the call was about one object. */
  key?: string;
  /** The timeouts that applied, for the "did not answer" messages. */
  connectMs?: number;
  requestMs?: number;
}

const ACCESS_DENIED = new Set([
  "AccessDenied",
  "Forbidden",
  "InvalidAccessKeyId",
  "SignatureDoesNotMatch",
  "InvalidToken",
  "ExpiredToken",
  "TokenRefreshRequired",
  "AccountProblem",
]);
const TRANSIENT_CODES = new Set([
  "SlowDown",
  "RequestTimeout",
  "RequestTimeTooSkewed",
  "InternalError",
  "ServiceUnavailable",
  "ThrottlingException",
  "TooManyRequests",
]);
const NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EHOSTDOWN",
  "EPIPE",
  "ETIMEDOUT",
  "EPROTO",
]);
const TLS_CODE = /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY|DECRYPT)|ERR_TLS|ERR_SSL/;

interface Described {
  name: string;
  code?: string;
  status?: number;
  message: string;
}

/** Maps `err` to `NotFoundError` (missing object) or `RemoteError`; errors already classified pass through. */
export function classifyS3Error(err: unknown, ctx: ErrorContext): Error {
  if (passThrough(err)) return err;
  const d = describe(err);
  const cause = scrub(d);
  const transient = (message: string) => new RemoteError(message, true, { cause });
  const permanent = (message: string) => new RemoteError(message, false, { cause });
  const code = d.code ?? d.name;
  if (code === "NoSuchBucket") return permanent(`bucket "${ctx.bucket}" does not exist`);
  if (code === "NoSuchKey" || (d.status === 404 && code === "NotFound")) {
    return ctx.key === undefined ? permanent(`bucket "${ctx.bucket}" does not exist`) : notFound(ctx, cause);
  }
  if (ACCESS_DENIED.has(code) || d.status === 403) return permanent("access denied: check access_key/secret_key");
  if (code === "PermanentRedirect" || code === "AuthorizationHeaderMalformed" || d.status === 301) {
    return permanent(`bucket "${ctx.bucket}" is in another region: check region`);
  }
  if (code === "CredentialsProviderError") {
    return permanent("no S3 credentials: set access_key/secret_key or provide AWS credentials to the default chain");
  }
  if (TLS_CODE.test(code)) return permanent(`TLS verification failed for ${ctx.endpoint}: check custom_ca (${code})`);
  if (d.name === "TimeoutError" && d.message.includes("establish a connection")) {
    return transient(`cannot reach S3 endpoint ${ctx.endpoint} (no connection within ${ctx.connectMs ?? "?"} ms)`);
  }
  if (NETWORK_CODES.has(code) && code !== "ETIMEDOUT") {
    return transient(`cannot reach S3 endpoint ${ctx.endpoint} (${code})`);
  }
  if (d.name === "TimeoutError" || code === "ETIMEDOUT") {
    return transient(`S3 endpoint ${ctx.endpoint} did not answer within ${ctx.requestMs ?? "?"} ms`);
  }
  if (TRANSIENT_CODES.has(code) || (d.status !== undefined && (d.status >= 500 || d.status === 429))) {
    return transient(`S3 endpoint ${ctx.endpoint} failed: ${code} (HTTP ${d.status ?? "?"})`);
  }
  const status = d.status === undefined ? "" : ` (HTTP ${d.status})`;
  return permanent(`S3 request to ${ctx.endpoint} failed: ${code}${status}: ${d.message}`);
}

/** Errors that are already what the caller should see: classified, a bad key, a checksum failure, an abort. */
function passThrough(err: unknown): err is Error {
  if (err instanceof NotFoundError || err instanceof RemoteError) return true;
  if (err instanceof UserError || err instanceof ChecksumMismatchError) return true;
  return (
    err instanceof Error &&
    err.name === "AbortError" &&
    !(err.cause instanceof Error && err.cause.name === "TimeoutError")
  );
}

function notFound(ctx: ErrorContext, cause: Error): NotFoundError {
  return new NotFoundError(`${ctx.key} not found in bucket "${ctx.bucket}"`, { cause });
}

function describe(err: unknown): Described {
  if (!(err instanceof Error)) return { name: "Error", message: redactText(String(err)) };
  const e = err as Error & { code?: unknown; Code?: unknown; $metadata?: { httpStatusCode?: number } };
  // Node wraps some socket errors (AggregateError for happy-eyeballs); the first inner code is the useful one.
  const inner = err instanceof AggregateError ? (err.errors[0] as { code?: unknown } | undefined) : undefined;
  const rawCode = e.Code ?? e.code ?? inner?.code;
  // An SDK call cut off by `AbortSignal.timeout` rejects with an AbortError whose cause is the TimeoutError.
  const timedOut = e.name === "AbortError" && e.cause instanceof Error && e.cause.name === "TimeoutError";
  return {
    name: timedOut ? "TimeoutError" : e.name,
    ...(typeof rawCode === "string" ? { code: rawCode } : {}),
    ...(e.$metadata?.httpStatusCode !== undefined ? { status: e.$metadata.httpStatusCode } : {}),
    message: redactText(e.message),
  };
}

function scrub(d: Described): Error {
  // HEAD answers carry no body, so the SDK's message is just "UnknownError": say what came back instead.
  const code = d.code ?? d.name;
  const status = d.status === undefined ? "" : ` (HTTP ${d.status})`;
  const detail = d.message && d.message !== "UnknownError" && d.message !== code ? `: ${d.message}` : "";
  const cause = new Error(`${code}${status}${detail}`);
  cause.name = d.name;
  return Object.assign(
    cause,
    d.code === undefined ? {} : { code: d.code },
    d.status === undefined ? {} : { status: d.status },
  );
}
