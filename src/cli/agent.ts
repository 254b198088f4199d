/**
 * `lifeboat agent --dir DIR`: runs until SIGTERM or SIGINT, then stops cleanly (running saves aborted and cleaned
 * up, the server closed, a managed member stopped) and exits 0.
 */
import { startAgent, type RunningAgent } from "../agent/main.js";
import { describeError, ExitCode } from "../util/errors.js";
import { createLogger, type Logger } from "../util/log.js";
import type { CliDeps } from "./deps.js";
import { VERSION } from "./version.js";

/** The most a stop may take before the process exits anyway (requests get 30 s, a managed member 10 s). */
const STOP_DEADLINE_MS = 60_000;

export async function runAgent(options: { dir: string }, _deps: CliDeps): Promise<void> {
  const log = createLogger({ level: process.env.LIFEBOAT_LOG_LEVEL === "debug" ? "debug" : "info" });
  const running: { agent?: RunningAgent } = {};
  guardProcess(log, running);
  const agent = (running.agent = await startAgent(options.dir, log, VERSION));
  const signal = await new Promise<string>((resolve) => {
    for (const name of ["SIGTERM", "SIGINT"] as const) process.on(name, () => resolve(name));
  });
  log.info("signal received", { signal });
  await exitAfterStop(agent, log, ExitCode.ok);
}

/**
 * The safety net. An unhandled rejection is a bug, but one dropped promise must not kill a save halfway: it is logged
 * and the agent goes on. An uncaught exception may have left anything in a bad state: logged, then the agent stops
 * as on SIGTERM (so that running saves still remove their temp files) and exits 1.
 */
export function guardProcess(log: Logger, running: { agent?: Pick<RunningAgent, "stop"> }): void {
  process.on("unhandledRejection", (reason) => {
    log.error("unhandled promise rejection (a bug); the agent keeps running", { error: describeError(reason) });
  });
  process.on("uncaughtException", (err) => {
    log.error("uncaught exception (a bug); the agent stops", { error: describeError(err) });
    if (!running.agent) process.exit(ExitCode.failure);
    void exitAfterStop(running.agent, log, ExitCode.failure);
  });
}

async function exitAfterStop(agent: Pick<RunningAgent, "stop">, log: Logger, code: ExitCode): Promise<never> {
  const deadline = setTimeout(() => {
    log.error("the agent did not stop in time; exiting anyway", { deadlineMs: STOP_DEADLINE_MS });
    process.exit(ExitCode.failure);
  }, STOP_DEADLINE_MS);
  try {
    await agent.stop();
  } catch (err) {
    log.error("stopping the agent failed", { error: describeError(err) });
    code = ExitCode.failure;
  }
  clearTimeout(deadline);
  // Shutdown is complete (member stopped, server closed); gRPC's reconnect timers would otherwise keep the process
  // alive for several more seconds.
  process.exit(code);
}
