/**
 * What the agent's routes are built from: one services object, made once by the composition root (main.ts). Its own
 * file so that route files can name it without importing the router that registers them (service.ts), which would
 * make an import cycle.
 */
import type { S3Settings } from "../config/s3-settings.js";
import type { EtcdTools } from "../etcd/binaries.js";
import type { EtcdMemberClient } from "../etcd/client.js";
import type { MemberController } from "../etcd/member.js";
import type { RecurringAgent } from "../schedule/recurring.js";
import type { SaveDeps } from "../snapshot/save.js";
import type { LocalStore } from "../store/local.js";
import type { Store } from "../store/store.js";
import type { Logger } from "../util/log.js";
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
  /** This agent's own certificate, used as a client certificate to fetch from a peer agent during a restore. */
  tls: TlsFiles;
  /** The etcd tools (found once), for restores and verifies. */
  tools: () => Promise<EtcdTools>;
  /** Recurring snapshots, metrics and notifications; its save flight is shared with POST /v1/snapshots. */
  recurring: RecurringAgent;
  /** How long a restore session lives without a renewal (tests shorten it). */
  sessionLeaseMs?: number;
}
