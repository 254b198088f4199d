/**
 * The pure parts of an install: which files differ from what the node holds (by sha256), what a node's outcome is
 * called, and the parsers of what the node prints. No I/O here; install.ts carries the plan out.
 */

/** What a file belongs to, as the outcome names it. */
export type FileGroup = "program" | "agent folder" | "etcd tools" | "unit";
export const FILE_GROUPS: readonly FileGroup[] = ["program", "agent folder", "etcd tools", "unit"];

export interface WantedFile {
  /** Absolute path on the node. */
  path: string;
  mode: number;
  group: FileGroup;
  sha256: string;
  size: number;
  /** A local file's path, or the bytes. */
  source: string | Buffer;
}

export interface FileChange {
  file: WantedFile;
  /** `add`: the node has no file there; `replace`: it has one with other bytes. */
  action: "add" | "replace";
}

/** The files whose bytes differ from the node's (`remote`: path -> sha256 of what the node holds). */
export function planFiles(wanted: readonly WantedFile[], remote: ReadonlyMap<string, string>): FileChange[] {
  return wanted.flatMap((file): FileChange[] => {
    const there = remote.get(file.path);
    if (there === file.sha256) return [];
    return [{ file, action: there === undefined ? "add" : "replace" }];
  });
}

/** The groups a change set touches, in a fixed order. */
export function changedGroups(changes: readonly FileChange[]): FileGroup[] {
  return FILE_GROUPS.filter((g) => changes.some((c) => c.file.group === g));
}

/**
 * One node's outcome in a word or two: `installed` (no program there before), `upgraded: program, unit` (what
 * changed), `started` (nothing changed, but the agent was not running), `up to date`.
 */
export function outcomeOf(o: { wasInstalled: boolean; wasRunning: boolean; changes: readonly FileChange[] }): string {
  if (!o.wasInstalled) return "installed";
  const groups = changedGroups(o.changes);
  if (groups.length > 0) return `upgraded: ${groups.join(", ")}`;
  return o.wasRunning ? "up to date" : "started";
}

/** `sha256sum` output (`<hex>  <path>` per line; `\` before the hex when the name was escaped) as path -> hex. */
export function parseSha256sum(output: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of output.split("\n")) {
    const match = /^\\?([0-9a-f]{64}) [ *](.+)$/.exec(line);
    if (match?.[1] && match[2]) out.set(match[2], match[1]);
  }
  return out;
}

/** A major.minor release line of a version: "3.5" of "3.5.30". */
export function seriesOf(version: string): string {
  return version.split(".").slice(0, 2).join(".");
}

/** One directory of etcd tools a node has, as the check prints it: `<dir> <version> [etcdutl]`. */
export interface NodeTools {
  dir: string;
  version: string;
  etcdutl: boolean;
}

export function parseNodeTools(output: string): NodeTools[] {
  return output.split("\n").flatMap((line) => {
    const match = /^(\/\S*) (\d+\.\d+\.\d+)( etcdutl)?$/.exec(line.trim());
    return match?.[1] && match[2] ? [{ dir: match[1], version: match[2], etcdutl: match[3] !== undefined }] : [];
  });
}

/**
 * The first tools that serve a member of `version`: the same release line (a restore needs the member's own
 * series), with etcdutl from 3.5 on (the restore tool there). Any tools do when the member's version is unknown.
 */
export function usableTools(found: readonly NodeTools[], version: string | undefined): NodeTools | undefined {
  return found.find((t) => {
    if (version !== undefined && seriesOf(t.version) !== seriesOf(version)) return false;
    return t.etcdutl || !needsEtcdutl(t.version);
  });
}

export function needsEtcdutl(version: string): boolean {
  const [major = 0, minor = 0] = version.split(".").map(Number);
  return major > 3 || (major === 3 && minor >= 5);
}
