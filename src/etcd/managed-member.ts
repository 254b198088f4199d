/**
 * An etcd member that Lifeboat runs as a child process and supervises.
 *
 * Lifecycle: `start()` spawns etcd and resolves once the member answers a status request; if etcd exits or does not
 * answer in time, it is killed and `start()` rejects with the last lines of its log. From then on an unexpected exit
 * is followed by a restart after a backoff (doubling up to a maximum, reset once a run has stayed up). `stop()`
 * ends supervision first, then sends SIGTERM and, after a timeout, SIGKILL. The pid of the running etcd is kept in
 * the spec's pid file so that an outside harness can find orphans.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync, unlinkSync } from "node:fs";
import { mkdir, open, readFile } from "node:fs/promises";
import { dirname } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { describeError } from "../util/errors.js";
import { writeFileAtomic } from "../util/fs.js";
import type { Logger } from "../util/log.js";
import type { EtcdTools } from "./binaries.js";
import { EtcdMemberClient } from "./client.js";
import { CommandFailedError, lastLines } from "./exec.js";
import { etcdArgs, pidFileOf, type MemberSpec } from "./member-spec.js";
import type { MemberController, MemberState } from "./controller.js";

export interface ManagedMemberOptions {
  /** How long start (and each restart) may take before etcd is killed (default 60 s). */
  startTimeoutMs?: number;
  /** How long etcd gets to exit after SIGTERM before SIGKILL (default 10 s). */
  stopTimeoutMs?: number;
  /** First and largest delay before a restart (default 500 ms and 30 s). */
  restartBackoffMs?: { initial: number; max: number };
  /** Go runtime threads etcd may run on at once (GOMAXPROCS); default: every core. */
  maxProcs?: number;
}

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  error?: Error;
}

interface Run {
  proc: ChildProcess;
  exited: Promise<Exit>;
  exit?: Exit;
  readyAt?: number;
  /** False only while the first start() waits: a failure then is reported to the caller, not restarted. */
  supervised: boolean;
}

/**
 * Follows a just-spawned etcd. The listeners go on before anything is awaited: an etcd that exits at once (a bad
 * flag, a busy port, a disk it cannot use) would otherwise exit unseen, and its start and every stop after it would
 * wait for an exit that already happened.
 */
function watch(proc: ChildProcess, supervised: boolean): Run {
  let settle: (exit: Exit) => void = () => undefined;
  const run: Run = { proc, supervised, exited: new Promise<Exit>((resolve) => (settle = resolve)) };
  const done = (exit: Exit) => {
    run.exit ??= exit;
    settle(run.exit);
  };
  proc.once("exit", (code, signal) => done({ code, signal }));
  // Without a pid the binary could not be spawned at all; other errors (a failed kill) do not end the process.
  proc.on("error", (error) => (proc.pid === undefined ? done({ code: null, signal: null, error }) : undefined));
  return run;
}

/** A run that stayed up this long resets the restart backoff. */
const STABLE_MS = 10_000;
const PROBE_TIMEOUT_MS = 1000;
const PROBE_INTERVAL_MS = 200;

export class ManagedMember implements MemberController {
  readonly mode = "managed" as const;
  private current: Run | undefined;
  private desired: "running" | "stopped" = "stopped";
  private restartTimer: NodeJS.Timeout | undefined;
  private backoffMs: number;
  private restartCount = 0;
  private starting: Promise<void> | undefined;

  constructor(
    readonly spec: MemberSpec,
    private readonly tools: EtcdTools,
    private readonly log: Logger,
    private readonly opts: ManagedMemberOptions = {},
  ) {
    this.backoffMs = this.backoff.initial;
  }

  /** The pid of the running etcd, if any. */
  get pid(): number | undefined {
    return this.current?.exit ? undefined : this.current?.proc.pid;
  }

  /** How many times supervision has restarted etcd. */
  get restarts(): number {
    return this.restartCount;
  }

  /** Concurrent calls share one attempt. */
  start(): Promise<void> {
    this.starting ??= this.startOnce().finally(() => {
      this.starting = undefined;
    });
    return this.starting;
  }

  private async startOnce(): Promise<void> {
    this.desired = "running";
    this.clearRestart();
    if (!this.current || this.current.exit) await this.stopOrphan();
    const run = this.current && !this.current.exit ? this.current : await this.spawn(false);
    if (run.readyAt !== undefined) return;
    try {
      await this.waitReady(run);
      run.supervised = true;
    } catch (err) {
      this.desired = "stopped";
      await this.kill(run);
      throw err;
    }
  }

  async stop(): Promise<void> {
    this.desired = "stopped";
    this.clearRestart();
    if (this.current) await this.kill(this.current);
    // A start still waiting for readiness gives up now (it sees `desired`). Waiting for it to end means a start after
    // this stop is a new attempt: sharing the dying one would fail with "was stopped while starting".
    await this.starting?.catch(() => undefined);
  }

  state(): Promise<MemberState> {
    const run = this.current;
    if (run && !run.exit) return Promise.resolve(run.readyAt !== undefined ? "running" : "starting");
    return Promise.resolve(this.desired === "running" ? "crashed" : "stopped");
  }

  private get backoff(): { initial: number; max: number } {
    return this.opts.restartBackoffMs ?? { initial: 500, max: 30_000 };
  }

  private async spawn(supervised: boolean): Promise<Run> {
    const { spec } = this;
    await mkdir(dirname(spec.logFile), { recursive: true });
    await mkdir(dirname(pidFileOf(spec)), { recursive: true });
    const log = await open(spec.logFile, "a", 0o600);
    let run: Run;
    try {
      const env = this.opts.maxProcs ? { ...process.env, GOMAXPROCS: String(this.opts.maxProcs) } : process.env;
      run = watch(spawn(this.tools.etcd, etcdArgs(spec), { stdio: ["ignore", log.fd, log.fd], env }), supervised);
    } finally {
      await log.close();
    }
    const { proc } = run;
    this.current = run;
    void run.exited.then(() => this.onExit(run));
    if (proc.pid !== undefined) await writeFileAtomic(pidFileOf(spec), `${proc.pid}\n`, 0o644);
    this.log.info("etcd started", { member: spec.name, pid: proc.pid });
    return run;
  }

  private onExit(run: Run): void {
    if (this.current !== run) return;
    this.current = undefined;
    removeQuietly(pidFileOf(this.spec));
    if (this.desired !== "running" || !run.supervised) return;
    if (run.readyAt !== undefined && Date.now() - run.readyAt >= STABLE_MS) this.backoffMs = this.backoff.initial;
    this.log.warn("etcd exited unexpectedly", { member: this.spec.name, ...exitFields(run.exit) });
    this.scheduleRestart();
  }

  private scheduleRestart(): void {
    const delay = this.backoffMs;
    this.backoffMs = Math.min(delay * 2, this.backoff.max);
    this.log.info("etcd restart scheduled", { member: this.spec.name, delayMs: delay });
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      void this.restart();
    }, delay);
  }

  private async restart(): Promise<void> {
    if (this.desired !== "running" || this.current) return;
    this.restartCount++;
    let run: Run | undefined;
    try {
      run = await this.spawn(true);
      await this.waitReady(run);
      this.log.info("etcd restarted", { member: this.spec.name, pid: run.proc.pid });
    } catch (err) {
      if (this.desired !== "running") return;
      this.log.error("etcd restart failed", { member: this.spec.name, error: describeError(err) });
      // Killing it lets onExit schedule the next attempt; without a process there is no exit to wait for.
      if (run) await this.kill(run);
      else this.scheduleRestart();
    }
  }

  private async waitReady(run: Run): Promise<void> {
    const timeoutMs = this.opts.startTimeoutMs ?? 60_000;
    const client = await EtcdMemberClient.connect({
      endpoint: this.spec.clientUrl,
      ...(this.spec.tls ? { tls: await readTls(this.spec.tls) } : {}),
      timeoutMs: PROBE_TIMEOUT_MS,
    });
    try {
      const deadline = Date.now() + timeoutMs;
      let last: unknown;
      while (Date.now() < deadline) {
        if (this.desired !== "running") throw await this.failure(run, "was stopped while starting");
        if (run.exit) throw await this.failure(run, `exited while starting (${describeExit(run.exit)})`);
        try {
          await client.status();
          run.readyAt = Date.now();
          return;
        } catch (err) {
          last = err;
        }
        await Promise.race([sleep(PROBE_INTERVAL_MS), run.exited]);
      }
      throw await this.failure(run, `did not answer within ${timeoutMs} ms (${describeError(last)})`);
    } finally {
      client.close();
    }
  }

  private async kill(run: Run): Promise<void> {
    if (run.exit) return;
    run.proc.kill("SIGTERM");
    const stopTimeoutMs = this.opts.stopTimeoutMs ?? 10_000;
    // The timer is cancelled once etcd exits: left running, it would keep the agent alive for the whole timeout.
    const cancel = new AbortController();
    const timer = sleep(stopTimeoutMs, "timeout" as const, { signal: cancel.signal }).catch(() => "cancelled" as const);
    const winner = await Promise.race([run.exited, timer]);
    cancel.abort();
    if (winner === "timeout") {
      this.log.warn("etcd ignored SIGTERM; killing it", { member: this.spec.name, stopTimeoutMs });
      run.proc.kill("SIGKILL");
    }
    await run.exited;
  }

  /**
   * An etcd left running by an earlier agent that died without stopping it (its pid is in the pid file and it is an
   * etcd process) is stopped before a new one starts: otherwise the new etcd fails on the busy port while the orphan
   * answers the readiness probe, unsupervised.
   */
  private async stopOrphan(): Promise<void> {
    const pid = Number((await readFile(pidFileOf(this.spec), "utf8").catch(() => "")).trim());
    if (!Number.isInteger(pid) || pid <= 0 || pid === this.current?.proc.pid || !isEtcdProcess(pid)) return;
    this.log.warn("stopping an etcd left running by an earlier agent", { member: this.spec.name, pid });
    process.kill(pid, "SIGTERM");
    const deadline = Date.now() + (this.opts.stopTimeoutMs ?? 10_000);
    while (isEtcdProcess(pid) && Date.now() < deadline) await sleep(100);
    if (isEtcdProcess(pid)) process.kill(pid, "SIGKILL");
    while (isEtcdProcess(pid)) await sleep(50);
  }

  private async failure(run: Run, what: string): Promise<CommandFailedError> {
    const tail = await logTail(this.spec.logFile);
    const msg = `etcd member ${this.spec.name} ${what}; last lines of ${this.spec.logFile}:\n${tail}`;
    return new CommandFailedError(msg, run.exit?.code ?? null, tail);
  }

  private clearRestart(): void {
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
  }
}

async function readTls(tls: NonNullable<MemberSpec["tls"]>) {
  const [caPEM, certPEM, keyPEM] = await Promise.all([
    readFile(tls.caFile, "utf8"),
    readFile(tls.certFile, "utf8"),
    readFile(tls.keyFile, "utf8"),
  ]);
  return { caPEM, certPEM, keyPEM };
}

async function logTail(file: string): Promise<string> {
  try {
    const handle = await open(file, "r");
    try {
      const { size } = await handle.stat();
      const length = Math.min(size, 16 * 1024);
      const buf = Buffer.alloc(length);
      await handle.read(buf, 0, length, size - length);
      return lastLines(buf.toString("utf8"), 15);
    } finally {
      await handle.close();
    }
  } catch (err) {
    return `(log unreadable: ${describeError(err)})`;
  }
}

function describeExit(exit: Exit): string {
  if (exit.error) return `could not run: ${exit.error.message}`;
  return exit.signal ? `killed by ${exit.signal}` : `exit code ${exit.code}`;
}

function exitFields(exit: Exit | undefined): Record<string, unknown> {
  return exit ? { code: exit.code, signal: exit.signal, error: exit.error?.message } : {};
}

function removeQuietly(file: string): void {
  try {
    unlinkSync(file);
  } catch {
    // Already gone.
  }
}

/** True when `pid` is a running etcd (guards against a recycled pid in a stale pid file). */
function isEtcdProcess(pid: number): boolean {
  try {
    const status = readFileSync(`/proc/${pid}/stat`, "utf8");
    if (/\) Z /.test(status)) return false;
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")[0]?.endsWith("etcd") ?? false;
  } catch {
    return false;
  }
}
