/**
 * The CLI entry point and its error boundary: the only place that knows about argv, exit codes and terminals.
 * Commands live one per file and are plain functions `run(options, deps)`.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { Command, CommanderError, Option } from "commander";
import { openStore } from "../store/open.js";
import {
  ArchiveError,
  ChecksumMismatchError,
  ExitCode,
  IdentityError,
  UserError,
  describeError,
} from "../util/errors.js";
import { createLogger } from "../util/log.js";
import { redactText } from "../util/redact.js";
import { createOutput, type Output } from "./output.js";
import { registerCommands } from "./commands.js";
import { terminalConfirm } from "./confirm.js";
import type { CliDeps } from "./deps.js";
import { candidatesOf, unknownCommandMessage } from "./suggest.js";
import { VERSION } from "./version.js";

export const EXIT_CODES_HELP = `
Exit status:
  0  success
  1  failure (every node failed, or an unexpected error)
  2  invalid configuration, flags or names: nothing was touched
  3  partial success: some nodes failed, or the S3 upload failed while local snapshots were saved
  4  integrity failure: a checksum or archive did not verify; nothing was touched
  5  restore failed after members were stopped; the old data is kept (see --rollback)
  6  stale (snapshot-status): a location's newest good snapshot is older than stale_after, or the last
     scheduled verify failed (wins over 3)
  130  interrupted (Ctrl-C) before any member was stopped: nothing was changed`;

export interface GlobalOptions {
  output: "text" | "json";
  debug: boolean;
  /** `--trace`: RKE's most verbose level; here the same as `--debug`. */
  trace: boolean;
  /** `-q, --quiet`: silences the notes about RKE's flags below and plain progress lines; stderr has only warnings and errors. */
  quiet: boolean;
  /** `--ssh-agent-auth`: or-ed with cluster.yml's `ssh_agent_auth` wherever a command reaches nodes over SSH. */
  sshAgentAuth: boolean;
  /** RKE's flags that change nothing here (RKE_ONLY_FLAGS). */
  ignoreDockerVersion: boolean;
  dind: boolean;
  certDir?: string;
  customCerts: boolean;
}

/** RKE's global and etcd flags that mean nothing to Lifeboat: accepted, so that RKE's scripts keep working. */
const RKE_ONLY_FLAGS = [
  ["ignoreDockerVersion", "--ignore-docker-version"],
  ["dind", "--dind"],
  ["certDir", "--cert-dir"],
  ["customCerts", "--custom-certs"],
] as const satisfies readonly (readonly [keyof GlobalOptions, string])[];

const UNUSED = "accepted for RKE's command lines; changes nothing in Lifeboat";

export function buildProgram(makeDeps: (g: GlobalOptions) => CliDeps): Command {
  const program = new Command("lifeboat")
    .description("etcd snapshots and disaster recovery, compatible with RKE's etcd backups")
    .version(VERSION, "-v, --version")
    .addOption(new Option("-o, --output <format>", "output format").choices(["text", "json"]).default("text"))
    .option("-d, --debug", "debug logging on stderr", false)
    .option("--trace", "RKE's most verbose logging: the same as --debug here", false)
    .option("-q, --quiet", "no notes about RKE's flags, no progress lines (stderr has only warnings and errors)", false)
    .option("--ssh-agent-auth", "log in to nodes over SSH with the SSH agent (SSH_AUTH_SOCK), as ssh_agent_auth", false)
    .option("--ignore-docker-version", UNUSED, false)
    .option("--dind", UNUSED, false)
    .option("--cert-dir <dir>", UNUSED)
    .option("--custom-certs", UNUSED, false)
    .showHelpAfterError()
    .addHelpText("after", EXIT_CODES_HELP)
    .exitOverride();
  const noted = new Set<string>();
  registerCommands(program, () => {
    const globals = program.opts<GlobalOptions>();
    const deps = makeDeps(globals);
    for (const [key, flag] of RKE_ONLY_FLAGS) {
      const given = globals[key] !== undefined && globals[key] !== false;
      if (!given || globals.quiet || noted.has(flag)) continue;
      noted.add(flag);
      deps.out.note(`note: ${flag} changes nothing in Lifeboat (accepted so that RKE's command lines keep working)`);
    }
    return deps;
  });
  return program;
}

/** `--debug`, or RKE's `--trace`: debug logging on stderr; warnings and errors otherwise. */
export function logLevelOf(g: Pick<GlobalOptions, "debug" | "trace">): "debug" | "warn" {
  return g.debug || g.trace ? "debug" : "warn";
}

export function exitCodeFor(err: unknown): number {
  if (err instanceof UserError) return err.exitCode;
  if (err instanceof ChecksumMismatchError || err instanceof ArchiveError || err instanceof IdentityError)
    return ExitCode.integrity;
  return ExitCode.failure;
}

export async function main(argv: string[]): Promise<number> {
  let exitCode: number = ExitCode.ok;
  let out: Output = createOutput("text");
  const program = buildProgram((g) => {
    out = createOutput(g.output, process.stdout, process.stderr, { quiet: g.quiet });
    return {
      out,
      log: createLogger({ level: logLevelOf(g), format: "text" }),
      sshAgentAuth: g.sshAgentAuth,
      clock: () => new Date(),
      setExitCode: (code) => (exitCode = code),
      // Loaded on first use, like the commands: --help and usage errors need neither config, PKI nor TLS.
      openFleet: async (...args) => (await import("../fleet/open.js")).openFleet(...args),
      openStore: (settings) => openStore(settings),
      sleep: (ms) => sleep(ms),
      confirm: terminalConfirm(out),
    };
  });
  program.configureOutput({ writeErr: (s) => process.stderr.write(s) });
  for (const cmd of allCommands(program)) {
    cmd.exitOverride().configureOutput({ writeErr: (s) => process.stderr.write(s) });
    cmd.addHelpText("after", EXIT_CODES_HELP);
  }
  for (const cmd of [program, ...allCommands(program)]) suggestOnUnknownCommand(cmd);
  try {
    await program.parseAsync(argv);
    return exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === "commander.helpDisplayed" || err.code === "commander.version" || err.code === "commander.help")
        return 0;
      return ExitCode.usage;
    }
    const code = exitCodeFor(err);
    out.note(`error: ${redactText(describeError(err))}`);
    if (out.format === "json") out.result({ ok: false, error: describeError(err), exitCode: code });
    return code;
  }
}

/** Answers an unknown subcommand with our suggestion instead of commander's, which may name a destructive command. */
function suggestOnUnknownCommand(cmd: Command): void {
  if (cmd.commands.length === 0) return;
  cmd.on("command:*", (operands: string[]) => {
    const message = unknownCommandMessage(operands[0] ?? "", candidatesOf(cmd));
    cmd.error(message, { code: "commander.unknownCommand", exitCode: ExitCode.usage });
  });
}

function allCommands(cmd: Command): Command[] {
  return cmd.commands.flatMap((c) => [c, ...allCommands(c)]);
}
