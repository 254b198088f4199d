/**
 * An etcd member run by something else (systemd, docker, kubelet) and controlled with the operator's shell commands.
 *
 * Contract of the commands, each run with `/bin/sh -c` and a timeout: `startCommand` and `stopCommand` exit 0 when
 * they did their job; `statusCheck` exits 0 when the member is running and answering, non-zero otherwise. After
 * start/stop, `statusCheck` is polled until it agrees (or the timeout passes), since many start commands return
 * before the member is up.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { assertSucceeded, CommandFailedError, runShell } from "./exec.js";
import type { MemberController, MemberState } from "./controller.js";

export interface ExternalMemberOptions {
  startCommand: string;
  stopCommand: string;
  statusCheck: string;
  /** Limit for each command, and for the member to reach the new state (default 60 s). */
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  /** Delay between status checks while waiting (default 250 ms). */
  pollIntervalMs?: number;
}

export class ExternalMember implements MemberController {
  readonly mode = "external" as const;

  constructor(private readonly opts: ExternalMemberOptions) {}

  async start(): Promise<void> {
    await this.run("start command", this.opts.startCommand);
    await this.waitFor(true, "start command");
  }

  async stop(): Promise<void> {
    await this.run("stop command", this.opts.stopCommand);
    await this.waitFor(false, "stop command");
  }

  /** "running" when the status check exits 0, "stopped" otherwise (a failing check cannot tell a crash apart). */
  async state(): Promise<MemberState> {
    return (await this.isRunning()) ? "running" : "stopped";
  }

  private get timeoutMs(): number {
    return this.opts.timeoutMs ?? 60_000;
  }

  private async run(what: string, command: string): Promise<void> {
    const result = await runShell(command, this.shellOptions());
    assertSucceeded(`etcd ${what} \`${command}\``, result, this.timeoutMs);
  }

  private async isRunning(): Promise<boolean> {
    const result = await runShell(this.opts.statusCheck, this.shellOptions());
    return result.code === 0 && !result.timedOut;
  }

  private async waitFor(running: boolean, after: string): Promise<void> {
    const deadline = Date.now() + this.timeoutMs;
    do {
      if ((await this.isRunning()) === running) return;
      await sleep(this.opts.pollIntervalMs ?? 250);
    } while (Date.now() < deadline);
    const expected = running ? "running" : "stopped";
    throw new CommandFailedError(
      `etcd status check \`${this.opts.statusCheck}\` did not report the member ${expected} within ` +
        `${this.timeoutMs} ms after the ${after} succeeded`,
      null,
      "",
    );
  }

  private shellOptions() {
    return { timeoutMs: this.timeoutMs, ...(this.opts.env ? { env: this.opts.env } : {}) };
  }
}
