/**
 * The one progress renderer of the CLI: long work (a save per node, a restore's download, distribution and rebuild)
 * as bytes done, the total when known, a rate and an ETA, or a phase and its elapsed time where bytes cannot be
 * counted. On a terminal (`Output.live`) one line per task is redrawn in place on stderr; otherwise (cron, CI, a pipe,
 * `-o json`) a plain line per changed task goes to stderr at most every `everyMs` (5 s), and one when a task ends,
 * so that stdout stays the command's table or JSON. The clock is injected: tests drive it by hand.
 */
import { formatBytes, formatElapsed, type Output } from "./output.js";

/** How often plain (non-terminal) progress lines are printed at most. */
export const PLAIN_EVERY_MS = 5_000;

export interface ProgressUpdate {
  /** What is being done: `save`, `download`, `fetch`, `rebuild`. A new step restarts the task's rate and clock. */
  step: string;
  /** Bytes done so far; absent for a step measured by time alone (the rebuild). */
  done?: number | undefined;
  /** Bytes the step will have done when it ends, when known. */
  total?: number | undefined;
  /** Replaces the numbers with a word (`waiting for <name> to finish`). */
  note?: string | undefined;
  /**
   * How long the step has run and how fast, as measured where it runs (a restore's agent, polled): they replace this
   * board's own clock, which sees a step that ended between two polls as taking no time.
   */
  elapsedMs?: number | undefined;
  rate?: number | undefined;
}

interface Task {
  update: ProgressUpdate;
  startedAt: number;
  /** The first moment bytes were seen: the rate counts from there (a step may wait before bytes flow). */
  bytesFrom?: { at: number; done: number };
  ended?: { ok: boolean; at: number };
  changed: boolean;
}

export class ProgressBoard {
  private readonly tasks = new Map<string, Task>();
  private lastPlain: number;

  constructor(
    private readonly out: Pick<Output, "live" | "progress" | "progressLine">,
    private readonly now: () => number,
    private readonly everyMs = PLAIN_EVERY_MS,
  ) {
    this.lastPlain = now();
  }

  /** Reports `update` for task `name` (a node). */
  update(name: string, update: ProgressUpdate): void {
    const at = this.now();
    let task = this.tasks.get(name);
    if (!task || task.update.step !== update.step || task.ended) {
      task = { update, startedAt: at, changed: true };
      this.tasks.set(name, task);
    }
    task.update = { ...task.update, ...update };
    if (update.done !== undefined && !task.bytesFrom) task.bytesFrom = { at, done: update.done };
    task.changed = true;
    this.render(at);
  }

  /**
   * Task `name` ended: its last line says how much, how long and how fast (or that it failed). `done` is the step's
   * final byte count when the caller knows it (a save's snapshot size): it is then also the total.
   */
  end(name: string, ok: boolean, done?: number): void {
    const task = this.tasks.get(name);
    if (!task || task.ended) return;
    const at = this.now();
    task.ended = { ok, at };
    if (ok && done !== undefined) task.update = { ...task.update, done, total: done };
    if (!this.out.live) this.out.progressLine(this.lineOf(name, task, at));
    else this.render(at);
  }

  /** The lines as they read now, one per task (for the terminal, and for tests). */
  lines(): string[] {
    const at = this.now();
    return [...this.tasks].map(([name, task]) => this.lineOf(name, task, at));
  }

  private render(at: number): void {
    if (this.out.live) return this.out.progress(this.lines());
    if (at - this.lastPlain < this.everyMs) return;
    this.lastPlain = at;
    for (const [name, task] of this.tasks) {
      if (!task.changed || task.ended) continue;
      task.changed = false;
      this.out.progressLine(this.lineOf(name, task, at));
    }
  }

  private lineOf(name: string, task: Task, at: number): string {
    const { step, done, total, note } = task.update;
    const head = `${name} ${step}:`;
    const end = task.ended;
    const elapsed = formatElapsed(task.update.elapsedMs ?? (end?.at ?? at) - task.startedAt);
    if (end && !end.ok)
      return `${head} failed after ${elapsed}${done === undefined ? "" : ` (${amount(done, total)})`}`;
    if (note !== undefined && !end) return `${head} ${note}`;
    if (done === undefined) return end ? `${head} done in ${elapsed}` : `${head} ${elapsed}`;
    const rate = task.update.rate || (end ? averageRate(done, end.at - task.startedAt) : rateOf(task, at));
    const speed = rate === undefined ? "" : `, ${formatBytes(Math.round(rate))}/s`;
    if (end) return `${head} ${amount(done, total)} in ${elapsed}${speed}`;
    const left = rate && total !== undefined && total > done ? `, ETA ${formatElapsed(etaMs(total - done, rate))}` : "";
    return `${head} ${amount(done, total)}${speed}${left}`;
  }
}

function amount(done: number, total: number | undefined): string {
  if (total === undefined || total <= 0) return formatBytes(done);
  const percent = Math.min(100, Math.floor((done / total) * 100));
  return `${formatBytes(done)} of ${formatBytes(total)} (${percent}%)`;
}

/** Bytes per second since bytes began to flow; undefined until some moved over a measurable interval. */
function rateOf(task: Task, at: number): number | undefined {
  const from = task.bytesFrom;
  const done = task.update.done;
  if (!from || done === undefined) return undefined;
  const ms = at - from.at;
  if (ms <= 0 || done === from.done) return undefined;
  return ((done - from.done) * 1000) / ms;
}

function averageRate(done: number, ms: number): number | undefined {
  return ms > 0 ? (done * 1000) / ms : undefined;
}

/** Whole seconds (no ETA is better than a precise one). */
function etaMs(bytesLeft: number, rate: number): number {
  return Math.ceil(bytesLeft / rate) * 1000;
}
