/** POSIX shell quoting for commands sent to a remote `sh`: each word in single quotes, so nothing in it expands. */

/** One word, quoted: `it's` becomes `'it'\''s'`. Words of only safe characters are left as they are. */
export function shellQuote(word: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** A command line from words, each quoted: `shellCommand(["mkdir", "-p", dir])`. */
export function shellCommand(words: readonly string[]): string {
  return words.map(shellQuote).join(" ");
}
