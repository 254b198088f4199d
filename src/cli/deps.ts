/**
 * What every command gets from the entry point. Its own file so that commands can name it without importing
 * main.ts, which registers them (an import cycle).
 */
import type { Logger } from "../util/log.js";
import type { Output } from "./output.js";

export interface CliDeps {
  out: Output;
  log: Logger;
  clock: () => Date;
  /** Sets the process exit code without exiting (commands that report partial results). */
  setExitCode(code: number): void;
}
