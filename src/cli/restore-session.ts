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
  /** Releases every node (best effort, bounded); safe to call more than once. */
  release(): Promise<void>;
}

/** How often the CLI renews; the agents' lease is 60 s. */
const RENEW_MS = 15_000;

/** Opens one session on every node; if any refuses, the ones already opened are released and the error is thrown. */
export async function openSessions(
  nodes: readonly SessionNode[],
  name: string,
  purpose: Purpose,
  note: (line: string) => void,
): Promise<Sessions> {
  const id = `${purpose}-${randomBytes(8).toString("hex")}`;
  const open = (n: SessionNode) => n.client.json("POST", "/v1/restore/session", { session: id, name, purpose }, 30_000);
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
  const warned = new Set<string>();
  const timer = setInterval(() => {
    for (const n of nodes) {
      open(n).catch((err: unknown) => {
        if (warned.has(n.name)) return;
        warned.add(n.name);
        note(`could not renew the hold on ${n.name}: ${describeError(err)}`);
      });
    }
  }, RENEW_MS);
  timer.unref();
  const results = await Promise.allSettled(nodes.map(open));
  const failed = results.flatMap((r, i) =>
    r.status === "rejected" ? [`${nodes[i]?.name}: ${describeError(r.reason)}`] : [],
  );
  if (failed.length) {
    await release();
    throw results.find((r): r is PromiseRejectedResult => r.status === "rejected")!.reason as Error;
  }
  return { id, release };
}

/**
 * Ctrl-C (or SIGTERM) while a session is open: outside the critical part, release the nodes and exit 130 ("nothing
 * was changed"); inside it (members stopped or being rebuilt), the first signal only warns, because stopping there
 * leaves the cluster down, and a second one exits without undoing anything (then: snapshot-restore --rollback).
 * Returns the function that removes the handlers.
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
