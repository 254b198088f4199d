/** Where a snapshot's creation time comes from, and how instants are written in reasons (durations: util/duration). */
import type { RetentionInput } from "./types.js";

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

/**
 * The instant an RFC 3339 timestamp names, or undefined when the text is not one (Go's `time.RFC3339`
 * rules: full date and time, optional fraction, `Z` or a ±hh:mm offset; out-of-range fields are rejected).
 */
export function parseRfc3339(text: string): Date | undefined {
  const m = RFC3339.exec(text);
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  // Date.UTC rolls 30 February over into March; a round trip catches such fields.
  const local = new Date(Date.UTC(year, month - 1, day, hour, minute, second));
  const exact =
    local.getUTCFullYear() === year &&
    local.getUTCMonth() === month - 1 &&
    local.getUTCDate() === day &&
    local.getUTCHours() === hour &&
    local.getUTCMinutes() === minute &&
    local.getUTCSeconds() === second;
  if (!exact) return undefined;
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? undefined : new Date(ms);
}

/**
 * The time in an RKE recurring name: the text before the first `_` of the base name (any `folder/` prefix is
 * dropped first, the S3 folder bug RKE once had), e.g. `2026-11-26T10:00:00Z_etcd.zip`. Undefined otherwise.
 */
export function timeFromRkeName(name: string): Date | undefined {
  const base = name.slice(name.lastIndexOf("/") + 1);
  const underscore = base.indexOf("_");
  if (underscore <= 0) return undefined;
  return parseRfc3339(base.slice(0, underscore));
}

/** The creation time retention uses: the manifest's, else the RKE name's, else undefined (never mtime or guesses). */
export function snapshotTime(input: RetentionInput): Date | undefined {
  if (input.created !== undefined && !Number.isNaN(input.created.getTime())) return input.created;
  return timeFromRkeName(input.name);
}

/** UTC, second precision unless the instant has milliseconds: `2026-11-26T10:00:00Z`. */
export function formatInstant(date: Date): string {
  const iso = date.toISOString();
  return iso.endsWith(".000Z") ? `${iso.slice(0, -5)}Z` : iso;
}
