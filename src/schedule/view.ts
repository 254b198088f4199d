/** What of the stored schedule may be shown to an operator (GET /v1/schedule, GET /v1/status). */
import type { PublicView } from "../api/schedule.js";
import { describeEvery, type ScheduleDocument } from "./spec.js";

/** The stored schedule without credentials, header values or the state file; null when none is stored. */
export function publicView(doc: ScheduleDocument | undefined): PublicView | null {
  if (!doc) return null;
  const s = doc.schedule;
  return {
    since: doc.since,
    updatedAt: doc.updatedAt,
    schedule: s
      ? {
          every: s.every,
          description: describeEvery(s.every),
          jitterMs: s.jitterMs,
          retention: s.retention,
          s3: s.s3 ? { endpoint: s.s3.endpoint, bucket: s.s3.bucket, folder: s.s3.folder ?? null } : null,
          compression: s.compression,
          timeoutSeconds: s.timeoutSeconds,
          stateFile: s.stateFile !== undefined,
          verify: s.verify ?? null,
          continuous: s.continuous ?? null,
        }
      : null,
    notifications: doc.notifications
      ? {
          webhook: new URL(doc.notifications.webhookUrl).origin,
          headers: Object.keys(doc.notifications.headers),
          onSuccess: doc.notifications.onSuccess,
        }
      : null,
  };
}
