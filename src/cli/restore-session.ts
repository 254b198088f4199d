/**
 * The CLI's hold on the nodes during a restore, rollback or verify: one session id, opened on every node it needs
 * (a restore or rollback session holds the node's save flight and pauses its schedule), renewed while this process
 * lives, and released on every way out: success, failure, refusal, and Ctrl-C. If this process dies anyway, the
 * agents end the session when its lease runs out (docs/design.md "Restore sessions").
 */
import { randomBytes } from "node:crypto";
import type { AgentClient } from "../agent/client.js";
import { describeError } from "../util/errors.js";

export type Purpose = "restore" | "verify" | "rollback";

export interface SessionNode {
  name: string;
  client: AgentClient;
}

export interface Sessions {
  id: string;
  /** Opens the session on every node; if any refuses, all are released and its error is thrown. */
  open(): Promise<void>;
  /** Releases every node (best effort, bounded; a node never opened answers "not open"); safe to call again. */
  release(): Promise<void>;
}

/** How often the CLI renews; the agents' lease is 60 s. */
const RENEW_MS = 15_000;

/** One session id for `nodes`; nothing is sent before `open`, so a Ctrl-C can always `release`. */
export function createSessions(
  nodes: readonly SessionNode[],
  name: string,
  purpose: Purpose,
  note: (line: string) => void,
): Sessions {
  const id = `${purpose}-${randomBytes(8).toString("hex")}`;
  const openOn = (n: SessionNode) =>
    n.client.json("POST", "/v1/restore/session", { session: id, name, purpose }, 30_000);
  let timer: NodeJS.Timeout | undefined;
  let released: Promise<void> | undefined;
  const release = () =>
    (released ??= (async () => {
      clearInterval(timer);
      await Promise.all(
        nodes.map((n) =>
          n.client
            .json("POST", "/v1/restore/session/release", { session: id }, 30_000)
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
}): () => void {
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
    void o.sessions.release().finally(() => process.exit(130));
  };
  process.on("SIGINT", handler);
  process.on("SIGTERM", handler);
  return () => {
    process.off("SIGINT", handler);
    process.off("SIGTERM", handler);
  };
}
