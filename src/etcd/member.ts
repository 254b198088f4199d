/**
 * Controlling the local etcd member: either Lifeboat runs etcd itself (`ManagedMember`) or the operator's own
 * commands do (`ExternalMember`, e.g. `docker start etcd`).
 */
export type MemberState = "running" | "stopped" | "starting" | "crashed";

export interface MemberController {
  /** Starts the member and resolves once it answers; rejects with the reason (log tail, exit code) otherwise. */
  start(): Promise<void>;
  /** Stops the member and resolves once it is gone. Stopping a stopped member is a no-op. */
  stop(): Promise<void>;
  state(): Promise<MemberState>;
  readonly mode: "managed" | "external";
}

export { etcdArgs, pidFileOf, type MemberSpec } from "./member-spec.js";
export { ManagedMember, type ManagedMemberOptions } from "./managed-member.js";
export { ExternalMember, type ExternalMemberOptions } from "./external-member.js";
