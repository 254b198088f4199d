/**
 * The highest etcd revision known without a running member: every manifest the nodes and S3 hold, and the revisions
 * the state file recorded after earlier restores. It is a lower bound of the lost cluster's revision (the cluster went
 * on writing after its newest snapshot), which the plan only uses when it exceeds etcd's documented default bump.
 */
import type { ClusterConfig } from "../config/cluster.js";
import { listCatalog, type CatalogEntry } from "../snapshot/catalog.js";
import type { OpenCluster } from "./cluster.js";
import type { Located } from "./restore-locate.js";
import { openStore } from "../store/open.js";

export async function knownRevision(
  located: Located,
  cluster: OpenCluster,
  config: ClusterConfig,
): Promise<{ revision: number; from: string } | undefined> {
  const candidates: { revision: number; from: string }[] = [];
  const fromEntries = (entries: readonly CatalogEntry[] | undefined, where: string) => {
    for (const e of entries ?? []) {
      if (e.manifest) candidates.push({ revision: e.manifest.etcd.revision, from: `${where}: ${e.name}` });
    }
  };
  cluster.agents.forEach((a, i) => fromEntries(located.listings[i], `node ${a.node.memberName}`));
  if (config.backup.s3) fromEntries(await s3Entries(config.backup.s3), "s3");
  for (const r of cluster.state.lifeboat?.restores ?? []) {
    const revision = (r as { revision?: unknown }).revision;
    if (typeof revision === "number") candidates.push({ revision, from: `the state file's restore of ${r.at ?? "?"}` });
  }
  return candidates.reduce<{ revision: number; from: string } | undefined>(
    (best, c) => (!best || c.revision > best.revision ? c : best),
    undefined,
  );
}

/** S3's manifests; a listing that fails only means less is known (the default bump still applies). */
async function s3Entries(s3: NonNullable<ClusterConfig["backup"]["s3"]>): Promise<CatalogEntry[] | undefined> {
  const store = openStore(s3);
  try {
    return await listCatalog(store, "s3").catch(() => undefined);
  } finally {
    await store.close();
  }
}
