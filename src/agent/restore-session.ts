/**
 * The one restore (or verify) session an agent runs at a time, owned by the CLI invocation that opened it (its
 * id). A restore session holds the node's save flight and pauses the schedule; a verify session holds neither, so
 * backups go on while a snapshot is checked. Either ends in exactly one of three ways, each of which gives back
 * what it held and removes the session's files (the extracted snapshot holds every Kubernetes Secret):
 *   - the CLI releases it (success, failure, refusal, Ctrl-C),
 *   - its lease runs out (the CLI died): the CLI renews it every few seconds while it is alive,
 *   - the agent stops.
 * A rollback record (the data directory was swapped) is never touched here: it outlives the session on purpose.
 */
import type { SessionInfo } from "../api/restore.js";
import { HttpError } from "./http.js";
import type { SaveFlight } from "../snapshot/flight.js";

/** How long a restore waits for a cancelled recurring run to end. */
const CANCEL_WAIT_MS = 10_000;

/** The open session as the routes show it (src/api/restore.ts). */
export type SessionPurpose = SessionInfo["purpose"];
export type { SessionInfo };

export interface RestoreSessionDeps {
  flight: SaveFlight;
  /** Pauses recurring runs (cancelling one that is going) until `resume`; resolves when none runs any more. */
  pauseSchedule(reason: string): Promise<void>;
  resumeSchedule(): void;
  /** Removes whatever a session left in the restore folder (never the rollback record). */
  removeLeftovers(reason: string): Promise<void>;
  clock: () => Date;
  /** How long a session lives without a renewal. */
  leaseMs: number;
  onExpired(info: SessionInfo): void;
}

interface Session {
  info: SessionInfo;
  timer?: NodeJS.Timeout;
  releaseFlight?: () => void;
  /** A session the agent opened for itself (a scheduled verify): any session the CLI opens ends it first. */
  preempt?: (reason: string) => void;
}

export class RestoreSessions {
  private session: Session | undefined;
  /** Opening and closing are serialised: a release racing an open never leaves a flight held by nobody. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly deps: RestoreSessionDeps) {}

  get current(): SessionInfo | undefined {
    return this.session?.info;
  }

  /**
   * Opens session `id` for snapshot `name`, or renews it when it is already this node's session. A session the agent
   * opened for itself (`openOwn`) gives way: it is cancelled and closed first.
   */
  async open(id: string, name: string, purpose: SessionPurpose): Promise<SessionInfo> {
    const own = this.session;
    if (own?.preempt && own.info.id !== id) {
      own.preempt(`a ${purpose} of ${name} (session ${id}) takes the node`);
      await this.close(own.info.id, `a ${purpose} of ${name} takes the node`);
    }
    return this.openSession(id, name, purpose);
  }

  /**
   * Opens a verify session for the agent's own work (a scheduled verify), which any session the CLI opens preempts
   * (`preempt` is told why, then the session is closed and its files removed). It has no lease: its owner closes it.
   * Fails with 409 while another session is open.
   */
  async openOwn(id: string, name: string, preempt: (reason: string) => void): Promise<SessionInfo> {
    const info = await this.openSession(id, name, "verify");
    const s = this.session;
    if (s?.info.id === id) {
      clearTimeout(s.timer);
      s.preempt = preempt;
    }
    return info;
  }

  private openSession(id: string, name: string, purpose: SessionPurpose): Promise<SessionInfo> {
    return this.serial(async () => {
      const s = this.session;
      if (s?.info.id === id) {
        if (s.info.name !== name || s.info.purpose !== purpose)
          throw new HttpError(
            409,
            `session ${id} is a ${s.info.purpose} of ${s.info.name}, not a ${purpose} of ${name}`,
          );
        return this.renewNow(s);
      }
      if (s) throw new HttpError(409, `a ${s.info.purpose} of ${s.info.name} (session ${s.info.id}) is in progress`);
      // Files of an earlier session that never ended cleanly (an agent killed mid-restore) go before anything new.
      await this.deps.removeLeftovers("before a new session");
      const releaseFlight = purpose === "restore" ? await this.holdFlight(name) : undefined;
      const now = this.deps.clock();
      const info: SessionInfo = { id, name, purpose, openedAt: now.toISOString(), expiresAt: now.toISOString() };
      const session: Session = { info, ...(releaseFlight ? { releaseFlight } : {}) };
      this.session = session;
      return this.renewNow(session);
    });
  }

  /** Fails with 409 unless `id` is the open session (every restore step but the read-only ones checks this). */
  require(id: string, name: string): SessionInfo {
    const s = this.session;
    if (!s || s.info.id !== id)
      throw new HttpError(409, `no open session ${id} on this node${s ? ` (session ${s.info.id} is open)` : ""}`);
    if (s.info.name !== name) throw new HttpError(409, `session ${id} restores ${s.info.name}, not ${name}`);
    return s.info;
  }

  /**
   * Runs one restore step of session `id`. A step still running when its session ends (Ctrl-C during a download)
   * would leave what it writes behind: so when it finishes and no session is open any more, the files go.
   */
  async step<T>(id: string, name: string, fn: () => Promise<T>): Promise<T> {
    this.require(id, name);
    try {
      return await fn();
    } finally {
      if (!this.session) await this.serial(() => this.deps.removeLeftovers(`a step of session ${id} ended after it`));
    }
  }

  /** Ends session `id` (a no-op when it is not open: a release is safe to repeat). */
  close(id: string, reason: string): Promise<boolean> {
    return this.serial(async () => {
      if (this.session?.info.id !== id) return false;
      await this.end(reason);
      return true;
    });
  }

  /** Ends whatever session is open (agent shutdown). */
  closeAny(reason: string): Promise<void> {
    return this.serial(() => this.end(reason));
  }

  private async holdFlight(name: string): Promise<() => void> {
    const label = `restore of ${name}`;
    const mayCancel = (h: { kind: string }) => h.kind === "recurring";
    const busy = () =>
      new HttpError(409, `snapshot ${this.deps.flight.current} is being saved; retry the restore when it finishes`);
    if (this.deps.flight.held && !mayCancel(this.deps.flight.held)) throw busy();
    // The cancelled run gets a bounded time to give the flight back: a restore never waits on a save for long.
    const paused = this.deps.pauseSchedule(`a restore of ${name} is in progress`);
    await Promise.race([paused, new Promise((resolve) => setTimeout(resolve, CANCEL_WAIT_MS).unref())]);
    const release = await this.deps.flight.acquire(label, "restore", { waitMs: CANCEL_WAIT_MS, mayWait: mayCancel });
    if (!release) {
      this.deps.resumeSchedule();
      throw busy();
    }
    return release;
  }

  private renewNow(s: Session): SessionInfo {
    clearTimeout(s.timer);
    s.info.expiresAt = new Date(this.deps.clock().getTime() + this.deps.leaseMs).toISOString();
    s.timer = setTimeout(() => void this.expire(s), this.deps.leaseMs);
    s.timer.unref();
    return { ...s.info };
  }

  private expire(s: Session): Promise<unknown> {
    return this.serial(async () => {
      if (this.session !== s) return;
      this.deps.onExpired(s.info);
      await this.end("its lease ran out");
    });
  }

  private async end(reason: string): Promise<void> {
    const s = this.session;
    if (!s) return;
    this.session = undefined;
    clearTimeout(s.timer);
    try {
      await this.deps.removeLeftovers(`session ${s.info.id} ended: ${reason}`);
    } finally {
      if (s.releaseFlight) {
        s.releaseFlight();
        this.deps.resumeSchedule();
      }
    }
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn);
    this.queue = next.catch(() => undefined);
    return next;
  }
}
