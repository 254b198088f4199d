/**
 * What the agent's routes are built from. Its own file so that route files can name it without importing the
 * router that registers them (service.ts), which would make an import cycle.
 */
import type { EtcdTools } from "../etcd/binaries.js";
import type { EtcdMemberClient } from "../etcd/client.js";
import type { MemberController } from "../etcd/member.js";
import type { RecurringAgent } from "../schedule/recurring.js";
import type { SaveDeps } from "../snapshot/save.js";
import type { LocalStore } from "../store/local.js";
import type { Store } from "../store/store.js";
import type { Logger } from "../util/log.js";
import type { S3Settings } from "./api.js";
import type { AgentConfig } from "./config.js";
import type { TlsFiles } from "./http.js";

export interface AgentDeps {
  config: AgentConfig;
  etcd: EtcdMemberClient;
  member: MemberController;
  /** This node's snapshot folder: the only way the agent reads or writes it. */
  local: LocalStore;
  /** Opens the S3 store of one request; the route closes it when the request ends. */
  makeS3: (settings: S3Settings) => Store;
  log: Logger;
  clock: () => Date;
  sleep: SaveDeps["sleep"];
  version: string;
  /** What the restore routes need beyond the rest: this agent's TLS (as a client of peers) and the etcd tools. */
  restore?: { tls: TlsFiles; tools: () => Promise<EtcdTools> };
  /** Recurring snapshots, metrics and notifications; its save flight is shared with POST /v1/snapshots. */
  recurring?: RecurringAgent;
  /** How long a restore session lives without a renewal (tests shorten it). */
  sessionLeaseMs?: number;
}
