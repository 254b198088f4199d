/** Every copy on every node (through its agent) and in S3 (listed by the CLI itself), from manifests. */
import type { S3Settings } from "../config/s3-settings.js";
import { createdOf, listCatalog, type CatalogEntry } from "../snapshot/catalog.js";
import { describeError } from "../util/errors.js";
import type { Fleet, OpenStore } from "./fleet.js";
import { logSummary, type LogSummary } from "../pitr/summary.js";

export interface ListReport {
  snapshots: CatalogEntry[];
  /** The revision log's chains in S3, with their windows; null without S3 or when S3 holds none. */
  log: LogSummary | null;
  errors: { location: string; error: string }[];
}

/** The merged catalog, oldest first; a location that cannot be listed is an entry of `errors`, not a failure. */
export async function collectCatalog(
  fleet: Pick<Fleet, "nodes">,
  s3: S3Settings | undefined,
  openStore: OpenStore,
  now = new Date(),
): Promise<ListReport> {
  const errors: ListReport["errors"] = [];
  let log: LogSummary | null = null;
  const perNode = fleet.nodes.map(async (n) => {
    try {
      return await n.listSnapshots();
    } catch (err) {
      errors.push({ location: `node:${n.node.memberName}`, error: describeError(err) });
      return [];
    }
  });
  const remote = s3
    ? (async () => {
        const store = openStore(s3);
        try {
          const [entries, summary] = await Promise.all([listCatalog(store, "s3"), logSummary(store, now)]);
          if (summary.chains.length) log = summary;
          return entries;
        } catch (err) {
          errors.push({ location: "s3", error: describeError(err) });
          return [];
        } finally {
          await store.close();
        }
      })()
    : Promise.resolve([]);
  const all = (await Promise.all([...perNode, remote])).flat();
  return { snapshots: all.sort((a, b) => createdOf(a).localeCompare(createdOf(b))), log, errors };
}
