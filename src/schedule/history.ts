/**
 * What happened to this node's recent saves, kept in `schedule-state.json` in the agent's folder so that
 * `snapshot-status` still shows the last failure and its reason after an agent restart. It holds no secrets.
 * Losing the file loses history only: the schedule itself plans from the manifests.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { parseJsonText } from "../config/json-file.js";
import { describeError } from "../util/errors.js";
import { writeFileAtomic } from "../util/fs.js";
import type { Logger } from "../util/log.js";

export const HISTORY_FILE = "schedule-state.json";
const PROBLEMS_KEPT = 20;

const Outcome = z.object({
  result: z.enum(["uploaded", "failed", "not-uploader", "none"]),
  reason: z.string().optional(),
});

const PruneSummary = z.object({ removed: z.number(), failed: z.number(), error: z.string().optional() });

export const RunRecord = z.object({
  name: z.string(),
  kind: z.enum(["one-time", "recurring"]),
  /** The slot of a recurring run. */
  slot: z.string().optional(),
  catchUp: z.boolean().optional(),
  /** "interrupted": the agent stopped (or the schedule was removed) during the run; nothing of it was kept. */
  result: z.enum(["success", "failure", "skipped", "interrupted"]),
  startedAt: z.string(),
  finishedAt: z.string(),
  reason: z.string().optional(),
  size: z.number().optional(),
  upload: Outcome.optional(),
  pruned: z.object({ local: PruneSummary.nullable(), s3: PruneSummary.nullable() }).optional(),
});
export type RunRecord = z.infer<typeof RunRecord>;

/**
 * One verify on this node: the snapshot restored into a throwaway etcd on loopback. `kind` recurring is a scheduled
 * verify (src/schedule/verify.ts); one-time is a `snapshot-verify` the CLI asked for.
 */
export const VerifyRecord = z.object({
  name: z.string(),
  kind: z.enum(["one-time", "recurring"]),
  result: z.enum(["success", "failure"]),
  startedAt: z.string(),
  finishedAt: z.string(),
  reason: z.string().optional(),
  revision: z.number().optional(),
  keys: z.number().optional(),
  /** Where the verified copy was read from: `s3` or `node:<member>` (scheduled verifies). */
  location: z.string().optional(),
  /** The verified snapshot's creation time (its manifest): after_snapshots counts the snapshots newer than this. */
  snapshotCreatedAt: z.string().optional(),
});
export type VerifyRecord = z.infer<typeof VerifyRecord>;

/** A scheduled verify as etcd's `/lifeboat/verify/last` holds it (src/schedule/verify.ts): the record and its node. */
export const ClusterVerify = VerifyRecord.extend({ node: z.string() });
export type ClusterVerify = z.infer<typeof ClusterVerify>;

const HistoryFile = z.object({
  version: z.literal(1),
  lastRun: RunRecord.optional(),
  lastFailure: RunRecord.optional(),
  /** The newest runs that did not succeed (skipped, cancelled, failed), newest last, at most PROBLEMS_KEPT. */
  problems: z.array(RunRecord).optional(),
  /**
   * This agent's last verified upload to S3, `at` when its run started (the snapshot is a little younger): the s3
   * last-success metric after a restart.
   */
  lastUpload: z.object({ name: z.string(), at: z.string() }).optional(),
  /** The newest verify, whatever its result, and the newest successful one ("last verified restore"). */
  lastVerify: VerifyRecord.optional(),
  lastVerifiedRestore: VerifyRecord.optional(),
});
export type History = Omit<z.infer<typeof HistoryFile>, "version">;

export class RunHistory {
  private state: History = {};
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly dir: string,
    private readonly log: Logger,
  ) {}

  /** Reads the file; a missing or unreadable one starts an empty history (and says so). */
  async load(): Promise<void> {
    const path = join(this.dir, HISTORY_FILE);
    const text = await readFile(path, "utf8").catch(() => undefined);
    if (text === undefined) return;
    try {
      const { version: _version, ...rest } = parseJsonText(text, path, HistoryFile).data;
      this.state = rest;
    } catch (err) {
      this.log.warn("ignoring an unreadable run history", { file: path, error: describeError(err) });
    }
  }

  get(): History {
    return this.state;
  }

  /**
   * Records a finished (or skipped) save and persists the history; a write error is logged, never thrown. A save
   * whose upload failed counts as the last failure too: the S3 copy is what a lost node is restored from.
   */
  async record(run: RunRecord): Promise<void> {
    const failed = run.result === "failure" || run.upload?.result === "failed";
    const problems =
      failed || run.result !== "success"
        ? [...(this.state.problems ?? []), run].slice(-PROBLEMS_KEPT)
        : this.state.problems;
    this.state = {
      ...this.state,
      lastRun: run,
      ...(failed ? { lastFailure: run } : {}),
      ...(problems ? { problems } : {}),
      ...(run.upload?.result === "uploaded" ? { lastUpload: { name: run.name, at: run.startedAt } } : {}),
    };
    await this.persist();
  }

  /** Records a finished verify and persists the history; a write error is logged, never thrown. */
  async recordVerify(verify: VerifyRecord): Promise<void> {
    this.state = {
      ...this.state,
      lastVerify: verify,
      ...(verify.result === "success" ? { lastVerifiedRestore: verify } : {}),
    };
    await this.persist();
  }

  private async persist(): Promise<void> {
    const text = JSON.stringify({ version: 1, ...this.state }, null, 2) + "\n";
    this.writing = this.writing
      .then(() => writeFileAtomic(join(this.dir, HISTORY_FILE), text, 0o600))
      .catch((err: unknown) => this.log.warn("cannot write the run history", { error: describeError(err) }));
    await this.writing;
  }
}
