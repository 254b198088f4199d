/**
 * `schedule.json` in the agent's folder: the last pushed schedule and notification settings, written atomically
 * with mode 0600 (it holds S3 credentials, webhook headers and the cluster state file), so that a restarted agent
 * keeps its schedule without a new push.
 */
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { readJsonFile } from "../config/json-file.js";
import { fsyncDir, writeFileAtomic } from "../util/fs.js";
import { registerSecret } from "../util/redact.js";
import { ScheduleDocument } from "./spec.js";

export const SCHEDULE_FILE = "schedule.json";

/** The stored document, or undefined when none was pushed. Throws ConfigError when the file cannot be read or does not parse. */
export async function readScheduleDocument(dir: string): Promise<ScheduleDocument | undefined> {
  const document = await readJsonFile(join(dir, SCHEDULE_FILE), ScheduleDocument);
  if (document) registerScheduleSecrets(document);
  return document;
}

/** Replaces the stored document (atomically, 0600), or deletes it for undefined. */
export async function writeScheduleDocument(dir: string, doc: ScheduleDocument | undefined): Promise<void> {
  const path = join(dir, SCHEDULE_FILE);
  if (doc) return writeFileAtomic(path, JSON.stringify(doc, null, 2) + "\n", 0o600);
  await rm(path, { force: true });
  await fsyncDir(dir);
}

/** Makes sure no credential of a schedule can reach a log line or an error message. */
export function registerScheduleSecrets(doc: Pick<ScheduleDocument, "schedule" | "notifications">): void {
  const s3 = doc.schedule?.s3;
  registerSecret(s3?.accessKey);
  registerSecret(s3?.secretKey);
  registerSecret(s3?.sessionToken);
  for (const value of Object.values(doc.notifications?.headers ?? {})) registerSecret(value);
  registerSecret(doc.notifications?.webhookUrl);
}
