/**
 * The state file side of a restore: which state applies (the archive's, RKE >= 1.1.4, or the local one), checking its
 * certificates before any node is touched, and recording the restore afterwards.
 */
import {
  CA_CERT_NAME,
  extendLineage,
  lineageOf,
  lookupCert,
  parseState,
  previousClusterId,
  writeState,
  type ClusterState,
  type RestoreIds,
} from "../config/state.js";
import { checkCertificate } from "../pki/pki.js";
import { UserError } from "../util/errors.js";
import { writeFileAtomic } from "../util/fs.js";

/** RKE skips these in its restore check (service-account key, request-header CA, kube-admin). */
const NOT_CHECKED = new Set(["kube-service-account-token", "kube-apiserver-requestheader-ca", "kube-admin"]);

/** Fails (exit 2) naming every certificate that is not valid now or does not chain to the state's CA. */
export function checkStateCertificates(state: ClusterState, origin: string, now: Date): void {
  const bundle = state.desiredState?.certificatesBundle ?? state.currentState?.certificatesBundle ?? {};
  const ca = bundle[CA_CERT_NAME]?.certificatePEM;
  const failures: string[] = [];
  for (const [name, entry] of Object.entries(bundle)) {
    if (NOT_CHECKED.has(name) || !entry.certificatePEM) continue;
    const check = checkCertificate(entry.certificatePEM, {
      now,
      ...(ca && name !== CA_CERT_NAME ? { caPEM: ca } : {}),
    });
    if (!check.ok) failures.push(`Certificate [${name}] failed verification: ${check.reason}`);
  }
  if (failures.length) throw new UserError(`invalid certs in the ${origin} state file: ${failures.join("; ")}`);
}

export function parseArchivedState(base64: string, name: string): ClusterState {
  return parseState(
    Buffer.from(base64, "base64").toString("utf8"),
    `/etc/kubernetes/${name}.rkestate (in the archive)`,
  );
}

/**
 * After a successful restore: the archived state replaces the local one when both belong to the same CA (Lifeboat's
 * own agent/CLI certificates are kept from the local file so the CLI can still reach the agents); otherwise it is saved
 * beside the local file. The restore is recorded in `lifeboat.restores` with the cluster ID before it, and both IDs
 * join `lifeboat.lineage`, so that retention keeps treating the snapshots taken before as this cluster's.
 */
export async function recordRestore(o: {
  statePath: string;
  local: ClusterState;
  archived: ClusterState | undefined;
  record: Record<string, unknown> & RestoreIds;
}): Promise<string[]> {
  const { next, notes } = await chooseNextState(o);
  const recorded = lineageOf(next);
  const previous = previousClusterId(recorded, o.record);
  if (o.record.previousClusterId === undefined) notes.push(inferredNote(previous));
  const lineage = extendLineage(recorded, previous, o.record.clusterId);
  const record = { ...o.record, ...(previous === undefined ? {} : { previousClusterId: previous }) };
  const restores = [...(next.lifeboat?.restores ?? []), record];
  await writeState(o.statePath, { ...next, lifeboat: { ...next.lifeboat, restores, lineage } });
  return notes;
}

function inferredNote(previous: string | undefined): string {
  return previous === undefined
    ? "no member reported a cluster ID before the restore and none is recorded: retention keeps the snapshots " +
        "taken before it as another cluster's (add that cluster ID to lifeboat.lineage in the state file to prune them)"
    : `no member reported a cluster ID before the restore: recorded ${previous} as the previous one (lifeboat.lineage)`;
}

/** The archive's state when it has the local CA, else the local one (the archive's is saved beside it). */
async function chooseNextState(o: {
  statePath: string;
  local: ClusterState;
  archived: ClusterState | undefined;
}): Promise<{ next: ClusterState; notes: string[] }> {
  const notes: string[] = [];
  let next = o.local;
  if (o.archived) {
    const sameCa =
      lookupCert(o.archived, CA_CERT_NAME)?.certificatePEM === lookupCert(o.local, CA_CERT_NAME)?.certificatePEM;
    if (sameCa) {
      next = mergeLifeboatCerts(o.archived, o.local);
      notes.push(`state file ${o.statePath} replaced by the one from the archive (same CA)`);
    } else {
      const beside = `${o.statePath}.from-snapshot`;
      await writeFileAtomic(beside, JSON.stringify(o.archived, null, 2) + "\n");
      notes.push(
        `the archive's state file belongs to another CA: kept the local one, saved the archive's as ${beside}`,
      );
    }
  }
  return { next, notes };
}

function mergeLifeboatCerts(archived: ClusterState, local: ClusterState): ClusterState {
  const out = structuredClone(archived);
  for (const which of ["desiredState", "currentState"] as const) {
    const localBundle = local[which]?.certificatesBundle ?? {};
    const target = (out[which] ??= {});
    const bundle = (target.certificatesBundle ??= {});
    for (const [name, entry] of Object.entries(localBundle)) {
      if (name.startsWith("lifeboat-") || !(name in bundle)) bundle[name] = entry;
    }
  }
  out.lifeboat = { ...archived.lifeboat, ...local.lifeboat };
  return out;
}
