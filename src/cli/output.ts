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
  /**
   * True when progress is redrawn in place: text output with stdout and stderr both terminals. Otherwise progress is
   * plain lines (`progressLine`), so that a log, a pipe or `-o json` gets whole lines (src/cli/progress.ts).
   */
  live: boolean;
  /** The progress block on stderr, redrawn in place (one line per task); only when `live`. */
  progress(lines: readonly string[]): void;
  /** One plain progress line on stderr, for logs; suppressed by `--quiet`. */
  progressLine(text: string): void;
}

export interface Writable {
  write(chunk: string): unknown;
  isTTY?: boolean;
}

export function createOutput(
  format: OutputFormat,
  stdout: Writable = process.stdout,
  stderr: Writable = process.stderr,
  options: { quiet?: boolean } = {},
): Output {
  const live = format === "text" && stdout.isTTY === true && stderr.isTTY === true;
  /** Lines of the progress block now on screen; the cursor is at the end of the last. */
  let shown = 0;
  const clearProgress = () => {
    if (shown === 0) return;
    stderr.write("\r\x1b[K" + "\x1b[1A\x1b[K".repeat(shown - 1));
    shown = 0;
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
    live,
    progress: (lines) => {
      if (!live || lines.length === 0) return;
      clearProgress();
      stderr.write(lines.map((l) => redactText(l)).join("\n"));
      shown = lines.length;
    },
    progressLine: (text) => {
      if (options.quiet) return;
      clearProgress();
      stderr.write(redactText(text) + "\n");
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
