/** Lifeboat's cluster-wide `lifeboat:` block: validation and defaults. */
import { parseGoDuration } from "../util/duration.js";
import { isAbsolute } from "node:path";
import { registerSecret } from "../util/redact.js";
import { parseHttpUrl } from "./endpoints.js";
import { encryptionOf } from "./encryption.js";
import type { Report } from "./report.js";
import type { RawClusterLifeboat } from "./schema.js";
import type { LifeboatSettings, VerifyEvery } from "./types.js";

/** As rke-tools' `--backup-retries` default. */
export const DEFAULT_SNAPSHOT_RETRIES = 4;
/** As rke-tools' pause between snapshot attempts. */
export const DEFAULT_RETRY_PAUSE_SECONDS = 15;
/** A segment is committed early once the revisions waiting for it take this much memory. */
export const DEFAULT_MAX_SEGMENT_BYTES = 8 << 20;
const SECRET_HEADER = /auth|token|key|secret|cookie|password/i;
const CRON_FIELD = /^[0-9A-Za-z*/,?-]+$/;

/** Resolves the top-level `lifeboat:` block with its defaults. */
export function resolveLifeboat(raw: RawClusterLifeboat | undefined, report: Report): LifeboatSettings {
  const tls = raw?.etcd_tls ? etcdTls(raw.etcd_tls, report) : undefined;
  const settings: LifeboatSettings = {
    s3: s3Settings(raw?.s3, report),
    snapshot: {
      retries: raw?.snapshot?.retries ?? DEFAULT_SNAPSHOT_RETRIES,
      retryPauseSeconds: raw?.snapshot?.retry_pause_seconds ?? DEFAULT_RETRY_PAUSE_SECONDS,
      compression: raw?.snapshot?.compression ?? "deflate",
      ...(raw?.snapshot?.level !== undefined ? { level: raw.snapshot.level } : {}),
      ...(raw?.snapshot?.compression_threads !== undefined ? { threads: raw.snapshot.compression_threads } : {}),
    },
  };
  if (raw?.cluster_id) settings.clusterId = raw.cluster_id;
  if (raw?.etcd?.quota_backend_bytes !== undefined) settings.quotaBackendBytes = raw.etcd.quota_backend_bytes;
  if (tls) settings.etcdTls = tls;
  if (raw?.schedule) {
    const { stale_after: staleAfter, verify, ...when } = raw.schedule;
    // stale_after or verify alone keep RKE's own interval (backup_config.interval_hours).
    const alone = (staleAfter !== undefined || verify !== undefined) && isEmpty(when);
    const schedule = alone ? undefined : scheduleOf(when, report);
    if (schedule) settings.schedule = schedule;
    if (staleAfter !== undefined) {
      const ms = staleAfterOf(staleAfter, report);
      if (ms !== undefined) settings.staleAfterMs = ms;
    }
    if (verify) {
      const every = verifyOf(verify, report);
      if (every) settings.verify = every;
    }
  }
  if (raw?.continuous?.enabled) {
    const continuous = continuousOf(raw.continuous, report);
    if (continuous) settings.continuous = continuous;
  }
  if (raw?.notifications) settings.notifications = notifications(raw.notifications, report);
  if (raw?.encryption) settings.encryption = encryptionOf(raw.encryption, report);
  return settings;
}

function s3Settings(raw: NonNullable<RawClusterLifeboat>["s3"], report: Report): LifeboatSettings["s3"] {
  const out: LifeboatSettings["s3"] = { addressing: raw?.addressing ?? "auto" };
  if (raw?.proxy) {
    const proxy = parseHttpUrl(raw.proxy);
    if (!proxy.ok) report.issues.push({ path: "lifeboat.s3.proxy", message: proxy.message });
    out.proxy = raw.proxy;
  }
  if (raw?.session_token) {
    registerSecret(raw.session_token);
    out.sessionToken = raw.session_token;
  }
  return out;
}

function etcdTls(raw: { ca_file: string; cert_file: string; key_file: string }, report: Report) {
  for (const key of ["ca_file", "cert_file", "key_file"] as const) {
    if (!isAbsolute(raw[key])) {
      report.issues.push({ path: `lifeboat.etcd_tls.${key}`, message: `must be an absolute path on the nodes` });
    }
  }
  return { caFile: raw.ca_file, certFile: raw.cert_file, keyFile: raw.key_file };
}

/** Exactly one of `cron` and `interval`. */
function scheduleOf(
  raw: { cron?: string | undefined; interval?: string | undefined },
  report: Report,
): LifeboatSettings["schedule"] {
  if ((raw.cron === undefined) === (raw.interval === undefined)) {
    report.issues.push({ path: "lifeboat.schedule", message: "give exactly one of cron and interval" });
    return undefined;
  }
  if (raw.cron !== undefined) return { cron: cron(raw.cron, report) };
  const parsed = parseGoDuration(raw.interval ?? "");
  if (!parsed.ok || parsed.ms < 1000) {
    const why = parsed.ok ? "must be at least 1s" : parsed.message;
    report.issues.push({ path: "lifeboat.schedule.interval", message: why });
    return undefined;
  }
  return { intervalMs: parsed.ms };
}

function isEmpty(when: { cron?: string | undefined; interval?: string | undefined }): boolean {
  return when.cron === undefined && when.interval === undefined;
}

/** Exactly one of `every` (a Go duration of whole seconds, at least 1s) and `after_snapshots` (at least 1). */
function verifyOf(
  raw: { every?: string | undefined; after_snapshots?: number | undefined },
  report: Report,
): VerifyEvery | undefined {
  if ((raw.every === undefined) === (raw.after_snapshots === undefined)) {
    report.issues.push({ path: "lifeboat.schedule.verify", message: "give exactly one of every and after_snapshots" });
    return undefined;
  }
  if (raw.after_snapshots !== undefined) return { afterSnapshots: raw.after_snapshots };
  const parsed = parseGoDuration(raw.every ?? "");
  if (!parsed.ok || parsed.ms < 1000 || parsed.ms % 1000 !== 0) {
    const why = parsed.ok ? "must be whole seconds of at least 1s (e.g. 24h)" : parsed.message;
    report.issues.push({ path: "lifeboat.schedule.verify.every", message: why });
    return undefined;
  }
  return { everyMs: parsed.ms };
}

/** The revision log: a segment every `interval` (whole seconds, 1s to 10m, default 10s), at most 8 MiB by default. */
function continuousOf(
  raw: { interval?: string | undefined; max_segment_bytes?: number | undefined },
  report: Report,
): LifeboatSettings["continuous"] {
  const parsed = parseGoDuration(raw.interval ?? "10s");
  if (!parsed.ok || parsed.ms < 1000 || parsed.ms > 600_000 || parsed.ms % 1000 !== 0) {
    const why = parsed.ok ? "must be whole seconds from 1s to 10m (e.g. 10s)" : parsed.message;
    report.issues.push({ path: "lifeboat.continuous.interval", message: why });
    return undefined;
  }
  return { intervalMs: parsed.ms, maxSegmentBytes: raw.max_segment_bytes ?? DEFAULT_MAX_SEGMENT_BYTES };
}

/** A Go duration of at least 1s, or `off` (null: nothing is ever stale). */
function staleAfterOf(value: string, report: Report): number | null | undefined {
  if (value.trim() === "off") return null;
  const parsed = parseGoDuration(value);
  if (parsed.ok && parsed.ms >= 1000) return Math.round(parsed.ms);
  const why = parsed.ok ? "must be at least 1s (or off)" : `${parsed.message}, or off`;
  report.issues.push({ path: "lifeboat.schedule.stale_after", message: why });
  return undefined;
}

/** Standard five-field cron (minute hour day-of-month month day-of-week). */
function cron(value: string, report: Report): string {
  const fields = value.trim().split(/\s+/);
  if (fields.length !== 5 || !fields.every((f) => CRON_FIELD.test(f))) {
    report.issues.push({
      path: "lifeboat.schedule.cron",
      message: `"${value}" is not a five-field cron expression (e.g. "0 */12 * * *")`,
    });
  }
  return value.trim();
}

function notifications(
  raw: NonNullable<NonNullable<RawClusterLifeboat>["notifications"]>,
  report: Report,
): NonNullable<LifeboatSettings["notifications"]> {
  const url = parseHttpUrl(raw.webhook_url);
  if (!url.ok) report.issues.push({ path: "lifeboat.notifications.webhook_url", message: url.message });
  const headers = raw.headers ?? {};
  for (const [name, value] of Object.entries(headers)) if (SECRET_HEADER.test(name)) registerSecret(value);
  return { webhookUrl: raw.webhook_url, headers, onSuccess: raw.on_success ?? false };
}
