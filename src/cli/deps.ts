/**
 * What every command gets from the entry point: `run(options, deps)` reaches the cluster, S3, the clock and the
 * terminal only through these, so that tests run commands in-process over a fake fleet. Its own file so that
 * commands can name it without importing main.ts, which registers them (an import cycle).
 */
import type { OpenStore } from "../fleet/fleet.js";
import type { OpenFleet } from "../fleet/open.js";
import type { Logger } from "../util/log.js";
import type { Output } from "./output.js";

export interface CliDeps {
  out: Output;
  log: Logger;
  clock: () => Date;
  /** Sets the process exit code without exiting (commands that report partial results). */
  setExitCode(code: number): void;
  /** Opens cluster.yml's cluster (src/fleet/open.ts). */
  openFleet: OpenFleet;
  /** Opens an S3 store (src/store/open.ts). */
  openStore: OpenStore;
  sleep(ms: number): Promise<void>;
  /** Asks `question` before anything is changed; resolves when confirmed (at once with `yes`), else throws. */
  confirm(question: string, yes: boolean | undefined): Promise<void>;
  /**
   * `--ssh-agent-auth` (a global flag, as in RKE): pass it as `connectNode`'s `sshAgentAuth` wherever a command reaches
   * nodes over SSH; it is or-ed there with cluster.yml's `ssh_agent_auth`.
   */
  sshAgentAuth: boolean;
}
