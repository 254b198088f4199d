/** What the agent needs from its local etcd member, whoever runs it (member.ts has both kinds). */
export type MemberState = "running" | "stopped" | "starting" | "crashed";

export interface MemberController {
  /** Starts the member and resolves once it answers; rejects with the reason (log tail, exit code) otherwise. */
  start(): Promise<void>;
  /** Stops the member and resolves once it is gone. Stopping a stopped member is a no-op. */
  stop(): Promise<void>;
  state(): Promise<MemberState>;
  readonly mode: "managed" | "external";
}
