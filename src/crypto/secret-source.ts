/**
 * Where a secret the operator keeps is found (an age identity, a break-glass passphrase): a file, read whole, or an
 * environment variable named by `ENV_NAME`. Errors name the place, never what it holds.
 */
import { readFile, stat } from "node:fs/promises";
import { IdentityError } from "../util/errors.js";

/** A variable's name as cluster.yml and the flags may give it. */
export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * The text of the file at `path`; an `IdentityError` that starts with `prefix` (e.g. `no passphrase: passphrase file
 * /x`) and says why when it is not a file, does not exist or cannot be read.
 */
export async function readSecretFile(path: string, prefix: string): Promise<string> {
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new IdentityError(`${prefix} is not a file`);
    return await readFile(path, "utf8");
  } catch (err) {
    if (err instanceof IdentityError) throw err;
    const code = (err as NodeJS.ErrnoException).code ?? "";
    const why = code === "ENOENT" ? "does not exist" : code === "EACCES" ? "cannot be read (permission denied)" : code;
    throw new IdentityError(`${prefix} ${why || "cannot be read"}`);
  }
}
