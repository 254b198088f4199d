/**
 * "Did you mean ...?" for an unknown command, replacing commander's, which only measures spelling: it answered
 * `snapshot-remove` with snapshot-restore, one letter-distance away and the opposite of what was meant. Two rules:
 *
 * - Meaning first: a word that means delete (remove, rm, del, ...) or list, save, status points at that command.
 * - A command that stops members (restore, sandbox down) is never suggested. A restore must be typed in full: a
 *   typo close to it may as well be a typo of something else, and the cost of guessing wrong is an outage.
 */
import type { Command } from "commander";

/** Commands that stop etcd members: never offered as a suggestion. */
const STOPS_MEMBERS = new WeakSet<Command>();

/** Marks `cmd` as one that stops members, so that no typo is ever answered with it. */
export function stopsMembers<C extends Command>(cmd: C): C {
  STOPS_MEMBERS.add(cmd);
  return cmd;
}

/** Words for what a command does, by the last part of its name (`snapshot-delete` -> `delete`). */
const SYNONYMS: Record<string, readonly string[]> = {
  delete: ["remove", "rm", "del", "delete", "erase", "destroy", "unlink", "drop"],
  list: ["ls", "list", "show"],
  save: ["backup", "take", "create", "save"],
  status: ["state", "info", "stat"],
};

export interface Candidate {
  name: string;
  /** True for a command that stops members: it is never suggested. */
  stopsMembers: boolean;
}

/** The subcommands of `parent` that its help lists, as candidates. */
export function candidatesOf(parent: Command): Candidate[] {
  return parent
    .createHelp()
    .visibleCommands(parent)
    .map((c) => ({ name: c.name(), stopsMembers: STOPS_MEMBERS.has(c) }));
}

/** The commands to suggest for the unknown `word`, best first; empty when there is no safe suggestion. */
export function suggestCommands(word: string, candidates: readonly Candidate[]): string[] {
  const safe = candidates.filter((c) => !c.stopsMembers).map((c) => c.name);
  const byMeaning = meaningOf(word);
  if (byMeaning !== undefined) {
    // The meaning is known: the suggestion is that command or nothing, never a look-alike that means something else.
    return safe.filter((name) => verbOf(name) === byMeaning);
  }
  return closest(word.toLowerCase(), safe);
}

/** The message for an unknown command, with its suggestion if any (commander's wording). */
export function unknownCommandMessage(word: string, candidates: readonly Candidate[]): string {
  const names = suggestCommands(word, candidates);
  const hint = names.length === 0 ? "" : `\n(Did you mean ${names.length === 1 ? "" : "one of "}${names.join(", ")}?)`;
  return `error: unknown command '${word}'${hint}`;
}

function verbOf(name: string): string {
  return name.slice(name.lastIndexOf("-") + 1);
}

/** What `snapshot-remove`, `remove` or `snapshot_rm` mean, if their verb is a known synonym. */
function meaningOf(word: string): string | undefined {
  const verb = word.toLowerCase().replace(/^snap(?:shot)?[-_]?/, "");
  return Object.keys(SYNONYMS).find((meaning) => SYNONYMS[meaning]?.includes(verb));
}

/** The names nearest in spelling, by commander's measure: at most 3 edits, over 40% alike, ties all kept. */
function closest(word: string, names: readonly string[]): string[] {
  let best = 3;
  let found: string[] = [];
  for (const name of names) {
    const d = editDistance(word, name);
    const length = Math.max(word.length, name.length);
    if (name.length <= 1 || (length - d) / length <= 0.4 || d > best) continue;
    found = d < best ? [name] : [...found, name];
    best = d;
  }
  return found.sort((a, b) => a.localeCompare(b));
}

/** Levenshtein distance with adjacent transpositions (optimal string alignment), as commander computes it. */
function editDistance(a: string, b: string): number {
  const width = b.length + 1;
  const d = new Uint16Array((a.length + 1) * width);
  const at = (i: number, j: number) => d[i * width + j] ?? 0;
  for (let i = 0; i <= a.length; i++) d[i * width] = i;
  for (let j = 0; j <= b.length; j++) d[j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, at(i - 2, j - 2) + 1);
      d[i * width + j] = v;
    }
  }
  return at(a.length, b.length);
}
