/**
 * Running the etcd tools and operator-supplied shell commands: a timeout on every run, the output kept (bounded),
 * and failures reported with the exit code and the last lines of stderr.
 */
import { spawn } from "node:child_process";
import { redactText } from "../util/redact.js";

export interface RunOptions {
  /** Kill the command (its whole process group) after this long. */
  timeoutMs: number;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

export interface RunResult {
  /** Exit code, or null when the command was killed by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** A command that exited non-zero, was killed, or timed out. The message names the command, never its environment. */
export class CommandFailedError extends Error {
  override name = "CommandFailedError";
  constructor(
    message: string,
    readonly exitCode: number | null,
    readonly stderrTail: string,
  ) {
    super(message);
  }
}

const MAX_OUTPUT = 1024 * 1024;
/** How long to wait for stdio to close after exit: a command that started a daemon may leave it holding the pipes. */
const CLOSE_GRACE_MS = 200;

/**
 * Runs `file args` (no shell) and resolves with its result whatever the exit code; rejects only when it cannot be
 * spawned. Each of stdout and stderr keeps its last 1 MiB.
 */
export function runCommand(file: string, args: readonly string[], opts: RunOptions): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    const out = collect(child.stdout);
    const err = collect(child.stderr);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid, "SIGKILL");
    }, opts.timeoutMs);
    child.once("error", (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${file}: ${e.message}`, { cause: e }));
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      const finish = () => resolve({ code, signal, stdout: out(), stderr: err(), timedOut });
      const grace = setTimeout(() => {
        child.stdout.destroy();
        child.stderr.destroy();
        finish();
      }, CLOSE_GRACE_MS);
      child.once("close", () => {
        clearTimeout(grace);
        finish();
      });
    });
  });
}

/** Runs `command` with `/bin/sh -c`. */
export function runShell(command: string, opts: RunOptions): Promise<RunResult> {
  return runCommand("/bin/sh", ["-c", command], opts);
}

/** Throws CommandFailedError unless `result` is a clean exit 0. `what` names the command in the message. */
export function assertSucceeded(what: string, result: RunResult, timeoutMs: number): RunResult {
  if (result.code === 0 && !result.timedOut) return result;
  const tail = lastLines(result.stderr || result.stdout, 10);
  const how = result.timedOut
    ? `timed out after ${timeoutMs} ms`
    : result.code === null
      ? `was killed by ${result.signal ?? "a signal"}`
      : `failed with exit code ${result.code}`;
  throw new CommandFailedError(`${what} ${how}${tail ? `: ${tail}` : ""}`, result.code, tail);
}

/** The last `n` non-empty lines of `text`, joined by newlines, with secrets masked. */
export function lastLines(text: string, n: number): string {
  const lines = text.split("\n").filter((l) => l.trim() !== "");
  return redactText(lines.slice(-n).join("\n"));
}

function collect(stream: NodeJS.ReadableStream): () => string {
  let chunks: Buffer[] = [];
  let size = 0;
  stream.on("data", (c: Buffer) => {
    chunks.push(c);
    size += c.length;
    if (size > 2 * MAX_OUTPUT) {
      const all = Buffer.concat(chunks).subarray(-MAX_OUTPUT);
      chunks = [all];
      size = all.length;
    }
  });
  return () => Buffer.concat(chunks).subarray(-MAX_OUTPUT).toString("utf8");
}

function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}
