/**
 * Where a restore (or verify) takes its snapshot from: S3 first (exact key) unless --local or --from-node, otherwise,
 * or when S3 has no copy, the first node in cluster.yml order that holds one. Absent, broken and unreachable are three
 * different answers: only "absent" moves on to the next place; a broken copy or a failing S3 stops the command with
 * what was found where, before anything is touched.
 */
import { findCopy, type CatalogEntry } from "../snapshot/catalog.js";
import type { Manifest } from "../snapshot/manifest.js";
import { ChecksumMismatchError, describeError, RemoteError, UserError } from "../util/errors.js";
import type { RestoreAgent, S3Source } from "./fleet.js";
import type { RestoreSource } from "./plan.js";

export interface LocateOptions {
  local?: boolean | undefined;
  fromNode?: string | undefined;
}

export interface Located {
  source: RestoreSource;
  manifest?: Manifest;
  /** Every node's listing (undefined where the agent did not answer), for what else is known (revisions). */
  listings: (CatalogEntry[] | undefined)[];
}

type Finding = { where: string; entry?: CatalogEntry; error?: string };

/** `s3` is undefined when no S3 is configured. */
export async function locate(
  name: string,
  where: { agents: readonly Pick<RestoreAgent, "name" | "listSnapshots">[]; s3?: S3Source | undefined },
  options: LocateOptions,
  note: (line: string) => void,
): Promise<Located> {
  const { agents, s3 } = where;
  const listings = await Promise.all(agents.map((a) => a.listSnapshots().catch(() => undefined)));
  const nodes: Finding[] = agents.map((agent, i) => {
    const listing = listings[i];
    const where = `node ${agent.name}`;
    if (!listing) return { where, error: "its agent did not answer" };
    const entry = listing.find((s) => s.name === name);
    return entry ? { where, entry } : { where };
  });
  const names = agents.map((a) => a.name);
  if (options.fromNode) return fromNode(name, options.fromNode, names, nodes, listings);
  const useS3 = s3 && !options.local ? s3 : undefined;
  if (useS3) {
    const found = await s3Copy(name, useS3);
    if (found?.status === "broken") refuseBroken(name, { where: useS3.location, entry: found }, nodes, "--local");
    if (found) {
      const source: RestoreSource = { kind: "s3", location: useS3.location, key: found.key };
      return { source, listings, ...(found.manifest ? { manifest: found.manifest } : {}) };
    }
    note(`snapshot [${name}] is not in ${useS3.location}: looking for it on the nodes`);
  }
  const first = nodes.findIndex((f) => f.entry);
  if (first < 0) return notFound(name, useS3, nodes);
  const chosen = nodes[first]!;
  if (chosen.entry?.status === "broken") refuseBroken(name, chosen, nodes.slice(first + 1), "--from-node NAME");
  return fromEntry(names[first]!, chosen.entry!, listings);
}

async function s3Copy(name: string, s3: S3Source) {
  const store = s3.open();
  try {
    return await findCopy(store, name, "s3");
  } catch (err) {
    throw new RemoteError(
      `cannot look up snapshot [${name}] in ${s3.location}: ${describeError(err)}; the running cluster is untouched (use --local to restore a node's copy instead)`,
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
  names: readonly string[],
  nodes: Finding[],
  listings: Located["listings"],
): Located {
  const index = names.indexOf(member);
  if (index < 0) throw new UserError(`--from-node: ${member} is not an etcd node in cluster.yml`);
  const finding = nodes[index]!;
  if (!finding.entry) {
    throw new UserError(`snapshot [${name}] is not on ${finding.where}${finding.error ? ` (${finding.error})` : ""}`);
  }
  if (finding.entry.status === "broken") refuseBroken(name, finding, [], "");
  return fromEntry(member, finding.entry, listings);
}

function fromEntry(node: string, entry: CatalogEntry, listings: Located["listings"]): Located {
  const source: RestoreSource = { kind: "node", node, key: entry.key };
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

function notFound(name: string, s3: S3Source | undefined, nodes: Finding[]): never {
  const looked = [
    ...(s3 ? [`${s3.location}: no copy`] : []),
    ...nodes.map((f) => `${f.where}: ${f.error ?? "no copy"}`),
  ];
  throw new UserError(`snapshot [${name}] was not found (${looked.join("; ")})`);
}
