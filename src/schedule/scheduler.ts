/**
 * The recurring-snapshot timer of one agent. It owns no I/O: the clock, the timers, the random source, where the
 * last success comes from and what a run does are all injected, so tests drive hours of schedule in milliseconds.
 *
 * The next run is planned when a schedule is configured and again the moment a run starts (see plan.ts),
 * so a run that outlasts its period makes the following slots fire while it is still going: those are skipped, and
 * say so, instead of queueing up. Waits are cut into steps of at most a minute so that a wall-clock jump (suspend,
 * NTP) is noticed within a minute.
 */
import { describeError } from "../util/errors.js";
import type { Logger } from "../util/log.js";
import { jitterBound, periodAfter, planNextRun, recurringName, slotAfter, type PlannedRun } from "./plan.js";
import type { ScheduleSpec } from "./spec.js";

/** Timer functions, injectable so that tests control time. */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** One run the scheduler asks for. */
export interface ScheduleJob {
  name: string;
  slot: Date;
  catchUp: boolean;
  spec: ScheduleSpec;
  /** Aborted when the scheduler stops or is reconfigured while the run is going. */
  signal: AbortSignal;
}

export interface SchedulerDeps {
  clock: () => Date;
  timers: Timers;
  /** A number in [0, 1) for jitter. */
  random: () => number;
  log: Logger;
  /** Creation time of this node's newest good recurring snapshot (read from manifests). */
  lastSuccess(): Promise<Date | undefined>;
  /** Carries out one run; must not throw (it records its own outcome). */
  run(job: ScheduleJob): Promise<void>;
  /** Told about a slot that was skipped because the previous run was still going. */
  skipped(job: Omit<ScheduleJob, "signal">, reason: string): void;
}

/** The abort reason of a run cancelled by `pause` (a restore holds the node): the run is skipped, not failed. */
export class RunPaused extends Error {
  override name = "RunPaused";
}

/** The longest single wait, so that wall-clock jumps are noticed. */
const MAX_WAIT_MS = 60_000;

export interface SchedulerStatus {
  enabled: boolean;
  /** Why runs are paused (a restore holds the node), when they are. */
  paused?: string;
  nextRun?: { at: string; slot: string; name: string; catchUp: boolean };
  running?: string;
}

export class Scheduler {
  private spec: ScheduleSpec | undefined;
  private since = new Date(0);
  private lastSuccess: Date | undefined;
  private lastSlot: Date | undefined;
  private next: PlannedRun | undefined;
  private timer: unknown;
  private running: { name: string; done: Promise<void>; abort: AbortController } | undefined;
  private paused: string | undefined;

  constructor(private readonly deps: SchedulerDeps) {}

  /**
   * Starts (or replaces, or with undefined stops) the schedule. A run in progress is left to finish unless the
   * schedule is removed. Resolves once the next run is armed; a missed slot fires at once as a catch-up run.
   */
  async configure(schedule: { spec: ScheduleSpec; since: Date } | undefined): Promise<void> {
    this.disarm();
    this.spec = schedule?.spec;
    if (!schedule) {
      this.running?.abort.abort(new Error("the schedule was removed"));
      return;
    }
    this.since = schedule.since;
    this.lastSuccess = await this.deps.lastSuccess().catch((err: unknown) => {
      this.deps.log.warn("cannot read the last recurring snapshot; planning from the push time", {
        error: describeError(err),
      });
      return undefined;
    });
    if (this.spec === schedule.spec) this.arm();
  }

  /** Stops the timer, aborts a run in progress and waits for it to end. */
  async stop(): Promise<void> {
    this.disarm();
    this.spec = undefined;
    const running = this.running;
    running?.abort.abort(new Error("the agent is stopping"));
    await running?.done;
  }

  /**
   * Pauses runs until `resume`: a run going now is cancelled (even one still in its health-check retries), and a
   * slot that comes meanwhile is skipped with `reason`. Resolves once no run is going.
   */
  async pause(reason: string): Promise<void> {
    this.paused = reason;
    const running = this.running;
    running?.abort.abort(new RunPaused(`cancelled: ${reason}`));
    await running?.done;
  }

  resume(): void {
    this.paused = undefined;
  }

  /** Resolves when no run is going (now or after the current one). */
  async idle(): Promise<void> {
    while (this.running) await this.running.done;
  }

  status(): SchedulerStatus {
    const out: SchedulerStatus = { enabled: this.spec !== undefined };
    if (this.paused) out.paused = this.paused;
    if (this.spec && this.next) {
      const now = this.deps.clock();
      out.nextRun = {
        at: this.next.at.toISOString(),
        slot: this.next.slot.toISOString(),
        name: recurringName(this.next, now),
        catchUp: this.next.catchUp,
      };
    }
    if (this.running) out.running = this.running.name;
    return out;
  }

  private arm(): void {
    const spec = this.spec;
    if (!spec) return;
    const now = this.deps.clock();
    const plan = planNextRun({
      every: spec.every,
      since: this.since,
      lastSuccess: this.lastSuccess,
      lastSlot: this.lastSlot,
      now,
    });
    const bound = plan.catchUp ? 0 : jitterBound(spec.jitterMs, periodAfter(spec.every, plan.slot));
    this.next = { ...plan, at: new Date(plan.at.getTime() + Math.floor(this.deps.random() * bound)) };
    this.wait();
  }

  private wait(): void {
    const next = this.next;
    if (!next || !this.spec) return;
    const now = this.deps.clock();
    // After a wall-clock jump past the following slot, the planned slot is stale: plan again (one catch-up run).
    if (!next.catchUp && slotAfter(this.spec.every, next.slot).getTime() <= now.getTime()) return this.arm();
    const delay = next.at.getTime() - now.getTime();
    const step = delay <= 0 ? 0 : Math.min(delay, MAX_WAIT_MS);
    this.timer = this.deps.timers.setTimeout(() => {
      this.timer = undefined;
      if (delay <= 0) this.fire(next);
      else this.wait();
    }, step);
  }

  private disarm(): void {
    if (this.timer !== undefined) this.deps.timers.clearTimeout(this.timer);
    this.timer = undefined;
    this.next = undefined;
  }

  private fire(planned: PlannedRun): void {
    const spec = this.spec;
    if (!spec) return;
    const now = this.deps.clock();
    const job = { name: recurringName(planned, now), slot: planned.slot, catchUp: planned.catchUp, spec };
    this.lastSlot = planned.slot;
    this.arm();
    const busy = this.paused ?? (this.running && `the previous run (${this.running.name}) is still going`);
    if (busy) {
      const reason = this.paused ? `paused: ${busy}` : busy;
      this.deps.log.warn("recurring snapshot skipped", { name: job.name, reason });
      this.deps.skipped(job, reason);
      return;
    }
    this.start(job);
  }

  private start(job: Omit<ScheduleJob, "signal">): void {
    const abort = new AbortController();
    const done = this.deps
      .run({ ...job, signal: abort.signal })
      .catch((err: unknown) => this.deps.log.error("recurring run failed unexpectedly", { error: describeError(err) }))
      .finally(() => {
        if (this.running?.done === done) this.running = undefined;
      });
    this.running = { name: job.name, done, abort };
  }
}
