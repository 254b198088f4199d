/** One member's health from its own point of view: status, alarms and membership, never an exception. */
import { describeError } from "../util/errors.js";
import type { MemberAlarm, MemberInfo, MemberStatus } from "./answers.js";

export interface MemberHealth {
  /** False when the member did not answer a status request; `error` says why. */
  reachable: boolean;
  hasLeader: boolean;
  /** Hex ID of the leader, "0" when none. */
  leaderId: string;
  /** Active alarm types in the cluster, e.g. ["NOSPACE"]. */
  alarms: string[];
  members: MemberInfo[];
  revision: number;
  dbSize: number;
  version: string;
  memberId: string;
  clusterId: string;
  /** Why the member is unreachable or unhealthy, or what part of the report could not be read. */
  error?: string;
}

/** Why a member is not healthy (unreachable, no leader, an alarm), or undefined when it is. */
export function healthProblem(
  h: Pick<MemberHealth, "reachable" | "hasLeader" | "alarms" | "error">,
): string | undefined {
  if (!h.reachable) return `etcd unreachable: ${h.error ?? "no answer"}`;
  if (!h.hasLeader) return "no leader";
  return h.alarms.length ? `alarm: ${h.alarms.join(", ")}` : undefined;
}

/** The calls a health report makes (EtcdMemberClient's; named here so that the client can import this file). */
interface HealthSource {
  status(): Promise<MemberStatus>;
  alarms(): Promise<MemberAlarm[]>;
  memberList(): Promise<MemberInfo[]>;
}

/** Builds the report; a part that fails (alarms need a quorum) is filled from what the status said, with `error` set. */
export async function memberHealth(client: HealthSource): Promise<MemberHealth> {
  let status: MemberStatus;
  try {
    status = await client.status();
  } catch (err) {
    return unreachable(describeError(err));
  }
  const problems: string[] = [];
  const hasLeader = status.leader !== "0";
  if (!hasLeader) problems.push("member has no leader");
  // Listing alarms goes through raft: without a leader it could only time out, and the status already has them.
  const [alarms, members] = await Promise.all([
    !hasLeader
      ? alarmsFromStatus(status.errors)
      : client.alarms().then(alarmNames, (err: unknown) => {
          problems.push(`alarms unknown: ${describeError(err)}`);
          return alarmsFromStatus(status.errors);
        }),
    client.memberList().catch((err: unknown) => {
      problems.push(`member list unknown: ${describeError(err)}`);
      return [];
    }),
  ]);
  if (alarms.length > 0) problems.push(`alarms active: ${alarms.join(", ")}`);
  const report: MemberHealth = {
    reachable: true,
    hasLeader,
    leaderId: status.leader,
    alarms,
    members,
    revision: status.revision,
    dbSize: status.dbSize,
    version: status.version,
    memberId: status.memberId,
    clusterId: status.clusterId,
  };
  if (problems.length > 0) report.error = problems.join("; ");
  return report;
}

function unreachable(error: string): MemberHealth {
  return {
    reachable: false,
    hasLeader: false,
    leaderId: "0",
    alarms: [],
    members: [],
    revision: 0,
    dbSize: 0,
    version: "",
    memberId: "",
    clusterId: "",
    error,
  };
}

function alarmNames(alarms: MemberAlarm[]): string[] {
  return [...new Set(alarms.map((a) => a.alarm).filter((a) => a !== "NONE"))].sort();
}

/** Status errors list alarms as "memberID:<n> alarm:NOSPACE". */
function alarmsFromStatus(errors: string[]): string[] {
  const names = errors.flatMap((e) => /alarm:\s*(\w+)/.exec(e)?.[1] ?? []).filter((a) => a !== "NONE");
  return [...new Set(names)].sort();
}
