/**
 * Every route the agent serves, in one table: the agent registers a handler for each entry (src/agent/) and the
 * CLI and peer agents call by entry (`AgentClient.call(routes.x, …)`). docs/design.md "Agent API" lists the same
 * routes, with the same callers; test/api-routes.test.ts holds the three together.
 */
import { LineagePush, SchedulePush } from "../schedule/spec.js";
import type { Access } from "./route.js";
import { eventsRoute, jsonRoute, rawRoute, textRoute } from "./route.js";
import { Health, Info, Member, MemberChanged } from "./node.js";
import { SnapshotName } from "./params.js";
import {
  Applied,
  ApplyRequest,
  CleanupRequest,
  CleanupResponse,
  FetchRequest,
  Finished,
  Leftovers,
  NodeDigest,
  Preflight,
  IdentityChecked,
  IdentityCheckRequest,
  Prepared,
  PrepareRequest,
  RollbackRequest,
  RolledBack,
  SessionOpened,
  SessionRef,
  SessionReleased,
  SessionRequest,
  Step,
  VerifyStep,
  Verified,
  RestoreProgress,
} from "./restore.js";
import { PruneRequest, PruneResponse } from "./prune.js";
import { LineageUpdated, NodeStatus, ScheduleView } from "./schedule.js";
import { Deleted, SaveEvent, SaveRequest, SnapshotList, UploadRequest, Uploaded } from "./snapshots.js";

const cli: Access = { allow: ["cli"] };
const name = { name: SnapshotName };

export const routes = {
  info: jsonRoute({ method: "GET", path: "/v1/info", access: cli, response: Info }),
  health: jsonRoute({ method: "GET", path: "/v1/health", access: cli, response: Health }),
  member: jsonRoute({ method: "GET", path: "/v1/member", access: cli, response: Member }),
  startMember: jsonRoute({ method: "POST", path: "/v1/member/start", access: cli, response: MemberChanged }),
  stopMember: jsonRoute({ method: "POST", path: "/v1/member/stop", access: cli, response: MemberChanged }),

  listSnapshots: jsonRoute({ method: "GET", path: "/v1/snapshots", access: cli, response: SnapshotList }),
  saveSnapshot: eventsRoute({
    method: "POST",
    path: "/v1/snapshots",
    access: cli,
    request: SaveRequest,
    events: SaveEvent,
  }),
  uploadSnapshot: jsonRoute({
    method: "POST",
    path: "/v1/snapshots/:name/upload",
    access: cli,
    params: name,
    request: UploadRequest,
    response: Uploaded,
  }),
  deleteSnapshot: jsonRoute({
    method: "DELETE",
    path: "/v1/snapshots/:name",
    access: cli,
    params: name,
    response: Deleted,
  }),

  openSession: jsonRoute({
    method: "POST",
    path: "/v1/restore/session",
    access: cli,
    request: SessionRequest,
    response: SessionOpened,
  }),
  releaseSession: jsonRoute({
    method: "POST",
    path: "/v1/restore/session/release",
    access: cli,
    request: SessionRef,
    response: SessionReleased,
  }),
  preflight: jsonRoute({ method: "GET", path: "/v1/restore/preflight", access: cli, response: Preflight }),
  restoreProgress: jsonRoute({
    method: "GET",
    path: "/v1/restore/progress",
    access: cli,
    response: RestoreProgress,
  }),
  prepare: jsonRoute({
    method: "POST",
    path: "/v1/restore/prepare",
    access: cli,
    request: PrepareRequest,
    response: Prepared,
  }),
  checkIdentity: jsonRoute({
    method: "POST",
    path: "/v1/restore/identity",
    access: cli,
    request: IdentityCheckRequest,
    response: IdentityChecked,
  }),
  /** The one route peer agents call: the prepared file of the open session. */
  preparedFile: rawRoute({
    method: "GET",
    path: "/v1/restore/:name/file",
    access: { allow: ["cli", "agent"] },
    params: name,
  }),
  fetch: jsonRoute({
    method: "POST",
    path: "/v1/restore/fetch",
    access: cli,
    request: FetchRequest,
    response: NodeDigest,
  }),
  apply: jsonRoute({
    method: "POST",
    path: "/v1/restore/apply",
    access: cli,
    request: ApplyRequest,
    response: Applied,
  }),
  rollback: jsonRoute({
    method: "POST",
    path: "/v1/restore/rollback",
    access: cli,
    request: RollbackRequest,
    response: RolledBack,
  }),
  finish: jsonRoute({ method: "POST", path: "/v1/restore/finish", access: cli, request: Step, response: Finished }),
  verify: jsonRoute({
    method: "POST",
    path: "/v1/restore/verify",
    access: cli,
    request: VerifyStep,
    response: Verified,
  }),
  leftovers: jsonRoute({ method: "GET", path: "/v1/restore/leftovers", access: cli, response: Leftovers }),
  cleanup: jsonRoute({
    method: "POST",
    path: "/v1/restore/cleanup",
    access: cli,
    request: CleanupRequest,
    response: CleanupResponse,
  }),

  metrics: textRoute({
    method: "GET",
    path: "/metrics",
    access: { allow: ["cli", "metrics"] },
    contentType: "text/plain; version=0.0.4; charset=utf-8",
  }),
  schedule: jsonRoute({ method: "GET", path: "/v1/schedule", access: cli, response: ScheduleView }),
  pushSchedule: jsonRoute({
    method: "PUT",
    path: "/v1/schedule",
    access: cli,
    request: SchedulePush,
    response: ScheduleView,
  }),
  pushLineage: jsonRoute({
    method: "PUT",
    path: "/v1/schedule/lineage",
    access: cli,
    request: LineagePush,
    response: LineageUpdated,
  }),
  status: jsonRoute({ method: "GET", path: "/v1/status", access: cli, response: NodeStatus }),
  prune: jsonRoute({ method: "POST", path: "/v1/prune", access: cli, request: PruneRequest, response: PruneResponse }),
} as const;

export type Routes = typeof routes;
