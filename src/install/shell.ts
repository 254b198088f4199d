/**
 * Commands and files on one node, as root: `run` prefixes `sudo -n` for a sudo user, and `put` writes a file
 * atomically as root (SFTP runs as the login user, so a sudo user's upload is staged in a private temp directory,
 * then copied beside the target and renamed over it by root).
 */
import { posix } from "node:path";
import { asRoot, RemoteCommandError, shellCommand, shellQuote } from "../remote/index.js";
import type { ExecResult, RemoteHost, RootAccess } from "../remote/index.js";

const DEFAULT_TIMEOUT_MS = 30_000;
/** A 100 MiB program over a slow link. */
const UPLOAD_COPY_TIMEOUT_MS = 300_000;

export class NodeShell {
  #staging: Promise<string> | undefined;

  constructor(
    readonly host: RemoteHost,
    readonly access: RootAccess,
  ) {}

  get target(): string {
    return this.host.target;
  }

  /** Runs `command` as root; a non-zero exit is a result. */
  exec(command: string, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<ExecResult> {
    return this.host.exec(asRoot(this.access, command), { timeoutMs });
  }

  /** Runs `command` as root and returns its stdout; a non-zero exit fails with `what` and the first stderr line. */
  async run(command: string, what: string, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<string> {
    const result = await this.exec(command, timeoutMs);
    if (result.code !== 0) {
      const why = result.stderr.trim().split("\n").slice(-1)[0] || `exit status ${result.code ?? result.signal}`;
      throw new RemoteCommandError(this.target, `${what} failed: ${why.slice(0, 300)}`);
    }
    return result.stdout;
  }

  /** Writes `source` (a local path or bytes) to `path` with `mode`, atomically, owned by root. */
  async put(source: string | Buffer, path: string, mode: number): Promise<void> {
    if (this.access.via === "root") {
      await this.host.upload(source, path, mode);
      return;
    }
    const staged = posix.join(await this.staging(), posix.basename(path));
    await this.host.upload(source, staged, 0o600);
    const temp = posix.join(posix.dirname(path), `.${posix.basename(path)}.lifeboat-new`);
    const octal = mode.toString(8);
    await this.run(
      `cp -- ${shellQuote(staged)} ${shellQuote(temp)} && chown 0:0 ${shellQuote(temp)} && ` +
        `chmod ${octal} ${shellQuote(temp)} && mv -f -- ${shellQuote(temp)} ${shellQuote(path)}; ` +
        `s=$?; rm -f -- ${shellQuote(staged)} ${shellQuote(temp)}; exit $s`,
      `writing ${path}`,
      UPLOAD_COPY_TIMEOUT_MS,
    );
  }

  /** Removes the sudo staging directory, if one was made. */
  async close(): Promise<void> {
    const staging = await this.#staging?.catch(() => undefined);
    if (staging) await this.host.exec(shellCommand(["rm", "-rf", "--", staging]), { timeoutMs: DEFAULT_TIMEOUT_MS });
  }

  /** A 0700 directory of the login user's for uploads that root then moves into place. */
  private staging(): Promise<string> {
    this.#staging ??= this.host
      .exec("mktemp -d /tmp/lifeboat-install.XXXXXX", { timeoutMs: DEFAULT_TIMEOUT_MS })
      .then((r) => {
        const dir = r.stdout.trim();
        if (r.code !== 0 || !dir.startsWith("/")) {
          throw new RemoteCommandError(this.target, `cannot make a staging directory: ${r.stderr.trim()}`);
        }
        return dir;
      });
    return this.#staging;
  }
}
