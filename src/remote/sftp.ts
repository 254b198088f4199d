/** ssh2's callback SFTP calls as promises, with the OpenSSH extensions an atomic upload needs. */
import type { SFTPWrapper } from "ssh2";

type Callback<T> = (err: Error | null | undefined, value: T) => void;

function call<T>(start: (cb: Callback<T>) => void): Promise<T> {
  return new Promise((resolve, reject) => start((err, value) => (err ? reject(err) : resolve(value))));
}

/** Creates `path` (it must not exist) for writing. */
export function openExclusive(sftp: SFTPWrapper, path: string, mode: number): Promise<Buffer> {
  return call<Buffer>((cb) => sftp.open(path, "wx", { mode }, cb));
}

export function write(sftp: SFTPWrapper, handle: Buffer, data: Buffer, position: number): Promise<void> {
  return call<void>((cb) => sftp.write(handle, data, 0, data.length, position, (err) => cb(err, undefined)));
}

/** The server's umask applies at open: the mode is set again on the open file. */
export function fchmod(sftp: SFTPWrapper, handle: Buffer, mode: number): Promise<void> {
  return call<void>((cb) => sftp.fchmod(handle, mode, (err) => cb(err, undefined)));
}

/** fsync@openssh.com when the server offers it (every OpenSSH since 6.5); otherwise nothing. */
export async function fsync(sftp: SFTPWrapper, handle: Buffer): Promise<void> {
  try {
    await call<void>((cb) => sftp.ext_openssh_fsync(handle, (err) => cb(err, undefined)));
  } catch (err) {
    if (!/not support/i.test((err as Error).message)) throw err;
  }
}

export function close(sftp: SFTPWrapper, handle: Buffer): Promise<void> {
  return call<void>((cb) => sftp.close(handle, (err) => cb(err, undefined)));
}

/** posix-rename@openssh.com: replaces `to` atomically (plain SFTP rename refuses an existing target). */
export function posixRename(sftp: SFTPWrapper, from: string, to: string): Promise<void> {
  return call<void>((cb) => sftp.ext_openssh_rename(from, to, (err) => cb(err, undefined)));
}

export function unlink(sftp: SFTPWrapper, path: string): Promise<void> {
  return call<void>((cb) => sftp.unlink(path, (err) => cb(err, undefined)));
}
