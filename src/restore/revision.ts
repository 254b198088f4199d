/**
 * The highest etcd revision known without a running member: every manifest the nodes and S3 hold, and the revisions
 * the state file recorded after earlier restores. It is a lower bound of the lost cluster's revision (the cluster went
 * on writing after its newest snapshot), which the plan only uses when it exceeds etcd's documented default bump.
 */
import type { ClusterState } from "../config/state.js";
import { listCatalog, type CatalogEntry } from "../snapshot/catalog.js";
import type { S3Source } from "./fleet.js";
import type { Located } from "./locate.js";

export async function knownRevision(
  located: Located,
  known: { nodes: readonly string[]; s3?: S3Source | undefined; state: ClusterState },
): Promise<{ revision: number; from: string } | undefined> {
  const candidates: { revision: number; from: string }[] = [];
  const fromEntries = (entries: readonly CatalogEntry[] | undefined, where: string) => {
    for (const e of entries ?? []) {
      if (e.manifest) candidates.push({ revision: e.manifest.etcd.revision, from: `${where}: ${e.name}` });
    }
  };
  known.nodes.forEach((node, i) => fromEntries(located.listings[i], `node ${node}`));
  if (known.s3) fromEntries(await s3Entries(known.s3), "s3");
  for (const r of known.state.lifeboat?.restores ?? []) {
    const revision = (r as { revision?: unknown }).revision;
    if (typeof revision === "number") candidates.push({ revision, from: `the state file's restore of ${r.at ?? "?"}` });
  }
  return candidates.reduce<{ revision: number; from: string } | undefined>(
    (best, c) => (!best || c.revision > best.revision ? c : best),
    undefined,
  );
}

/** S3's manifests; a listing that fails only means less is known (the default bump still applies). */
async function s3Entries(s3: S3Source): Promise<CatalogEntry[] | undefined> {
  const store = s3.open();
  try {
    return await listCatalog(store, "s3").catch(() => undefined);
  } finally {
    await store.close();
  }
}
