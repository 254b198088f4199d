/** Everything the CLI prints goes through here: human tables on a terminal, or one JSON document with --output json. */
import { redact, redactText } from "../util/redact.js";

export type OutputFormat = "text" | "json";

export interface Output {
  format: OutputFormat;
  /** Human line on stdout (suppressed with --output json). */
  line(text: string): void;
  /** A warning or notice on stderr (always shown, never pollutes JSON on stdout). */
  note(text: string): void;
  /** The command's machine-readable result: printed as JSON with --output json, ignored otherwise. */
  result(value: unknown): void;
  /** Progress on a terminal (stderr), rewritten in place; silent when stderr is not a TTY. */
  progress(text: string): void;
}

export interface Writable {
  write(chunk: string): unknown;
  isTTY?: boolean;
}

export function createOutput(
  format: OutputFormat,
  stdout: Writable = process.stdout,
  stderr: Writable = process.stderr,
): Output {
  let progressShown = false;
  const clearProgress = () => {
    if (progressShown) stderr.write("\r\x1b[K");
    progressShown = false;
  };
  return {
    format,
    line: (text) => {
      if (format === "text") {
        clearProgress();
        stdout.write(redactText(text) + "\n");
      }
    },
    note: (text) => {
      clearProgress();
      stderr.write(redactText(text) + "\n");
    },
    result: (value) => {
      if (format === "json") stdout.write(JSON.stringify(redact(value), null, 2) + "\n");
    },
    progress: (text) => {
      if (!stderr.isTTY) return;
      stderr.write(`\r\x1b[K${redactText(text)}`);
      progressShown = true;
    },
  };
}

/** Formats rows as an aligned text table. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const fmt = (cells: readonly string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join("  ")
      .trimEnd();
  return [fmt(headers), ...rows.map(fmt)].join("\n");
}

export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(1)} ${units[u]}`;
}

/** Elapsed wall time in tables and phase reports: `850 ms`, `12.3 s` (a reading, not a duration to write back). */
export function formatElapsed(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}
