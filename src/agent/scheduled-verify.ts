/**
 * The agent's side of a scheduled verify (src/schedule/verify.ts decides when and what): refuse when the restore
 * folder's disk cannot hold the work, open a verify session of the agent's own (which any session the CLI opens
 * preempts), prepare the snapshot into the restore folder exactly as a restore does (download or local copy,
 * decryption, sha256 against the manifest), restore it into a throwaway etcd on loopback and compare it with the
 * manifest, and close the session, which removes every file it made (the extracted snapshot holds every Secret).
 */
import { randomUUID } from "node:crypto";
import { mkdir } from "node:fs/promises";
import type { VerifyRunner } from "../schedule/verify.js";
import { prepare } from "../restore/source.js";
import { verifyPrepared, type NodeDeps } from "../restore/steps.js";
import { ensureFreeSpace } from "../util/fs.js";
import { HttpError } from "./http.js";
import type { RestoreSessions } from "./restore-session.js";

/** Room kept free beyond the estimate: etcd's WAL, its log, the zip's temporary file. */
const MARGIN_BYTES = 64 * 1048576;

/**
 * The disk a verify of a copy needs in the restore folder: the downloaded (or decrypted) archive, the extracted
 * snapshot, and the throwaway member's data directory (about the snapshot's size), plus a margin.
 */
export function verifySpaceNeeded(m: { archiveSize: number; snapshotSize: number; copied: boolean }): number {
  return (m.copied ? m.archiveSize : 0) + 2 * m.snapshotSize + MARGIN_BYTES;
}

export function loopbackVerifyRunner(deps: NodeDeps, sessions: RestoreSessions): VerifyRunner {
  return async ({ entry, s3, identity, expected, signal }) => {
    const manifest = entry.manifest!;
    const { restoreDir } = deps.config;
    await mkdir(restoreDir, { recursive: true, mode: 0o700 });
    const copied = s3 !== undefined || manifest.encryption !== undefined;
    const archiveSize = manifest.encryption?.size ?? manifest.archive.size;
    const needed = verifySpaceNeeded({ archiveSize, snapshotSize: manifest.snapshot.size, copied });
    await ensureFreeSpace(restoreDir, needed, `a verify of ${entry.name}`);
    const id = `scheduled-${randomUUID()}`;
    let preempted: string | undefined;
    try {
      await sessions.openOwn(id, entry.name, (reason) => (preempted = reason));
    } catch (err) {
      if (err instanceof HttpError && err.status === 409) return { busy: err.message };
      throw err;
    }
    try {
      const step = <T>(fn: () => Promise<T>) => {
        if (signal.aborted) throw signal.reason;
        return sessions.step(id, entry.name, fn);
      };
      await step(() => prepare(entry.name, s3, identity, deps));
      const report = await step(() => verifyPrepared(entry.name, expected, deps));
      return preempted ? { busy: preempted } : { report };
    } catch (err) {
      if (preempted) return { busy: `preempted: ${preempted}` };
      throw err;
    } finally {
      await sessions.close(id, "the scheduled verify ended");
    }
  };
}
