/**
 * The few error classes Lifeboat throws. Only `cli/main` maps them to exit codes and messages;
 * everything below it throws and never exits.
 */

/** Exit codes, documented in the README and in every command's help. */
export const ExitCode = {
  ok: 0,
  /** Everything failed, or an unexpected error (a bug: please report it). */
  failure: 1,
  /** Invalid configuration, flags or names: nothing was touched. */
  usage: 2,
  /** Some nodes (or the S3 upload) failed while others succeeded. */
  partial: 3,
  /** A checksum or archive did not verify: nothing was touched. */
  integrity: 4,
  /** A restore failed after members were stopped; the old data is kept (see rollback). */
  restoreFailed: 5,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** A problem with what the operator asked for (config, flags, names). Nothing has been changed. */
export class UserError extends Error {
  override name = "UserError";
  constructor(
    message: string,
    readonly exitCode: ExitCode = ExitCode.usage,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** A configuration file or value that does not parse or validate; `path` is the key path, e.g. `nodes[0].address`. */
export class ConfigError extends UserError {
  override name = "ConfigError";
  constructor(
    readonly issues: readonly { path: string; message: string }[],
    readonly file?: string,
  ) {
    super(issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join("\n"));
  }
}

/** Data whose digest, size or trailer does not match what was expected. */
export class ChecksumMismatchError extends Error {
  override name = "ChecksumMismatchError";
}

/** An archive (zip) that is malformed, truncated, or holds an unsafe entry. */
export class ArchiveError extends Error {
  override name = "ArchiveError";
}

/** Something looked up by name that does not exist (a snapshot, an object, a file). */
export class NotFoundError extends Error {
  override name = "NotFoundError";
}

/** A remote side (agent, etcd, S3) that failed or did not answer in time. `transient` says whether a retry may help. */
export class RemoteError extends Error {
  override name = "RemoteError";
  constructor(
    message: string,
    readonly transient: boolean,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** The message of any thrown value, with its causes, for logs and reports. */
export function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause === undefined ? "" : `: ${describeError(err.cause)}`;
  return cause && err.message.includes(describeError(err.cause)) ? err.message : err.message + cause;
}
