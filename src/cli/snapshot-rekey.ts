/**
 * `lifeboat etcd snapshot-rekey [NAME...] [--identity FILE] [--dry-run]`: re-encrypts the S3 copies to the current
 * `lifeboat.encryption.recipients` (src/snapshot/rekey.ts), one copy at a time, manifest last, so that a leaked or
 * retired key no longer opens any of them. Encrypted copies are read with the configured identity and any
 * `--identity` files (the old key, during a rotation). Exit 0 when every copy is done, 3 when some failed, 1 when all.
 */
import { withBreakGlass } from "../config/encryption.js";
import { applyS3Flags, type S3Flags } from "../config/cluster.js";
import { loadClusterConfig } from "../config/cluster.js";
import { loadIdentities, type LoadedIdentities } from "../crypto/age.js";
import { listCatalog } from "../snapshot/catalog.js";
import { planRekey, rekeyCopy, type RekeyDecision } from "../snapshot/rekey.js";
import { describeError, ExitCode, exitCodeOfFailures, IdentityError, UserError } from "../util/errors.js";
import type { CliDeps } from "./deps.js";
import { table } from "./output.js";

export interface RekeyCommandOptions extends S3Flags {
  config: string;
  identity?: string[];
  dryRun?: boolean;
}

export interface RekeyReport {
  dryRun: boolean;
  location: string;
  copies: (RekeyDecision & { result?: "done" | "failed"; error?: string })[];
  exitCode: number;
}

export async function runSnapshotRekey(
  names: string[],
  options: RekeyCommandOptions,
  deps: CliDeps,
): Promise<RekeyReport> {
  const config = await withBreakGlass(await applyS3Flags((await loadClusterConfig(options.config)).config, options));
  const encryption = config.lifeboat.encryption;
  if (!encryption)
    throw new UserError("lifeboat.encryption is not set in cluster.yml: there are no recipients to rekey to");
  const s3 = config.backup.s3;
  if (!s3) throw new UserError("no S3 target: set backup_config.s3backupconfig or the --s3 flags");
  const store = deps.openStore(s3);
  try {
    const entries = (await listCatalog(store, "s3")).filter((e) => names.length === 0 || names.includes(e.name));
    const missing = names.filter((n) => !entries.some((e) => e.name === n));
    if (missing.length) throw new UserError(`not in ${store.location}: ${missing.join(", ")}`);
    const plan = planRekey(entries, encryption.recipients);
    const report: RekeyReport = {
      dryRun: options.dryRun === true,
      location: store.location,
      copies: plan,
      exitCode: 0,
    };
    const todo = plan.filter((d) => d.action === "rekey");
    if (!report.dryRun && todo.length) {
      const identities = await identitiesFor(encryption.identity, options.identity ?? []);
      let failed = 0;
      let unopened = 0;
      for (const [i, decision] of todo.entries()) {
        deps.out.progressLine(`rekey ${i + 1}/${todo.length}: ${decision.name}`);
        const manifest = entries.find((e) => e.name === decision.name)!.manifest!;
        try {
          await rekeyCopy(store, manifest, encryption.recipients, identities);
          Object.assign(decision, { result: "done" });
        } catch (err) {
          failed++;
          if (err instanceof IdentityError) unopened++;
          Object.assign(decision, { result: "failed", error: describeError(err) });
        }
      }
      // Every failure an identity that opens nothing: the same exit 4 as a restore that cannot open the copy.
      report.exitCode = failed && failed === unopened ? ExitCode.integrity : exitCodeOfFailures(failed, todo.length);
    }
    print(report, deps);
    deps.setExitCode(report.exitCode);
    return report;
  } finally {
    await store.close();
  }
}

/** The configured identity and every --identity file, together; none at all is fine until a copy needs one. */
async function identitiesFor(
  configured: Parameters<typeof loadIdentities>[0] | undefined,
  files: readonly string[],
): Promise<LoadedIdentities | undefined> {
  const sources = [...(configured ? [configured] : []), ...files.map((file) => ({ file }))];
  if (sources.length === 0) return undefined;
  const loaded = await Promise.all(sources.map((s) => loadIdentities(s)));
  return {
    identities: loaded.flatMap((l) => l.identities),
    fingerprints: loaded.flatMap((l) => l.fingerprints),
    where: loaded.map((l) => l.where).join(" and "),
  };
}

function print(report: RekeyReport, deps: Pick<CliDeps, "out">): void {
  const rows = report.copies.map((c) => [
    c.name,
    c.result ?? (c.action === "rekey" && report.dryRun ? "would rekey" : c.action),
    c.error ?? c.reason,
  ]);
  deps.out.line(table(["NAME", "ACTION", "REASON"], rows));
  if (report.dryRun) deps.out.line("dry run: nothing was changed");
  deps.out.result(report);
}
