/**
 * The known_hosts file on disk: read once per connection, appended to when a new key is accepted. Only a host with
 * no key at all is ever added; a changed key is refused (see connect.ts), never rewritten.
 */
import { mkdir, open, readFile } from "node:fs/promises";
import { dirname } from "node:path";
import type { KnownHostsEntry } from "./known-hosts.js";
import { knownHostsLine, parseKnownHosts } from "./known-hosts.js";

/** The entries of the file at `path`; none when it does not exist yet. */
export async function loadKnownHosts(path: string): Promise<KnownHostsEntry[]> {
  try {
    return parseKnownHosts(await readFile(path, "utf8"));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
}

/**
 * Appends `host`'s key as one line (creating the file 0600 and its directory 0700 when missing). One write with
 * O_APPEND, so that connections to several nodes may add their keys at the same time.
 */
export async function appendKnownHost(path: string, host: string, port: number, blob: Buffer): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const handle = await open(path, "a+", 0o600);
  try {
    const { size } = await handle.stat();
    let separator = "";
    if (size > 0) {
      const last = Buffer.alloc(1);
      await handle.read(last, 0, 1, size - 1);
      if (last[0] !== 0x0a) separator = "\n";
    }
    await handle.write(`${separator}${knownHostsLine(host, port, blob)}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
}
