/** `lifeboat agent --dir DIR`: runs until SIGTERM or SIGINT, then stops serving and stops a managed member. */
import { once } from "node:events";
import { startAgent } from "../agent/main.js";
import { createLogger } from "../util/log.js";
import type { CliDeps } from "./main.js";
import { VERSION } from "./version.js";

export async function runAgent(options: { dir: string }, _deps: CliDeps): Promise<void> {
  const log = createLogger({ level: process.env.LIFEBOAT_LOG_LEVEL === "debug" ? "debug" : "info" });
  const agent = await startAgent(options.dir, log, VERSION);
  const signal = await Promise.race([once(process, "SIGTERM"), once(process, "SIGINT")]);
  log.info("signal received", { signal: String(signal[0] ?? "") });
  await agent.stop();
  // Shutdown is complete (member stopped, server closed); gRPC's reconnect timers would otherwise keep the process
  // alive for several more seconds.
  process.exit(0);
}
