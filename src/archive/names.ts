/** Snapshot names: what an operator may choose, and the pattern reserved for recurring snapshots. */

/** RKE's recurring names: `<RFC3339 tick time>_etcd`, e.g. `2020-10-15T14:53:26Z_etcd`. */
const RECURRING = /^\d{4}-\d{2}-\d{2}T[^_]*_etcd$/;
const MAX_LENGTH = 200;

/** True for names of the recurring form, which retention prunes by age and so a one-time name must not use. */
export function isRecurringName(name: string): boolean {
  return RECURRING.test(name);
}

/**
 * Why `name` cannot be a snapshot name, or undefined when it can. A name becomes a file name, an S3 key and a
 * zip entry (`/backup/<name>`), so it must be one safe path segment. Recurring-style names are refused unless
 * `allowRecurring` (set when reading or writing a snapshot the scheduler named, never for operator input).
 */
export function validateSnapshotName(name: string, options: { allowRecurring?: boolean } = {}): string | undefined {
  if (name.length === 0) return "the name is empty";
  if (name.length > MAX_LENGTH) return `the name is longer than ${MAX_LENGTH} characters`;
  if (name.includes("/") || name.includes("\\")) return 'the name contains a path separator ("/" or "\\")';
  if (name.includes("..")) return 'the name contains ".."';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(name)) return "the name contains a control character";
  if (name.startsWith(".") || name.startsWith("-")) return 'the name starts with "." or "-"';
  if (name.toLowerCase().endsWith(".zip")) return 'the name ends with ".zip" (give it without the extension)';
  if (!options.allowRecurring && isRecurringName(name)) {
    return "names of the form <timestamp>_etcd are reserved for recurring snapshots";
  }
  return undefined;
}
