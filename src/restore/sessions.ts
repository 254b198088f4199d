/**
 * The coordinator's hold on the nodes during a restore, rollback or verify: one session id, opened on every node it
 * needs (a restore or rollback session holds the node's save flight and pauses its schedule), renewed while this
 * process lives, and released on every way out: success, failure, refusal, and Ctrl-C. If this process dies anyway,
 * the agents end the session when its lease runs out (docs/design.md "Restore sessions", README.md beside this file).
 */
import { randomBytes } from "node:crypto";
import { describeError } from "../util/errors.js";

export type Purpose = "restore" | "verify" | "rollback";

/** What a session needs of one node (the CLI implements it over the agent API). */
export interface SessionNode {
  name: string;
  /** Opens session `id` on the node, or renews it when it is already open there. */
  openSession(id: string, name: string, purpose: Purpose): Promise<unknown>;
  releaseSession(id: string): Promise<unknown>;
}

export interface Sessions {
  id: string;
  /** Opens the session on every node; if any refuses, all are released and its error is thrown. */
  open(): Promise<void>;
  /** Releases every node (best effort, bounded; a node never opened answers "not open"); safe to call again. */
  release(): Promise<void>;
}

/** How often the coordinator renews; the agents' lease is 60 s. */
const RENEW_MS = 15_000;

/** One session id for `nodes`; nothing is sent before `open`, so a Ctrl-C can always `release`. */
export function createSessions(
  nodes: readonly SessionNode[],
  name: string,
  purpose: Purpose,
  note: (line: string) => void,
): Sessions {
  const id = `${purpose}-${randomBytes(8).toString("hex")}`;
  const openOn = (n: SessionNode) => n.openSession(id, name, purpose);
  let timer: NodeJS.Timeout | undefined;
  let released: Promise<void> | undefined;
  const release = () =>
    (released ??= (async () => {
      clearInterval(timer);
      await Promise.all(
        nodes.map((n) =>
          n
            .releaseSession(id)
            .catch((err: unknown) =>
              note(`could not release ${n.name} (${describeError(err)}); its hold expires by itself within a minute`),
            ),
        ),
      );
    })());
  const renew = () => {
    const warned = new Set<string>();
    timer = setInterval(() => {
      for (const n of nodes) {
        openOn(n).catch((err: unknown) => {
          if (warned.has(n.name)) return;
          warned.add(n.name);
          note(`could not renew the hold on ${n.name}: ${describeError(err)}`);
        });
      }
    }, RENEW_MS);
    timer.unref();
  };
  const open = async () => {
    const results = await Promise.allSettled(nodes.map(openOn));
    const refused = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (refused) {
      await release();
      throw refused.reason as Error;
    }
    renew();
  };
  return { id, open, release };
}

/** Where signals come from and how the process ends (the process itself, or a fake in tests). */
export interface Signals {
  on(signal: NodeJS.Signals, handler: (signal: NodeJS.Signals) => void): unknown;
  off(signal: NodeJS.Signals, handler: (signal: NodeJS.Signals) => void): unknown;
  exit(code: number): void;
}

export const processSignals: Signals = {
  on: (s, h) => process.on(s, h),
  off: (s, h) => process.off(s, h),
  exit: (code) => process.exit(code),
};

/**
 * Ctrl-C (or SIGTERM) during a restore, rollback or verify: outside the critical part, release the nodes (those held
 * so far) and exit 130 ("nothing was changed"); inside it (members stopped or being rebuilt), the first signal only
 * warns, because stopping there leaves the cluster down, and a second one exits without undoing anything (then:
 * snapshot-restore --rollback). Installed before the sessions are opened, so that no signal finds a node held and
 * no handler. Returns the function that removes the handlers.
 */
export function onInterrupt(o: {
  sessions: Sessions;
  critical: () => boolean;
  note: (line: string) => void;
  signals?: Signals | undefined;
}): () => void {
  const signals = o.signals ?? processSignals;
  let warned = false;
  const handler = (signal: NodeJS.Signals) => {
    if (o.critical() && !warned) {
      warned = true;
      o.note(
        `${signal}: the members are being rebuilt; stopping now can leave the cluster down. Send it again to stop anyway, then run snapshot-restore --rollback.`,
      );
      return;
    }
    o.note(`${signal}: stopping; releasing the nodes${o.critical() ? "" : " (nothing was changed)"}`);
    void o.sessions.release().finally(() => signals.exit(130));
  };
  signals.on("SIGINT", handler);
  signals.on("SIGTERM", handler);
  return () => {
    signals.off("SIGINT", handler);
    signals.off("SIGTERM", handler);
  };
}

/**
 * Runs `fn` while holding `nodes` under one session: the interrupt handler is installed before anything is sent (so
 * `fn` opens the session itself, once it is covered), and every node is released on every way out.
 */
export async function holding<T>(
  nodes: readonly SessionNode[],
  name: string,
  purpose: Purpose,
  guard: { note: (line: string) => void; critical: () => boolean; signals?: Signals | undefined },
  fn: (sessions: Sessions) => Promise<T>,
): Promise<T> {
  const sessions = createSessions(nodes, name, purpose, guard.note);
  const unguard = onInterrupt({ sessions, ...guard });
  try {
    return await fn(sessions);
  } finally {
    unguard();
    await sessions.release();
  }
}
