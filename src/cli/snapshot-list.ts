/** `lifeboat etcd snapshot-list`: every copy on every node and in S3, from manifests (src/fleet/catalog.ts). */
import { applyS3Flags, type S3Flags } from "../config/cluster.js";
import { collectCatalog, type ListReport } from "../fleet/catalog.js";
import { createdOf } from "../snapshot/catalog.js";
import { ExitCode } from "../util/errors.js";
import type { CliDeps } from "./deps.js";
import { describeChains } from "../pitr/summary.js";
import { formatBytes, table } from "./output.js";

export async function runSnapshotList(options: { config: string } & S3Flags, deps: CliDeps): Promise<ListReport> {
  const fleet = await deps.openFleet(options.config, deps.out);
  let report: ListReport;
  try {
    const config = await applyS3Flags(fleet.config, options);
    report = await collectCatalog(fleet, config.backup.s3, deps.openStore, deps.clock());
  } finally {
    fleet.close();
  }
  deps.out.line(
    table(
      ["NAME", "LOCATION", "CREATED", "REVISION", "SIZE", "ENCRYPTED", "CHECKSUM"],
      report.snapshots.map((s) => [
        s.name,
        s.location,
        createdOf(s),
        s.manifest ? String(s.manifest.etcd.revision) : "-",
        formatBytes(s.size),
        s.manifest?.encryption ? `age (${s.manifest.encryption.recipients.join(", ")})` : "-",
        s.status === "ok"
          ? `ok sha256:${s.manifest?.snapshot.sha256.slice(0, 12) ?? ""}`
          : `${s.status}${s.reason ? ` (${s.reason})` : ""}`,
      ]),
    ),
  );
  if (report.log) for (const line of describeChains(report.log)) deps.out.line(line);
  if (report.snapshots.some((s) => s.manifest?.encryption)) {
    deps.out.note("note: encrypted copies (.zip.age) can be restored by Lifeboat only: RKE cannot read them");
  }
  for (const e of report.errors) deps.out.note(`warning: cannot list ${e.location}: ${e.error}`);
  deps.out.result(report);
  if (report.errors.length) deps.setExitCode(ExitCode.partial);
  return report;
}
