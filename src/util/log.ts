/**
 * One structured logger: JSON lines (`{"time","level","msg",...fields}`) on a writable stream.
 * Every field and message passes through `redact` so secrets never reach a log.
 */
import { redact, redactText } from "./redact.js";

export type LogLevel = "debug" | "info" | "warn" | "error";
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  /** A logger whose lines all carry `fields` (e.g. `{ node: "etcd-a" }`). */
  child(fields: Record<string, unknown>): Logger;
}

export interface LoggerOptions {
  level?: LogLevel;
  out?: { write(chunk: string): unknown };
  clock?: () => Date;
  /** "json" (default) for daemons; "text" for humans on a terminal. */
  format?: "json" | "text";
}

export function createLogger(options: LoggerOptions = {}, base: Record<string, unknown> = {}): Logger {
  const min = ORDER[options.level ?? "info"];
  const out = options.out ?? process.stderr;
  const clock = options.clock ?? (() => new Date());
  const write = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => {
    if (ORDER[level] < min) return;
    const extra = redact({ ...base, ...fields });
    if (options.format === "text") {
      const kv = Object.entries(extra)
        .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
        .join(" ");
      out.write(`${level.toUpperCase().padEnd(5)} ${redactText(msg)}${kv ? " " + kv : ""}\n`);
      return;
    }
    out.write(JSON.stringify({ time: clock().toISOString(), level, msg: redactText(msg), ...extra }) + "\n");
  };
  return {
    debug: (m, f) => write("debug", m, f),
    info: (m, f) => write("info", m, f),
    warn: (m, f) => write("warn", m, f),
    error: (m, f) => write("error", m, f),
    child: (fields) => createLogger(options, { ...base, ...fields }),
  };
}

/** A logger that drops everything (tests, quiet commands). */
export const silentLogger: Logger = createLogger({ level: "error", out: { write: () => true } });
