/**
 * One logged-in SSH connection to a node: run a command, upload a file, close. Commands run with `sh -c` as the
 * login user (quote words with `shellQuote`); uploads go over SFTP as that user.
 */
import { randomBytes } from "node:crypto";
import { open as openLocal } from "node:fs/promises";
import { posix } from "node:path";
import type { Client, ClientChannel, SFTPWrapper } from "ssh2";
import { RemoteCommandError } from "./errors.js";
import { shellQuote } from "../util/shell.js";
import * as sftpCalls from "./sftp.js";

export interface ExecOptions {
  /** Written to the command's standard input, which is then closed. */
  stdin?: string | Buffer;
  /** The command is killed and the call fails after this long. */
  timeoutMs: number;
  /** Each of stdout and stderr may print this much before the command is killed; default 16 MiB. */
  maxOutputBytes?: number;
}

export type ExecResult = {
  /** The exit status; null when the command was ended by a signal. */
  code: number | null;
  signal?: string;
  stdout: string;
  stderr: string;
};

const DEFAULT_MAX_OUTPUT = 16 * 1024 * 1024;
/** How long a killed command's channel may take to close before the call fails anyway. */
const KILL_GRACE_MS = 2_000;
/** SFTP writes in flight during an upload: enough to keep a long link busy, little memory (8 × 256 KiB). */
const UPLOAD_WINDOW = 8;
const UPLOAD_CHUNK = 256 * 1024;

export class RemoteHost {
  #sftp: Promise<SFTPWrapper> | undefined;
  #closed = false;

  /**
   * @param target `node NAME (ADDRESS:PORT)`, the start of every message.
   * @param closeAll ends this connection and the bastion's, resolving when both are closed.
   */
  constructor(
    readonly target: string,
    readonly user: string,
    private readonly client: Client,
    private readonly closeAll: () => Promise<void>,
  ) {}

  /**
   * Runs `command` with `sh -c`. A non-zero exit is a result, not an error. A timeout (or too much output) kills
   * the command's whole process group and fails: OpenSSH ignores SSH's "signal" request for commands without a
   * terminal, so the command is started as `printf $$; exec sh -c ...` (sshd makes each session's shell a process
   * group leader) and killed with `kill -KILL -- -PID` over a second channel.
   */
  exec(command: string, options: ExecOptions): Promise<ExecResult> {
    const wrapped = `printf '%s\\n' "$$"; exec sh -c ${shellQuote(command)}`;
    return new Promise((resolve, reject) => {
      this.client.exec(wrapped, (err, channel) => {
        if (err) {
          reject(new RemoteCommandError(this.target, `cannot run ${brief(command)}: ${err.message}`));
          return;
        }
        const kill = (pid: number) => this.killGroup(pid);
        collect(channel, options, { target: this.target, command, kill }).then(resolve, reject);
      });
    });
  }

  private killGroup(pid: number): void {
    this.client.exec(`kill -KILL -- -${pid} 2>/dev/null || kill -KILL ${pid}`, (err, channel) => {
      if (err) return;
      channel.resume();
      channel.stderr.resume();
      channel.end();
    });
  }

  /**
   * Writes `source` (a local file path or the bytes) to `remotePath` with `mode`, atomically: into a temporary
   * name in the same directory, fsync'ed (when the server offers fsync@openssh.com), then renamed over the target
   * with posix-rename@openssh.com. A failed upload leaves the old file, and removes the temporary one.
   */
  async upload(source: string | Buffer, remotePath: string, mode: number): Promise<void> {
    const sftp = await this.sftp();
    const dir = posix.dirname(remotePath);
    const temp = posix.join(dir, `.${posix.basename(remotePath)}.${randomBytes(6).toString("hex")}.tmp`);
    try {
      const handle = await sftpCalls.openExclusive(sftp, temp, mode);
      try {
        await (typeof source === "string" ? writeFile(sftp, handle, source) : writeAll(sftp, handle, source));
        await sftpCalls.fchmod(sftp, handle, mode);
        await sftpCalls.fsync(sftp, handle);
      } finally {
        await sftpCalls.close(sftp, handle);
      }
      await sftpCalls.posixRename(sftp, temp, remotePath);
    } catch (err) {
      await sftpCalls.unlink(sftp, temp).catch(() => undefined);
      throw new RemoteCommandError(this.target, `upload to ${remotePath} failed: ${(err as Error).message}`);
    }
  }

  /** Ends the connection (and the bastion's). Safe to call more than once. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.closeAll();
  }

  private sftp(): Promise<SFTPWrapper> {
    this.#sftp ??= new Promise((resolve, reject) => {
      this.client.sftp((err, sftp) => {
        if (err) reject(new RemoteCommandError(this.target, `cannot start SFTP: ${err.message}`));
        else resolve(sftp);
      });
    });
    return this.#sftp;
  }
}

type Run = { target: string; command: string; kill: (pid: number) => void };

/** Reads a channel to its end: the pid line, output (bounded), exit status, and the timeout. */
function collect(channel: ClientChannel, options: ExecOptions, run: Run): Promise<ExecResult> {
  const max = options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT;
  return new Promise((resolve, reject) => {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const sizes = { out: 0, err: 0 };
    let head: Buffer | undefined = Buffer.alloc(0);
    let pid: number | undefined;
    let exit: { code: number | null; signal?: string } | undefined;
    let failure: RemoteCommandError | undefined;
    const stop = (why: string) => {
      if (failure) return;
      const error = new RemoteCommandError(run.target, `${brief(run.command)} ${why}`);
      failure = error;
      if (pid !== undefined) run.kill(pid);
      channel.close();
      // If the kill did not reach the command, its channel closes only when it ends: do not wait for that.
      setTimeout(() => reject(error), KILL_GRACE_MS).unref();
    };
    const timer = setTimeout(() => stop(`timed out after ${options.timeoutMs} ms`), options.timeoutMs);
    const take = (chunks: Buffer[], which: "out" | "err", chunk: Buffer) => {
      sizes[which] += chunk.length;
      if (sizes[which] > max) stop(`printed more than ${max} bytes`);
      else chunks.push(chunk);
    };
    channel.on("data", (chunk: Buffer) => {
      if (head === undefined) return take(out, "out", chunk);
      // The first line is the shell's pid (see exec).
      head = Buffer.concat([head, chunk]);
      const newline = head.indexOf(0x0a);
      if (newline < 0) return;
      pid = Number(head.subarray(0, newline).toString("latin1"));
      const rest = head.subarray(newline + 1);
      head = undefined;
      if (rest.length > 0) take(out, "out", rest);
    });
    channel.stderr.on("data", (chunk: Buffer) => take(err, "err", chunk));
    channel.on("exit", (code: number | null, signal?: string) => {
      exit = signal ? { code: null, signal } : { code };
    });
    channel.on("close", () => {
      clearTimeout(timer);
      if (failure) reject(failure);
      else if (!exit) reject(new RemoteCommandError(run.target, `${brief(run.command)}: the connection ended first`));
      else
        resolve({ ...exit, stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8") });
    });
    channel.end(options.stdin ?? "");
  });
}

/** A command shortened for messages. */
function brief(command: string): string {
  return JSON.stringify(command.length > 120 ? `${command.slice(0, 117)}...` : command);
}

async function writeFile(sftp: SFTPWrapper, handle: Buffer, path: string): Promise<void> {
  const local = await openLocal(path, "r");
  try {
    const inFlight: Promise<void>[] = [];
    for (let position = 0; ;) {
      const chunk = Buffer.alloc(UPLOAD_CHUNK);
      const { bytesRead } = await local.read(chunk, 0, chunk.length, position);
      if (bytesRead === 0) break;
      const written = sftpCalls.write(sftp, handle, chunk.subarray(0, bytesRead), position);
      // Awaited below in order; until then a failure must not count as unhandled.
      written.catch(() => undefined);
      inFlight.push(written);
      position += bytesRead;
      if (inFlight.length >= UPLOAD_WINDOW) await inFlight.shift();
    }
    await Promise.all(inFlight);
  } finally {
    await local.close();
  }
}

async function writeAll(sftp: SFTPWrapper, handle: Buffer, data: Buffer): Promise<void> {
  const writes: Promise<void>[] = [];
  for (let position = 0; position < data.length; position += UPLOAD_CHUNK) {
    writes.push(sftpCalls.write(sftp, handle, data.subarray(position, position + UPLOAD_CHUNK), position));
  }
  await Promise.all(writes);
}
