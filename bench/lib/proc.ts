/**
 * Measuring whole processes from outside: wall time from spawn to exit, and peak resident memory read from
 * /proc/<pid>/status (VmHWM) while the process runs. Long-lived processes that a run makes work (the agent) are
 * "watched": their high-water mark is reset through /proc/<pid>/clear_refs before the run and read after it, so the
 * figure is the peak during that run only.
 */
import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";

export interface Measured {
  wallMs: number;
  /** Peak RSS of the spawned process, in bytes (0 if it exited before the first poll). */
  peakRss: number;
  /** Peak RSS of each watched pid during the run, in bytes. */
  watched: Record<number, number>;
  /** CPU time (user + system, all threads) each watched pid used during the run, ms. */
  watchedCpuMs: Record<number, number>;
  /** RSS of each watched pid just before the run (where its peak was reset to), bytes. */
  watchedStartRss: Record<number, number>;
  code: number;
  stdout: string;
  stderr: string;
}

export interface MeasureOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Kill the process after this long (default 15 min). */
  timeoutMs?: number;
  /** Pids whose peak RSS is reset before the run and read after it. */
  watch?: readonly number[];
  pollMs?: number;
}

/** Runs `file args`, resolving once it exited; never rejects for a non-zero exit (check `code`). */
export function measure(file: string, args: readonly string[], opts: MeasureOptions = {}): Promise<Measured> {
  const watch = opts.watch ?? [];
  for (const pid of watch) resetPeak(pid);
  const watchedStartRss = Object.fromEntries(watch.map((pid) => [pid, readStatus(pid, "VmRSS")]));
  const cpuBefore = watch.map(cpuMs);
  const started = process.hrtime.bigint();
  const child = spawn(file, args, {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  let peak = 0;
  const poll = () => {
    if (child.pid !== undefined) peak = Math.max(peak, readPeak(child.pid));
  };
  const poller = setInterval(poll, opts.pollMs ?? 10);
  const killer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 15 * 60_000);
  return new Promise((resolve, reject) => {
    let wallMs = 0;
    child.once("error", (err) => {
      clearInterval(poller);
      clearTimeout(killer);
      reject(new Error(`cannot run ${file}`, { cause: err }));
    });
    child.once("exit", () => {
      wallMs = Number(process.hrtime.bigint() - started) / 1e6;
      clearInterval(poller);
      clearTimeout(killer);
    });
    child.once("close", (code) => {
      const watched = Object.fromEntries(watch.map((pid) => [pid, readPeak(pid)]));
      const watchedCpuMs = Object.fromEntries(watch.map((pid, i) => [pid, cpuMs(pid) - cpuBefore[i]!]));
      resolve({ wallMs, peakRss: peak, watched, watchedCpuMs, watchedStartRss, code: code ?? -1, stdout, stderr });
    });
    poll();
  });
}

/** Like `measure`, but rejects when the process exits non-zero (with the tail of its output). */
export async function measureOk(file: string, args: readonly string[], opts: MeasureOptions = {}): Promise<Measured> {
  const m = await measure(file, args, opts);
  if (m.code !== 0) {
    const tail = (m.stderr + m.stdout).trim().split("\n").slice(-15).join("\n");
    throw new Error(`${file} ${args.join(" ")} exited with ${m.code}:\n${tail}`);
  }
  return m;
}

/** VmHWM of `pid` in bytes; 0 when the process is gone or unreadable. */
export function readPeak(pid: number): number {
  return readStatus(pid, "VmHWM");
}

/** A memory field of /proc/<pid>/status in bytes; 0 when the process is gone or unreadable. */
function readStatus(pid: number, field: "VmHWM" | "VmRSS"): number {
  try {
    const kb = new RegExp(`^${field}:\\s+(\\d+) kB$`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
    return kb === undefined ? 0 : Number(kb) * 1024;
  } catch {
    return 0;
  }
}

/** User + system CPU time of `pid` so far (every thread), ms; 0 when unreadable. Linux's USER_HZ is 100. */
export function cpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return 0;
  }
}

/** Resets the peak RSS of `pid` to its current RSS ("5" to clear_refs, Linux 4.0+). */
export function resetPeak(pid: number): void {
  writeFileSync(`/proc/${pid}/clear_refs`, "5");
}
