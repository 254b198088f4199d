/** The sandbox's processes, found by pid: alive or not, what they are, and ending them. */
import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { isSea } from "node:sea";
import { setTimeout as sleep } from "node:timers/promises";

/**
 * The command line that runs Lifeboat again: `node <entry>`, or inside the single executable the executable alone
 * (it is its own entry point, and its command line is all Lifeboat's).
 */
export function selfCommand(entry: string): string[] {
  return isSea() ? [process.execPath] : [process.execPath, entry];
}

/** True while `pid` runs; an exited process that its parent (often init, for detached children) has not reaped yet is a
 * zombie and counts as gone. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

/** The process's argv, or [] when it is gone. */
export function commandLineOf(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
  } catch {
    return [];
  }
}

/** Guards against a recycled pid: true only while `pid` runs an etcd binary. */
export function etcdAlive(pid: number | undefined): boolean {
  return pid !== undefined && isAlive(pid) && (commandLineOf(pid)[0]?.endsWith("etcd") ?? false);
}

/**
 * Guards against a recycled pid: true only while `pid` runs with `args`, in this order and next to each other, on its
 * command line. Pids are reused (Linux's pid_max is often 32768, and a busy machine goes round it in minutes), so a
 * pid read from a file is only the sandbox's process while its command line still says so.
 */
export function runsWith(pid: number | undefined, args: readonly string[]): boolean {
  if (pid === undefined || !isAlive(pid)) return false;
  const argv = commandLineOf(pid);
  return argv.some((_, i) => args.every((a, j) => argv[i + j] === a));
}

export async function readPid(path: string): Promise<number | undefined> {
  const text = await readFile(path, "utf8").catch(() => "");
  const pid = Number(text.trim());
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/**
 * SIGTERM, wait up to `graceMs`, then SIGKILL. Returns how many were running. `ours` says whether a pid is still the
 * process meant (runsWith, etcdAlive): a signal never goes to a pid that has since been given to another process.
 */
export async function terminate(pids: number[], graceMs: number, ours: (pid: number) => boolean): Promise<number> {
  const alive = pids.filter(ours);
  for (const pid of alive) signal(pid, "SIGTERM");
  const deadline = Date.now() + graceMs;
  while (alive.some(ours) && Date.now() < deadline) await sleep(100);
  for (const pid of alive.filter(ours)) signal(pid, "SIGKILL");
  while (alive.some(ours)) await sleep(50);
  return alive.length;
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // It exited between the check and the signal.
  }
}
