/** `lifeboat etcd snapshot-list`: every copy on every node and in S3, from manifests. */
import { applyS3Flags, type S3Flags } from "../config/cluster.js";
import { routes } from "../api/routes.js";
import { createdOf, listCatalog, type CatalogEntry } from "../snapshot/catalog.js";
import { describeError, ExitCode } from "../util/errors.js";
import type { CliDeps } from "./deps.js";
import { openCluster } from "./cluster.js";
import { formatBytes, table } from "./output.js";
import { openStore } from "../store/open.js";

export interface ListReport {
  snapshots: CatalogEntry[];
  errors: { location: string; error: string }[];
}

export async function collectCatalog(options: { config: string } & S3Flags, deps: CliDeps): Promise<ListReport> {
  const cluster = await openCluster(options.config, deps.out);
  try {
    const config = await applyS3Flags(cluster.config, options);
    const errors: ListReport["errors"] = [];
    const perNode = cluster.agents.map(async ({ node, client }) => {
      try {
        return (await client.call(routes.listSnapshots)).snapshots;
      } catch (err) {
        errors.push({ location: `node:${node.memberName}`, error: describeError(err) });
        return [];
      }
    });
    const s3 = config.backup.s3;
    const remote = s3
      ? (async () => {
          const store = openStore(s3);
          try {
            return await listCatalog(store, "s3");
          } catch (err) {
            errors.push({ location: "s3", error: describeError(err) });
            return [];
          } finally {
            await store.close();
          }
        })()
      : Promise.resolve([]);
    const all = (await Promise.all([...perNode, remote])).flat();
    return { snapshots: all.sort((a, b) => createdOf(a).localeCompare(createdOf(b))), errors };
  } finally {
    cluster.close();
  }
}

export async function runSnapshotList(options: { config: string } & S3Flags, deps: CliDeps): Promise<ListReport> {
  const report = await collectCatalog(options, deps);
  deps.out.line(
    table(
      ["NAME", "LOCATION", "CREATED", "REVISION", "SIZE", "CHECKSUM"],
      report.snapshots.map((s) => [
        s.name,
        s.location,
        createdOf(s),
        s.manifest ? String(s.manifest.etcd.revision) : "-",
        formatBytes(s.size),
        s.status === "ok"
          ? `ok sha256:${s.manifest?.snapshot.sha256.slice(0, 12) ?? ""}`
          : `${s.status}${s.reason ? ` (${s.reason})` : ""}`,
      ]),
    ),
  );
  for (const e of report.errors) deps.out.note(`warning: cannot list ${e.location}: ${e.error}`);
  deps.out.result(report);
  if (report.errors.length) deps.setExitCode(ExitCode.partial);
  return report;
}
