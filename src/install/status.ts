/**
 * `agent status` on one node: reachable over SSH (and as root), the service's state (the unit, or the pid file),
 * the installed program's version, and the agent's own answers over mutual TLS (its version, its member's health).
 */
import { ensureRoot, shellQuote } from "../remote/index.js";
import type { RemoteHost } from "../remote/index.js";
import { healthProblem } from "../etcd/health.js";
import { describeError } from "../util/errors.js";
import type { NodeTarget } from "./install.js";
import { layoutOf } from "./layout.js";
import { agentService } from "./service.js";
import { NodeShell } from "./shell.js";

export interface StatusResult {
  node: string;
  ssh: { ok: boolean; error?: string };
  /** `running (pid 123)`, `unit inactive`, `not running (no pid file)`; absent when SSH failed. */
  service?: { state: "running" | "stopped" | "absent"; detail: string };
  /** The installed program's `--version`, or null when there is none. */
  program?: string | null;
  agent: { ok: boolean; version?: string; error?: string };
  health: { ok: boolean; detail: string };
  /** Everything answered and the agent runs and is healthy. */
  ok: boolean;
}

export async function statusNode(
  target: NodeTarget,
  deps: { connect(ssh: NodeTarget["ssh"]): Promise<RemoteHost> },
): Promise<StatusResult> {
  const [remote, agent] = await Promise.all([overSsh(target, deps), askAgent(target)]);
  const result: StatusResult = { node: target.node.memberName, ...remote, ...agent, ok: false };
  result.ok = result.ssh.ok && result.service?.state === "running" && result.agent.ok && result.health.ok;
  return result;
}

async function overSsh(
  target: NodeTarget,
  deps: { connect(ssh: NodeTarget["ssh"]): Promise<RemoteHost> },
): Promise<Pick<StatusResult, "ssh" | "service" | "program">> {
  let host: RemoteHost | undefined;
  try {
    host = await deps.connect(target.ssh);
    const shell = new NodeShell(host, await ensureRoot(host));
    const layout = layoutOf(target.node);
    const state = await agentService(target.node.install.mode, shell, layout).state();
    const version = await shell.exec(
      `[ -x ${shellQuote(layout.program)} ] && ${shellQuote(layout.program)} --version`,
      60_000,
    );
    return {
      ssh: { ok: true },
      service: { state: state.kind, detail: state.detail },
      program: version.code === 0 ? version.stdout.trim() : null,
    };
  } catch (err) {
    return { ssh: { ok: false, error: describeError(err) } };
  } finally {
    await host?.close();
  }
}

async function askAgent(target: NodeTarget): Promise<Pick<StatusResult, "agent" | "health">> {
  try {
    const info = await target.agent.info();
    const h = await target.agent.health();
    const problem = healthProblem(h);
    return { agent: { ok: true, version: info.version }, health: { ok: !problem, detail: problem ?? "healthy" } };
  } catch (err) {
    return { agent: { ok: false, error: describeError(err) }, health: { ok: false, detail: "unknown (no agent)" } };
  }
}
