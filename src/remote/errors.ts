/**
 * What goes wrong when reaching a node over SSH. Every message starts with the node (`node etcd1 (10.0.0.1:22)`)
 * and says which user and key were tried, never the key itself nor a passphrase: messages of underlying errors pass
 * through `redactText`, and a key parser's error is never attached as a cause.
 */
import { ExitCode, UserError } from "../util/errors.js";
import { redactText } from "../util/redact.js";

/** A problem reaching or using one host over SSH. `target` is `node NAME (ADDRESS:PORT)` or the bastion's label. */
export class SshError extends UserError {
  override name = "SshError";
  constructor(
    readonly target: string,
    detail: string,
    options?: ErrorOptions,
  ) {
    super(`${target}: ${redactText(detail)}`, ExitCode.failure, options);
  }
}

/** No TCP connection, or no SSH handshake in time. */
export class HostUnreachableError extends SshError {
  override name = "HostUnreachableError";
}

/** The server refused every key offered for the user. */
export class SshAuthError extends SshError {
  override name = "SshAuthError";
}

/** The key file cannot be read or parsed, is encrypted without a passphrase, or the agent cannot be reached. */
export class SshKeyError extends SshError {
  override name = "SshKeyError";
}

/** known_hosts has no key for the host and new keys were not to be accepted. Nothing was sent to the host. */
export class UnknownHostKeyError extends SshError {
  override name = "UnknownHostKeyError";
  constructor(
    target: string,
    readonly fingerprint: string,
    readonly keyType: string,
    knownHostsPath: string,
  ) {
    super(
      target,
      `unknown host key ${keyType} ${fingerprint} (not in ${knownHostsPath}; check the fingerprint on the host, ` +
        `then run with --accept-new-host-keys to trust it)`,
    );
  }
}

/** The host presented a key other than the one(s) known_hosts holds for it (or a revoked key). Never accepted. */
export class HostKeyChangedError extends SshError {
  override name = "HostKeyChangedError";
  constructor(
    target: string,
    readonly fingerprint: string,
    readonly keyType: string,
    where: string,
  ) {
    super(
      target,
      `host key changed: the host presented ${keyType} ${fingerprint}, which does not match ${where}. ` +
        `This may be an attack; if the host was reinstalled, remove its old line and connect again`,
    );
  }
}

/** The SSH user is not root and cannot run `sudo` without a password. */
export class NoRootError extends SshError {
  override name = "NoRootError";
}

/** Less free space than needed under a path. */
export class NoDiskSpaceError extends SshError {
  override name = "NoDiskSpaceError";
}

/** Something already listens on a TCP port the node needs. */
export class PortInUseError extends SshError {
  override name = "PortInUseError";
}

/** A remote command that could not be run, timed out, or printed more than the limit. */
export class RemoteCommandError extends SshError {
  override name = "RemoteCommandError";
}
