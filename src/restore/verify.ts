/**
 * `snapshot-verify` on one node: restore the snapshot into a throwaway directory, start a throwaway etcd on
 * 127.0.0.1 (ports chosen free), read its revision and key count, compare with the snapshot's own status and, when
 * the manifest recorded them (src/snapshot/contents.ts), with the revision, key count and HashKV the live member had
 * when the snapshot was taken; stop it and remove everything. Proves a snapshot restores, with the same data, without
 * touching the cluster.
 */
import type { VerifyReport } from "../api/restore.js";
import type { EtcdTools } from "../etcd/binaries.js";
import type { EtcdMemberClient } from "../etcd/client.js";
import type { Contents } from "../snapshot/manifest.js";
import type { Logger } from "../util/log.js";
import { withLoopbackMember } from "./loopback.js";

/** The report is what POST /v1/restore/verify sends (src/api/restore.ts). */
export type { VerifyReport };

export async function verifySnapshotOnLoopback(o: {
  snapshotPath: string;
  tools: EtcdTools;
  workDir: string;
  log: Logger;
  /** What the manifest says the snapshot holds; null or absent for snapshots taken without it. */
  expected?: Contents | null | undefined;
}): Promise<VerifyReport> {
  return withLoopbackMember({ ...o, purpose: "verify" }, async ({ client, status }) => {
    const live = await client.status();
    const keys = await client.count("");
    const problems: string[] = [];
    if (live.revision < status.revision) problems.push(`revision ${live.revision} < snapshot's ${status.revision}`);
    const compared = o.expected ? await compareContents(client, live.revision, o.expected) : undefined;
    if (compared) problems.push(...compared.problems);
    // status.totalKey counts every stored revision of every key, so it is reported, not compared with `keys`.
    const report: VerifyReport = {
      revision: live.revision,
      keys,
      hash: status.hash,
      storedRevisions: status.totalKey,
      totalSize: status.totalSize,
      etcdVersion: live.version,
      checked: compared?.checked ?? ["revision"],
      ok: problems.length === 0,
    };
    if (compared?.hashKV !== undefined) report.hashKV = compared.hashKV;
    if (compared?.note) report.note = compared.note;
    if (problems.length) report.reason = problems.join("; ");
    return report;
  });
}

interface Comparison {
  problems: string[];
  checked: VerifyReport["checked"];
  hashKV?: number;
  note?: string;
}

/**
 * The restored member against what the live member held when the snapshot's stream began, read at exactly that
 * revision (the snapshot holds it at least, with its history): the same number of keys there, and the same HashKV
 * there, the hash only when both start from the same compaction (a compaction of the live cluster between the
 * snapshot and its hash makes the recorded hash cover less history).
 */
async function compareContents(
  client: EtcdMemberClient,
  snapshotRevision: number,
  expected: Contents,
): Promise<Comparison> {
  const problems: string[] = [];
  const checked: VerifyReport["checked"] = ["revision", "keys"];
  let note: string | undefined;
  const revision = expected.revision;
  // The restored member's own revision: `snapshot status` says 0 for a snapshot of a cluster with no writes yet, whose
  // member (and manifest) says 1.
  if (snapshotRevision < revision) {
    problems.push(`the snapshot holds revision ${snapshotRevision}, older than the manifest's ${revision}`);
    return { problems, checked };
  }
  const keys = await client.count("", revision);
  if (keys !== expected.keys) {
    problems.push(`${keys} keys restored at revision ${revision}, the live member had ${expected.keys}`);
  }
  const kv = await client.hashKV(revision);
  if (kv.compactRevision !== expected.compactRevision) {
    note = `hash not compared: restored from compaction ${kv.compactRevision}, recorded from ${expected.compactRevision}`;
  } else {
    checked.push("hash");
    if (kv.hash !== expected.hashKV) {
      problems.push(`HashKV at revision ${revision} is ${kv.hash}, the live member's was ${expected.hashKV}`);
    }
  }
  return { problems, checked, hashKV: kv.hash, ...(note ? { note } : {}) };
}
