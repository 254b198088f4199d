/** The node routes' answers: the agent's identity, its member's health and state. */
import { z } from "zod";
import type { MemberState as ControllerState } from "../etcd/controller.js";
import type { MemberHealth as EtcdHealth } from "../etcd/health.js";
import { assertSame, type Same } from "./check.js";
import { SessionInfo } from "./restore.js";

const node = z.string();
const mode = z.enum(["managed", "external"]);

export const MemberState = z.enum(["running", "stopped", "starting", "crashed"]);
assertSame<Same<z.infer<typeof MemberState>, ControllerState>>();

export const Info = z.object({
  node,
  version: z.string(),
  etcdMode: mode,
  clientUrl: z.string(),
  snapshotDir: z.string(),
  /** The save or restore holding the node's flight. */
  saving: z.string().nullable(),
  session: SessionInfo.nullable(),
});

/** One member's health from its own point of view (src/etcd/health.ts). */
export const MemberHealth = z.object({
  reachable: z.boolean(),
  hasLeader: z.boolean(),
  leaderId: z.string(),
  alarms: z.array(z.string()),
  members: z.array(
    z.object({
      id: z.string(),
      name: z.string(),
      peerURLs: z.array(z.string()),
      clientURLs: z.array(z.string()),
      isLearner: z.boolean(),
    }),
  ),
  revision: z.number(),
  dbSize: z.number(),
  version: z.string(),
  memberId: z.string(),
  clusterId: z.string(),
  error: z.string().optional(),
});
assertSame<Same<z.infer<typeof MemberHealth>, EtcdHealth>>();

export const Health = z.object({ node, member: MemberState, ...MemberHealth.shape });
export type Health = z.infer<typeof Health>;
export type Info = z.infer<typeof Info>;

export const Member = z.object({ node, mode, state: MemberState });
export const MemberChanged = z.object({ node, state: MemberState });
