/**
 * One save at a time per node (docs/design.md I6). The one-time save route, the scheduler and a restore share one
 * flight, so a recurring run never overlaps an operator's snapshot, and no snapshot runs while a restore holds the
 * node. The holder's kind decides how others treat it: a one-time save may wait (bounded) for a recurring one, a
 * restore cancels a recurring one (the scheduler's pause), and nobody waits on a restore.
 */
export type FlightKind = "one-time" | "recurring" | "restore";

export interface FlightHolder {
  name: string;
  kind: FlightKind;
  since: Date;
}

export class SaveFlight {
  private holder: FlightHolder | undefined;
  private waiters: (() => void)[] = [];

  /** The name of the snapshot (or restore) holding the flight now, if any. */
  get current(): string | undefined {
    return this.holder?.name;
  }

  get held(): FlightHolder | undefined {
    return this.holder;
  }

  /**
   * Claims the flight for `name`. Returns the function that gives it back (idempotent), or undefined when another
   * holder has it; the caller then refuses (409), skips, or waits with `acquire`.
   */
  tryAcquire(name: string, kind: FlightKind = "one-time"): (() => void) | undefined {
    if (this.holder !== undefined) return undefined;
    const holder = { name, kind, since: new Date() };
    this.holder = holder;
    return () => {
      if (this.holder !== holder) return;
      this.holder = undefined;
      for (const wake of this.waiters.splice(0)) wake();
    };
  }

  /**
   * Claims the flight, waiting up to `waitMs` while `mayWait(holder)` says the current holder is worth waiting for
   * (and `signal` is not aborted). Resolves undefined when it could not be claimed.
   */
  async acquire(
    name: string,
    kind: FlightKind,
    o: { waitMs: number; mayWait: (holder: FlightHolder) => boolean; signal?: AbortSignal },
  ): Promise<(() => void) | undefined> {
    const deadline = Date.now() + o.waitMs;
    for (;;) {
      const release = this.tryAcquire(name, kind);
      if (release) return release;
      const left = deadline - Date.now();
      if (!this.holder || !o.mayWait(this.holder) || left <= 0 || o.signal?.aborted) return undefined;
      await this.released(left, o.signal);
    }
  }

  /** Resolves when the holder gives the flight back, after `ms` at the latest, or when `signal` aborts. */
  private released(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", done);
        this.waiters = this.waiters.filter((w) => w !== done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal?.addEventListener("abort", done, { once: true });
      this.waiters.push(done);
    });
  }
}
