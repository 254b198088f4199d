/**
 * Where snapshots live. One small interface for a local directory and an S3 bucket; every rule a caller may rely on
 * is written here, and `test/helpers/store-suite.ts` checks each rule against every implementation.
 *
 * Keys are relative, "/"-separated paths ("cluster-a/2024-05-01T00-00-00Z.zip"). They never start or end with "/",
 * never hold an empty, "." or ".." segment, a backslash or a NUL; `checkKey` enforces this for every store.
 *
 * Errors are classified here, so that retry and reporting code never needs to know what S3 is:
 * - `NotFoundError`: the key does not exist (only from `get` and `stat`).
 * - `RemoteError(message, transient)`: anything the remote side did; `message` is the one sentence an operator needs
 *   (`bucket "x" does not exist`, `access denied: check access_key/secret_key`, ...) and `transient` says whether
 *   trying again later may help. No message ever holds a credential.
 * - `ChecksumMismatchError`: `put` found that what was stored differs from what was sent; nothing is left under key.
 * - an `AbortError` (name "AbortError") when the caller's signal aborted the call.
 */
import type { Readable } from "node:stream";
import { UserError } from "../util/errors.js";

export interface ObjectInfo {
  key: string;
  size: number;
  modified: Date;
  /** The server's entity tag, without quotes; absent for local files. */
  etag?: string;
}

/** How `put` made sure the stored bytes are the bytes it was given. */
export type Verification =
  /** Written to a temp file, fsynced, renamed into place and the directory fsynced. */
  | "local-fsync"
  /** The object's ETag equals the MD5 (or MD5-of-part-MD5s) computed while the bytes streamed out. */
  | "etag-md5"
  /** The ETag is not an MD5 (SSE-KMS, SSE-C, other servers): the object was read back and its sha256 compared. */
  | "reread";

export interface PutResult {
  key: string;
  size: number;
  verified: Verification;
}

export interface PutOptions {
  /** Expected body length; when given, a body of any other length fails the put and nothing is stored. */
  size?: number;
  contentType?: string;
  /** Aborting rejects the put with an AbortError and leaves nothing under key (the caller's stream is destroyed). */
  signal?: AbortSignal;
  /** Called with the running count of body bytes consumed so far. */
  onProgress?: (bytes: number) => void;
}

export interface Store {
  readonly kind: "local" | "s3";
  /**
   * Human-readable location without secrets, e.g. "s3://bucket/folder (http://127.0.0.9:9000)" or
   * "/opt/rke/etcd-snapshots".
   */
  readonly location: string;
  /**
   * Proves the store is usable before any work starts: the directory exists and is writable, or the bucket exists
   * and the credentials are accepted. Fails with one clear error (`RemoteError` for S3, `UserError` for a directory).
   */
  check(): Promise<void>;
  /**
   * Stores `body` under `key`, replacing any object already there, and resolves only after the stored bytes are
   * verified (`PutResult.verified` says how). Atomic: if the put rejects (the body stream errors, the signal aborts,
   * the size differs from `opts.size`, verification fails) nothing new is left under key. Retries of single requests
   * happen inside; a rejected put is never partly visible, so the caller may simply call put again with a fresh body.
   */
  put(key: string, body: Readable | Uint8Array, opts?: PutOptions): Promise<PutResult>;
  /**
   * Opens `key` for reading. Rejects with `NotFoundError` when it is missing. The stream never ends early in
   * silence: a transfer that stops short of the object's size makes the stream error (a transient `RemoteError`).
   */
  get(key: string, opts?: { signal?: AbortSignal }): Promise<Readable>;
  /** Size and modification time of `key`; `NotFoundError` when it is missing. */
  stat(key: string): Promise<ObjectInfo>;
  /**
   * Every key that starts with `prefix` as a plain string, at any depth, sorted by key (code unit order).
   * `list("a/myname")` therefore also returns "a/myname1/x" and "a/myname.zip"; end the prefix with "/" to list one
   * "directory" (`list("a/myname/")`), or filter for an exact name. `list("")` lists everything.
   * Temp files of unfinished local puts are never listed.
   */
  list(prefix: string): Promise<ObjectInfo[]>;
  /** Deletes `key`. A missing key is not an error. */
  remove(key: string): Promise<void>;
  /**
   * Releases what the store holds open (an S3 client and its keep-alive sockets; a directory holds nothing). Whoever
   * opens a store closes it when done, in a `finally`, since an open client keeps sockets (and the process) alive.
   * Idempotent; resolves once released. Streams already returned by `get` may break off; the store must not be
   * called afterwards.
   */
  close(): Promise<void>;
}

/** Throws a `UserError` unless `key` is a valid store key (see the rules at the top of this file). */
export function checkKey(key: string): void {
  const problem = keyProblem(key);
  if (problem) throw new UserError(`invalid object key ${JSON.stringify(key)}: ${problem}`);
}

/** Throws a `UserError` unless `prefix` is "" or a valid key, optionally followed by one "/". */
export function checkPrefix(prefix: string): void {
  if (prefix === "") return;
  const problem = keyProblem(prefix.endsWith("/") ? prefix.slice(0, -1) : prefix);
  if (problem) throw new UserError(`invalid list prefix ${JSON.stringify(prefix)}: ${problem}`);
}

function keyProblem(key: string): string | undefined {
  if (key === "") return "it is empty";
  if (key.includes("\0")) return "it holds a NUL character";
  if (key.includes("\\")) return "it holds a backslash";
  if (key.startsWith("/")) return "it is an absolute path";
  const bad = key.split("/").find((s) => s === "" || s === "." || s === "..");
  if (bad !== undefined) return bad === "" ? "it holds an empty path segment" : `it holds a "${bad}" segment`;
  return undefined;
}

/** The error a store throws when the caller's signal aborted the call. */
export function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error && reason.name === "AbortError") return reason;
  return new DOMException("the operation was aborted", "AbortError");
}
