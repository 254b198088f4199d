/** Turns gRPC failures into RemoteErrors that name the member and say whether a retry may help. */
import { status as Status, type ServiceError } from "@grpc/grpc-js";
import { RemoteError } from "../util/errors.js";
import { redactText } from "../util/redact.js";

/** Codes where the same request may succeed later: the member is down, busy, electing a leader, or slow. */
const TRANSIENT = new Set<number>([Status.UNAVAILABLE, Status.DEADLINE_EXCEEDED, Status.ABORTED]);

export interface CallContext {
  endpoint: string;
  /** The operation, e.g. "status" or "snapshot". */
  what: string;
  timeoutMs?: number;
}

export function isServiceError(err: unknown): err is ServiceError {
  return err instanceof Error && typeof (err as Partial<ServiceError>).code === "number";
}

/** A RemoteError (with the original as cause) for any error thrown by a call to `ctx.endpoint`. */
export function toRemoteError(err: unknown, ctx: CallContext): RemoteError {
  if (err instanceof RemoteError) return err;
  const prefix = `etcd member ${ctx.endpoint}: ${ctx.what}`;
  if (!isServiceError(err)) {
    const msg = err instanceof Error ? err.message : String(err);
    return new RemoteError(`${prefix} failed: ${redactText(msg)}`, false, { cause: err });
  }
  const details = redactText(plainDetails(err.details) || Status[err.code] || "");
  // The message carries the details: the cause (grpc's "14 UNAVAILABLE: <details>") would only say them again.
  return new RemoteError(`${prefix} ${describeCode(err.code, ctx)}: ${details}`, TRANSIENT.has(err.code), {
    cause: err,
    causeShown: true,
  });
}

/**
 * grpc-js wraps why a channel could not connect in its own sentence ("No connection established. Last error: Error:
 * connect ECONNREFUSED 127.0.0.2:2379. Resolution note: "); the socket's error is the part worth reading.
 */
function plainDetails(details: string): string {
  const last = /^No connection established\. Last error: (?:Error: )?(.*?)\.?(?: Resolution note:.*)?$/s.exec(details);
  if (last === null) return details.trim();
  const cause = last[1]?.trim();
  return cause && cause !== "null" ? cause : "no connection established";
}

function describeCode(code: Status, ctx: CallContext): string {
  switch (code) {
    case Status.UNAVAILABLE:
      return "failed, member unavailable";
    case Status.DEADLINE_EXCEEDED:
      return ctx.timeoutMs === undefined ? "got no answer in time" : `got no answer within ${ctx.timeoutMs} ms`;
    case Status.UNAUTHENTICATED:
    case Status.PERMISSION_DENIED:
      return "was refused (check the client certificate)";
    case Status.RESOURCE_EXHAUSTED:
      return "was refused, out of resources";
    case Status.CANCELLED:
      return "was cancelled";
    default:
      return `failed (${Status[code] ?? code})`;
  }
}
