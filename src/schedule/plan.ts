/**
 * When the next recurring snapshot runs, as pure functions of the schedule, what already happened and the time.
 *
 * Runs happen at "slots": multiples of the interval since the Unix epoch (12 h => 00:00 and 12:00 UTC), or the
 * instants a cron expression names. Every node computes the same slots, so the nodes of a cluster take their
 * recurring snapshots together, under the same name, and one election per slot picks the S3 uploader.
 */
import { formatInstant } from "../retention/index.js";
import { parseCron } from "./cron.js";
import type { Every } from "./spec.js";

/** The first slot strictly after `after`. */
export function slotAfter(every: Every, after: Date): Date {
  if (every.type === "cron") return parseCron(every.expression).next(after);
  return new Date((Math.floor(after.getTime() / every.ms) + 1) * every.ms);
}

/** The last slot at or before `at` (undefined only for a cron expression with no slot in the searched past). */
export function slotAtOrBefore(every: Every, at: Date): Date | undefined {
  if (every.type === "cron") return parseCron(every.expression).previous(at);
  return new Date(Math.floor(at.getTime() / every.ms) * every.ms);
}

/** Milliseconds from `slot` to the slot after it. */
export function periodAfter(every: Every, slot: Date): number {
  return every.type === "interval" ? every.ms : slotAfter(every, slot).getTime() - slot.getTime();
}

/** The jitter actually used: the configured bound, but never more than a tenth of the period. */
export function jitterBound(jitterMs: number, periodMs: number): number {
  return Math.max(0, Math.min(jitterMs, Math.floor(periodMs / 10)));
}

export interface PlanInput {
  every: Every;
  /** When the schedule was first pushed. */
  since: Date;
  /** Creation time (manifest) of this node's newest good recurring snapshot. */
  lastSuccess?: Date | undefined;
  /** The slot of the last run this process started or skipped, successful or not. */
  lastSlot?: Date | undefined;
  now: Date;
}

export interface PlannedRun {
  /** The slot this run belongs to: it names the snapshot and the S3 election. */
  slot: Date;
  /** When to start, before jitter. */
  at: Date;
  /** True when a slot was missed (agent down, clock jump): the run starts now, not at a slot. */
  catchUp: boolean;
}

/**
 * The next run. The reference point is the latest of the last success, the last attempted slot and the first push,
 * so neither a restart nor a re-push resets the timer (RKE's timer restarts with its container). When the slot
 * after the reference point has already passed, one catch-up run starts now, for the latest passed slot; a failed
 * run is not retried before the next slot, so a broken member is not hammered.
 */
export function planNextRun(input: PlanInput): PlannedRun {
  const times = [input.since, input.lastSuccess, input.lastSlot].filter((t): t is Date => t !== undefined);
  const reference = new Date(Math.max(...times.map((t) => t.getTime())));
  const next = slotAfter(input.every, reference);
  if (next.getTime() > input.now.getTime()) return { slot: next, at: next, catchUp: false };
  const latest = slotAtOrBefore(input.every, input.now) ?? next;
  const slot = latest.getTime() >= next.getTime() ? latest : next;
  return { slot, at: input.now, catchUp: true };
}

/**
 * RKE's recurring name, `<RFC3339 UTC>_etcd` with whole seconds and `Z`: the slot for a run on time (the same name
 * on every node), the start time for a catch-up run.
 */
export function recurringName(run: { slot: Date; catchUp: boolean }, now: Date): string {
  const at = run.catchUp ? now : run.slot;
  return `${formatInstant(new Date(Math.floor(at.getTime() / 1000) * 1000))}_etcd`;
}
