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
  /**
   * snapshot-status: some location's newest good snapshot is older than stale_after, or the last scheduled verify
   * failed (wins over 3: what answered is known to be stale).
   */
  stale: 6,
} as const;

/** The exit code of work done on several nodes or locations: 0 when none failed, 1 when all did, 3 when some did. */
export function exitCodeOfFailures(failed: number, total: number): number {
  return failed === 0 ? ExitCode.ok : failed === total ? ExitCode.failure : ExitCode.partial;
}
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

/**
 * An encrypted copy that the identity at hand cannot open: none configured, a missing or unreadable identity file,
 * an unset variable, a key the copy was not encrypted to, a damaged age header. Exit 4, like a checksum: the
 * message names where the identity was looked for and the copy's recipients by fingerprint, never a key.
 */
export class IdentityError extends Error {
  override name = "IdentityError";
}

/** An archive (zip) that is malformed, truncated, or holds an unsafe entry. */
export class ArchiveError extends Error {
  override name = "ArchiveError";
}

/** Not enough free disk space for the work asked for; nothing was written. */
export class InsufficientSpaceError extends Error {
  override name = "InsufficientSpaceError";
}

/** Something looked up by name that does not exist (a snapshot, an object, a file). */
export class NotFoundError extends Error {
  override name = "NotFoundError";
}

/** Options of an error that wraps another. */
export interface WrapOptions extends ErrorOptions {
  /** The message already says what the cause says (in other words): `describeError` does not repeat the cause. */
  causeShown?: boolean;
}

/** A remote side (agent, etcd, S3) that failed or did not answer in time. `transient` says whether a retry may help. */
export class RemoteError extends Error {
  override name = "RemoteError";
  readonly causeShown: boolean;
  constructor(
    message: string,
    readonly transient: boolean,
    options?: WrapOptions,
  ) {
    super(message, options);
    this.causeShown = options?.causeShown ?? false;
  }
}

/** How many causes `describeError` follows: enough for any real chain, and an end to a circular one. */
const MAX_CAUSES = 8;

/**
 * The message of any thrown value followed by what its causes add, each said once: a cause whose message is already
 * in the text, or that its wrapper marks as shown, adds nothing (its own causes still may).
 */
export function describeError(err: unknown): string {
  let text = messageOf(err);
  let current = err;
  for (let depth = 0; depth < MAX_CAUSES && current instanceof Error && current.cause !== undefined; depth++) {
    const shown = current instanceof RemoteError && current.causeShown;
    current = current.cause;
    const own = messageOf(current);
    if (shown || own === "" || text.includes(own)) continue;
    text = text === "" ? own : `${text}: ${own}`;
  }
  return text;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
