/**
 * How far a node's restore work has got, per phase (docs/design.md "Progress"): the S3 download, the extraction
 * (decompression and the trailer and sha256 checks), the fetch from a peer, and the rebuild. The node steps report
 * into it; GET /v1/restore/progress (src/agent/restore-routes.ts) shows the open session's phases.
 */
import type { PhaseProgress } from "../api/restore.js";

type PhaseName = PhaseProgress["phase"];

/** One running phase as a step sees it. */
export interface PhaseCounter {
  /** `bytes` more were done. */
  add(bytes: number): void;
  /** The phase ended; `done` is its final byte count when the step knows it. */
  end(ok: boolean, done?: number): void;
}

interface Phase {
  phase: PhaseName;
  done: number | null;
  total: number | null;
  startedAt: number;
  endedAt: number | null;
  ok: boolean | null;
}

export class RestoreProgressTracker {
  private session: string | null = null;
  private phases: Phase[] = [];

  constructor(private readonly now: () => number = Date.now) {}

  /** Starts counting for session `id`; what an earlier session counted is dropped. */
  begin(id: string): void {
    if (this.session === id) return;
    this.session = id;
    this.phases = [];
  }

  /** Starts `phase` (byte-counted unless `bytes: false`), replacing an earlier run of the same phase. */
  start(phase: PhaseName, total: number | undefined, opts: { bytes?: boolean } = {}): PhaseCounter {
    const p: Phase = {
      phase,
      done: opts.bytes === false ? null : 0,
      total: total ?? null,
      startedAt: this.now(),
      endedAt: null,
      ok: null,
    };
    this.phases = [...this.phases.filter((x) => x.phase !== phase), p];
    return {
      add: (bytes) => {
        if (p.done !== null && p.endedAt === null) p.done += bytes;
      },
      end: (ok, done) => {
        if (p.endedAt !== null) return;
        p.endedAt = this.now();
        p.ok = ok;
        if (ok && done !== undefined) p.done = done;
        if (ok && p.done !== null && p.total === null) p.total = p.done;
      },
    };
  }

  /** The phases of session `current` (the node's open one), or none when it is not the session counted here. */
  view(current: string | undefined): { session: string | null; phases: PhaseProgress[] } {
    if (!current || current !== this.session) return { session: current ?? null, phases: [] };
    const at = this.now();
    return {
      session: current,
      phases: this.phases.map((p) => {
        const ms = (p.endedAt ?? at) - p.startedAt;
        return {
          phase: p.phase,
          done: p.done,
          total: p.total,
          rate: p.done && ms > 0 ? Math.round((p.done * 1000) / ms) : 0,
          startedAt: new Date(p.startedAt).toISOString(),
          endedAt: p.endedAt === null ? null : new Date(p.endedAt).toISOString(),
          ok: p.ok,
        };
      }),
    };
  }
}

/** Runs `fn` as phase `phase` of `tracker` (when there is one): ended ok with its result, or failed. */
export async function counted<T>(
  tracker: RestoreProgressTracker | undefined,
  phase: PhaseName,
  total: number | undefined,
  fn: (counter: PhaseCounter | undefined) => Promise<T>,
  opts: { bytes?: boolean; doneOf?: (result: T) => number | undefined } = {},
): Promise<T> {
  const counter = tracker?.start(phase, total, opts);
  try {
    const result = await fn(counter);
    counter?.end(true, opts.doneOf?.(result));
    return result;
  } catch (err) {
    counter?.end(false);
    throw err;
  }
}

/** Where the coordinator shows the nodes' progress (the CLI's ProgressBoard, src/cli/progress.ts). */
export interface ProgressSink {
  update(
    task: string,
    update: {
      step: string;
      done?: number | undefined;
      total?: number | undefined;
      /** Measured on the node: how long the phase ran (once it ended) and its rate. */
      elapsedMs?: number | undefined;
      rate?: number | undefined;
    },
  ): void;
  end(task: string, ok: boolean, done?: number): void;
}

/** What the watcher needs of a node: its name and its progress route. */
export interface ProgressSource {
  name: string;
  progress?(): Promise<{ phases: readonly PhaseProgress[] }>;
}

/**
 * Polls every node's progress every `everyMs` into `sink` (one task per node, a step per phase) until `stop`, which
 * polls once more so that every phase that ended shows its last line. A node that does not answer a poll is skipped
 * (its progress is no reason to fail a restore).
 */
export function watchProgress(nodes: readonly ProgressSource[], sink: ProgressSink, everyMs = 1_000) {
  const ended = new Set<string>();
  let stopped = false;
  let wake: (() => void) | undefined;
  const pollOne = async (n: ProgressSource) => {
    const reply = await n.progress?.().catch(() => undefined);
    for (const p of reply?.phases ?? []) {
      const key = `${n.name}\0${p.phase}\0${p.startedAt}`;
      if (ended.has(key)) continue;
      const bytes = { ...(p.done === null ? {} : { done: p.done }), ...(p.total === null ? {} : { total: p.total }) };
      const ran = p.endedAt === null ? {} : { elapsedMs: Date.parse(p.endedAt) - Date.parse(p.startedAt) };
      sink.update(n.name, { step: p.phase, ...bytes, ...ran, ...(p.rate > 0 ? { rate: p.rate } : {}) });
      if (p.endedAt === null) continue;
      ended.add(key);
      sink.end(n.name, p.ok === true, p.done ?? undefined);
    }
  };
  const poll = () => Promise.all(nodes.map(pollOne));
  const loop = (async () => {
    while (!stopped) {
      await poll();
      if (stopped) break;
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, everyMs).unref();
      });
    }
  })();
  return {
    async stop(): Promise<void> {
      stopped = true;
      wake?.();
      await loop;
      await poll();
    },
  };
}
