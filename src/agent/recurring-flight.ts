/**
 * One save at a time per node (docs/design.md I6). The one-time save route and the scheduler share one flight, so a
 * recurring run never overlaps an operator's snapshot and the other way round.
 */
export class SaveFlight {
  private holder: string | undefined;

  /** The name of the snapshot being saved now, if any. */
  get current(): string | undefined {
    return this.holder;
  }

  /**
   * Claims the flight for snapshot `name`. Returns the function that gives it back (idempotent), or undefined when
   * another save holds it; the caller then refuses (409) or skips, and never waits.
   */
  tryAcquire(name: string): (() => void) | undefined {
    if (this.holder !== undefined) return undefined;
    this.holder = name;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.holder = undefined;
    };
  }
}
