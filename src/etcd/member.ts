/**
 * Controlling the local etcd member: either Lifeboat runs etcd itself (`ManagedMember`) or the operator's own
 * commands do (`ExternalMember`, e.g. `docker start etcd`).
 */
export type { MemberController, MemberState } from "./controller.js";
export { etcdArgs, pidFileOf, type MemberSpec } from "./member-spec.js";
export { ManagedMember, type ManagedMemberOptions } from "./managed-member.js";
export { ExternalMember, type ExternalMemberOptions } from "./external-member.js";
