/**
 * Do backups work? Every node's status as its agent reports it (schedule, last success and failure, next run,
 * snapshots kept), and the same for S3, listed by the CLI itself.
 */
import type { S3Settings } from "../config/s3-settings.js";
import type { NodeStatus } from "../api/schedule.js";
import { createdOf, listCatalog } from "../snapshot/catalog.js";
import { s3Location } from "../store/s3-location.js";
import { describeError, ExitCode } from "../util/errors.js";
import type { Fleet, OpenStore } from "./fleet.js";

export interface S3Status {
  location: string;
  count: number;
  bytes: number;
  broken: number;
  lastSuccess: { name: string; createdAt: string } | null;
  /** The newest failed upload any node reported. */
  lastFailure: { name: string; node: string; at: string; reason: string } | null;
  error?: string;
}

export interface StatusReport {
  nodes: (NodeStatus | { node: string; error: string })[];
  s3: S3Status | null;
  exitCode: number;
}

/** Every node's status and S3's; exit code 3 when a node or S3 did not answer. */
export async function fleetStatus(
  fleet: Pick<Fleet, "nodes">,
  s3: S3Settings | undefined,
  openStore: OpenStore,
): Promise<StatusReport> {
  const nodes = await Promise.all(
    fleet.nodes.map((n) =>
      n.status().catch((err: unknown) => ({ node: n.node.memberName, error: describeError(err) })),
    ),
  );
  const s3Report = s3 ? await s3Status(s3, nodes, openStore) : null;
  const unreachable = nodes.some((n) => "error" in n) || s3Report?.error !== undefined;
  return { nodes, s3: s3Report, exitCode: unreachable ? ExitCode.partial : ExitCode.ok };
}

async function s3Status(target: S3Settings, nodes: StatusReport["nodes"], openStore: OpenStore): Promise<S3Status> {
  const location = s3Location(target);
  const lastFailure = newestUploadFailure(nodes);
  const store = openStore(target);
  try {
    const entries = await listCatalog(store, "s3");
    const good = entries.filter((e) => e.status === "ok");
    const newest = good.at(-1);
    return {
      location,
      count: good.length,
      bytes: good.reduce((sum, e) => sum + e.size, 0),
      broken: entries.filter((e) => e.status === "broken").length,
      lastSuccess: newest ? { name: newest.name, createdAt: createdOf(newest) } : null,
      lastFailure,
    };
  } catch (err) {
    return { location, count: 0, bytes: 0, broken: 0, lastSuccess: null, lastFailure, error: describeError(err) };
  } finally {
    await store.close();
  }
}

function newestUploadFailure(nodes: StatusReport["nodes"]): S3Status["lastFailure"] {
  let out: S3Status["lastFailure"] = null;
  for (const n of nodes) {
    if ("error" in n) continue;
    const f = n.lastFailure;
    if (f?.upload?.result !== "failed") continue;
    if (!out || f.finishedAt > out.at)
      out = { name: f.name, node: n.node, at: f.finishedAt, reason: f.upload.reason ?? "" };
  }
  return out;
}
