/**
 * `lifeboat etcd snapshot-restore --rollback`: put back the data directories from before a restore, or refuse
 * before anything is stopped. Two cases, decided from what every node reports (preflight):
 *   - a restore is pending on some nodes (it failed or was cut off after the swap): those nodes get their old data
 *     back and their members restart;
 *   - nothing is pending, and the state file's newest restore is on record on every node with its old data directory
 *     still there: every member goes back to the data from before that restore (all nodes or none; everything
 *     written since is lost, which the confirmation says).
 * Anything else is refused with exit 2 and the reason: a rollback that did not happen is never reported.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { writeState } from "../config/state.js";
import type { RollbackRecord } from "../restore/node.js";
import { rollbackAll, waitHealthy } from "../restore/apply.js";
import { describeError, ExitCode, UserError } from "../util/errors.js";
import type { CliDeps } from "./deps.js";
import type { OpenCluster } from "./cluster.js";
import { createSessions, onInterrupt } from "./restore-session.js";
import { confirm, restoreNode, type RestoreOptions } from "./restore-shared.js";

interface RollbackPreflight {
  node: string;
  pendingRollback: RollbackRecord | null;
  lastRestored: (RollbackRecord & { oldDataDirExists: boolean }) | null;
}

type Decision =
  | { kind: "pending"; nodes: string[]; name: string }
  | { kind: "undo"; stamp: string; name: string; at: string; restoredClusterId?: string };

export async function rollbackCommand(cluster: OpenCluster, options: RestoreOptions, deps: CliDeps): Promise<void> {
  const preflight = await Promise.all(
    cluster.agents.map(({ client }) => client.json<RollbackPreflight>("GET", "/v1/restore/preflight")),
  );
  const decision = decide(preflight, cluster);
  const question =
    decision.kind === "pending"
      ? `Roll back the unfinished restore of [${decision.name}] on ${decision.nodes.join(", ")} (their old data back, members restarted)?`
      : `Undo the restore of [${decision.name}] from ${decision.at} on all ${cluster.agents.length} nodes? Every member gets the data from before it back; everything written since is lost.`;
  deps.out.line(`[rollback] ${question}`);
  await confirm(question, options, deps);
  const agents = cluster.agents.filter((a) => decision.kind === "undo" || decision.nodes.includes(a.node.memberName));
  const held = agents.map((a) => ({ name: a.node.memberName, client: a.client }));
  const sessions = createSessions(held, decision.name, "rollback", (l) => deps.out.note(l));
  const unguard = onInterrupt({ sessions, critical: () => true, note: (l) => deps.out.note(l) });
  try {
    await sessions.open();
    const nodes = agents.map((a) => restoreNode(a.node.memberName, a.node.agent.endpoint, a.client, sessions));
    const timeoutMs = (options.timeout ?? cluster.config.backup.timeoutSeconds) * 1000;
    const phase = (t: string) => deps.out.line(`[rollback] ${t}`);
    if (decision.kind === "undo") {
      phase("stop every member");
      for (const n of nodes) await n.stopMember();
    }
    const rollbackNodes = nodes.map((n) =>
      decision.kind === "undo"
        ? { ...n, rollback: () => agentRollback(agents, n.name, sessions.id, decision.stamp) }
        : n,
    );
    const outcome = await rollbackAll({ nodes: rollbackNodes, phase, healthTimeoutMs: timeoutMs });
    if (outcome.startsWith("rollback incomplete")) {
      deps.out.line(outcome);
      deps.out.result({ rollback: outcome, ok: false });
      deps.setExitCode(ExitCode.restoreFailed);
      return;
    }
    if (decision.kind === "undo") await finishUndo(decision, cluster, nodes, timeoutMs, deps);
    deps.out.line(outcome);
    deps.out.result({ rollback: outcome, ok: true, ...decision });
  } finally {
    unguard();
    await sessions.release();
  }
}

function decide(preflight: RollbackPreflight[], cluster: OpenCluster): Decision {
  const pending = preflight.filter((p) => p.pendingRollback);
  if (pending.length) {
    return { kind: "pending", nodes: pending.map((p) => p.node), name: pending[0]!.pendingRollback!.name };
  }
  const last = lastRestore(cluster);
  if (!last)
    throw new UserError(
      "nothing to roll back: no node has an unfinished restore, and the state file records no restore",
    );
  const missing = preflight.flatMap((p) => {
    if (p.lastRestored?.stamp !== last.stamp) return [`${p.node} has no record of it`];
    if (!p.lastRestored.oldDataDirExists)
      return [`${p.node} no longer has ${p.lastRestored.oldDataDir ?? "its old data"}`];
    return [];
  });
  if (missing.length) {
    throw new UserError(
      `nothing to roll back: no node has an unfinished restore, and the last restore (${last.snapshot} at ${last.at}) cannot be undone: ${missing.join("; ")}. Nothing was stopped.`,
    );
  }
  return { kind: "undo", stamp: last.stamp, name: last.snapshot, at: last.at, restoredClusterId: last.clusterId };
}

/** The newest restore in the state file that a later undo has not already taken back. */
function lastRestore(cluster: OpenCluster) {
  const records = (cluster.state.lifeboat?.restores ?? []) as {
    snapshot?: string;
    at?: string;
    stamp?: string;
    clusterId?: string;
    undoes?: string;
  }[];
  const undone = new Set(records.flatMap((r) => (r.undoes ? [r.undoes] : [])));
  const last = records.filter((r) => r.stamp && r.snapshot && !r.undoes).at(-1);
  if (!last?.stamp || !last.snapshot || undone.has(last.stamp)) return undefined;
  return { stamp: last.stamp, snapshot: last.snapshot, at: last.at ?? "?", clusterId: last.clusterId };
}

function agentRollback(agents: OpenCluster["agents"], node: string, session: string, stamp: string) {
  const client = agents.find((a) => a.node.memberName === node)!.client;
  return client.json<{ restored: boolean }>("POST", "/v1/restore/rollback", { session, stamp }, 120_000);
}

/** After an undo: the old cluster must be back (healthy, and not the restored cluster's ID), then it is recorded. */
async function finishUndo(
  decision: Extract<Decision, { kind: "undo" }>,
  cluster: OpenCluster,
  nodes: ReturnType<typeof restoreNode>[],
  timeoutMs: number,
  deps: CliDeps,
): Promise<void> {
  const healthy = await waitHealthy(nodes, {
    minRevision: 0,
    notClusterId: decision.restoredClusterId,
    deadline: Date.now() + timeoutMs,
    timeoutMs,
    sleep: (ms) => sleep(ms),
  }).catch((err: unknown) => {
    throw new UserError(`the old data is back on every node, but ${describeError(err)}`, ExitCode.restoreFailed);
  });
  const restores = [
    ...(cluster.state.lifeboat?.restores ?? []),
    { snapshot: decision.name, at: deps.clock().toISOString(), undoes: decision.stamp, clusterId: healthy.clusterId },
  ];
  await writeState(cluster.statePath, { ...cluster.state, lifeboat: { ...cluster.state.lifeboat, restores } });
  deps.out.line(
    `the cluster is back on the data from before the restore: cluster ${healthy.clusterId}, revision ${healthy.revision}`,
  );
}
