/**
 * Where a restore (or verify) takes its snapshot from: S3 first (exact key) unless --local or --from-node, otherwise,
 * or when S3 has no copy, the first node in cluster.yml order that holds one. Absent, broken and unreachable are three
 * different answers: only "absent" moves on to the next place; a broken copy or a failing S3 stops the command with
 * what was found where, before anything is touched.
 */
import type { ClusterConfig } from "../config/cluster.js";
import type { RestoreSource } from "../restore/plan.js";
import { findCopy, type CatalogEntry } from "../snapshot/catalog.js";
import type { Manifest } from "../snapshot/manifest.js";
import { ChecksumMismatchError, describeError, RemoteError, UserError } from "../util/errors.js";
import type { OpenCluster } from "./cluster.js";
import { openStore } from "../store/open.js";
import type { S3Settings } from "../config/s3-settings.js";
import { s3Location } from "../store/s3-location.js";

export interface LocateOptions {
  local?: boolean | undefined;
  fromNode?: string | undefined;
}

export interface Located {
  source: RestoreSource;
  manifest?: Manifest;
  s3?: S3Settings;
  /** Every node's listing (undefined where the agent did not answer), for what else is known (revisions). */
  listings: (CatalogEntry[] | undefined)[];
}

type Finding = { where: string; entry?: CatalogEntry; error?: string };

export async function locate(
  name: string,
  cluster: OpenCluster,
  config: ClusterConfig,
  options: LocateOptions,
  note: (line: string) => void,
): Promise<Located> {
  const listings = await Promise.all(
    cluster.agents.map(({ client }) =>
      client.json<{ snapshots: CatalogEntry[] }>("GET", "/v1/snapshots").then(
        (l) => l.snapshots,
        () => undefined,
      ),
    ),
  );
  const nodes: Finding[] = cluster.agents.map(({ node }, i) => {
    const listing = listings[i];
    const where = `node ${node.memberName}`;
    if (!listing) return { where, error: "its agent did not answer" };
    const entry = listing.find((s) => s.name === name);
    return entry ? { where, entry } : { where };
  });
  if (options.fromNode) return fromNode(name, options.fromNode, cluster, nodes, listings);
  const s3 = config.backup.s3;
  if (s3 && !options.local) {
    const found = await s3Copy(name, s3);
    if (found?.status === "broken") refuseBroken(name, { where: s3Location(s3), entry: found }, nodes, "--local");
    if (found) {
      const source: RestoreSource = { kind: "s3", location: s3Location(s3), key: found.key };
      return { source, s3, listings, ...(found.manifest ? { manifest: found.manifest } : {}) };
    }
    note(`snapshot [${name}] is not in ${s3Location(s3)}: looking for it on the nodes`);
  }
  const first = nodes.findIndex((f) => f.entry);
  if (first < 0) return notFound(name, config, options, nodes);
  const chosen = nodes[first]!;
  if (chosen.entry?.status === "broken") refuseBroken(name, chosen, nodes.slice(first + 1), "--from-node NAME");
  return fromEntry(cluster, first, chosen.entry!, listings);
}

async function s3Copy(name: string, s3: NonNullable<ClusterConfig["backup"]["s3"]>) {
  const store = openStore(s3);
  try {
    return await findCopy(store, name, "s3");
  } catch (err) {
    throw new RemoteError(
      `cannot look up snapshot [${name}] in ${s3Location(s3)}: ${describeError(err)}; the running cluster is untouched (use --local to restore a node's copy instead)`,
      false,
      { cause: err },
    );
  } finally {
    await store.close();
  }
}

function fromNode(
  name: string,
  member: string,
  cluster: OpenCluster,
  nodes: Finding[],
  listings: Located["listings"],
): Located {
  const index = cluster.agents.findIndex((a) => a.node.memberName === member);
  if (index < 0) throw new UserError(`--from-node: ${member} is not an etcd node in cluster.yml`);
  const finding = nodes[index]!;
  if (!finding.entry) {
    throw new UserError(`snapshot [${name}] is not on ${finding.where}${finding.error ? ` (${finding.error})` : ""}`);
  }
  if (finding.entry.status === "broken") refuseBroken(name, finding, [], "");
  return fromEntry(cluster, index, finding.entry, listings);
}

function fromEntry(cluster: OpenCluster, index: number, entry: CatalogEntry, listings: Located["listings"]): Located {
  const source: RestoreSource = { kind: "node", node: cluster.agents[index]!.node.memberName, key: entry.key };
  return { source, listings, ...(entry.manifest ? { manifest: entry.manifest } : {}) };
}

/** Broken is not absent: the integrity check would be off. Say which copy, why, and how to pick another on purpose. */
function refuseBroken(name: string, broken: Finding, others: Finding[], flag: string): never {
  const good = others.filter((f) => f.entry && f.entry.status !== "broken").map((f) => f.where);
  const hint =
    good.length && flag ? `; to restore another copy deliberately use ${flag} (good copies: ${good.join(", ")})` : "";
  throw new ChecksumMismatchError(
    `the copy of snapshot [${name}] in ${broken.where} is broken (${broken.entry?.reason ?? "unknown"}): refusing to restore it, the running cluster is untouched${hint}`,
  );
}

function notFound(name: string, config: ClusterConfig, options: LocateOptions, nodes: Finding[]): never {
  const looked = [
    ...(config.backup.s3 && !options.local ? [`${s3Location(config.backup.s3)}: no copy`] : []),
    ...nodes.map((f) => `${f.where}: ${f.error ?? "no copy"}`),
  ];
  throw new UserError(`snapshot [${name}] was not found (${looked.join("; ")})`);
}
