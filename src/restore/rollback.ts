/**
 * `snapshot-restore --rollback`: put back the data directories from before a restore, or refuse
 * before anything is stopped. Two cases, decided from what every node reports (preflight):
 *   - a restore is pending on some nodes (it failed or was cut off after the swap): those nodes get their old data
 *     back and their members restart;
 *   - nothing is pending, and the state file's newest restore is on record on every node with its old data directory
 *     still there: every member goes back to the data from before that restore (all nodes or none; everything
 *     written since is lost, which the confirmation says).
 * Anything else is refused with exit 2 and the reason: a rollback that did not happen is never reported.
 */
import { writeState, type ClusterState } from "../config/state.js";
import { describeError, ExitCode, UserError } from "../util/errors.js";
import { rollbackAll, waitHealthy, type RestoreNode } from "./apply.js";
import type { CoordinatorDeps } from "./coordinator.js";
import type { AgentPreflight } from "./fleet.js";
import { holding } from "./sessions.js";

export type RollbackDeps = Omit<CoordinatorDeps, "s3" | "health" | "pushLineage">;

type Decision =
  | { kind: "pending"; nodes: string[]; name: string }
  | { kind: "undo"; stamp: string; name: string; at: string; restoredClusterId?: string };

/** Resolves with the exit code (0, or 5 when the rollback itself failed somewhere); refusals throw (exit 2). */
export async function runRollback(input: { healthTimeoutMs: number }, deps: RollbackDeps): Promise<ExitCode> {
  const preflight = await Promise.all(deps.agents.map((a) => a.preflight()));
  const decision = decide(preflight, deps.state.current);
  const question =
    decision.kind === "pending"
      ? `Roll back the unfinished restore of [${decision.name}] on ${decision.nodes.join(", ")} (their old data back, members restarted)?`
      : `Undo the restore of [${decision.name}] from ${decision.at} on all ${deps.agents.length} nodes? Every member gets the data from before it back; everything written since is lost.`;
  deps.out.line(`[rollback] ${question}`);
  await deps.confirm(question);
  const agents = deps.agents.filter((a) => decision.kind === "undo" || decision.nodes.includes(a.name));
  const guard = { note: (l: string) => deps.out.note(l), critical: () => true, signals: deps.signals };
  return holding(agents, decision.name, "rollback", guard, async (sessions) => {
    await sessions.open();
    const nodes = agents.map((a) => a.node(sessions.id));
    const phase = (t: string) => deps.out.line(`[rollback] ${t}`);
    if (decision.kind === "undo") {
      phase("stop every member");
      for (const n of nodes) await n.stopMember();
    }
    const stamp = decision.kind === "undo" ? decision.stamp : undefined;
    const outcome = await rollbackAll({ nodes, phase, healthTimeoutMs: input.healthTimeoutMs }, stamp);
    if (outcome.startsWith("rollback incomplete")) {
      deps.out.line(outcome);
      deps.out.result({ rollback: outcome, ok: false });
      return ExitCode.restoreFailed;
    }
    if (decision.kind === "undo") await finishUndo(decision, nodes, input.healthTimeoutMs, deps);
    deps.out.line(outcome);
    deps.out.result({ rollback: outcome, ok: true, ...decision });
    return ExitCode.ok;
  });
}

function decide(preflight: AgentPreflight[], state: ClusterState): Decision {
  const pending = preflight.filter((p) => p.pendingRollback);
  if (pending.length) {
    return { kind: "pending", nodes: pending.map((p) => p.node), name: pending[0]!.pendingRollback!.name };
  }
  const last = lastRestore(state);
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
function lastRestore(state: ClusterState) {
  const records = (state.lifeboat?.restores ?? []) as {
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

/** After an undo: the old cluster must be back (healthy, and not the restored cluster's ID), then it is recorded. */
async function finishUndo(
  decision: Extract<Decision, { kind: "undo" }>,
  nodes: readonly RestoreNode[],
  timeoutMs: number,
  deps: RollbackDeps,
): Promise<void> {
  const now = () => deps.clock().getTime();
  const healthy = await waitHealthy(nodes, {
    minRevision: 0,
    notClusterId: decision.restoredClusterId,
    deadline: now() + timeoutMs,
    timeoutMs,
    sleep: (ms) => deps.sleep(ms),
    now,
  }).catch((err: unknown) => {
    throw new UserError(`the old data is back on every node, but ${describeError(err)}`, ExitCode.restoreFailed);
  });
  const { path, current } = deps.state;
  const restores = [
    ...(current.lifeboat?.restores ?? []),
    { snapshot: decision.name, at: deps.clock().toISOString(), undoes: decision.stamp, clusterId: healthy.clusterId },
  ];
  await writeState(path, { ...current, lifeboat: { ...current.lifeboat, restores } });
  deps.out.line(
    `the cluster is back on the data from before the restore: cluster ${healthy.clusterId}, revision ${healthy.revision}`,
  );
}
