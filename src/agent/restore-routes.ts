/**
 * The agent's restore routes (docs/design.md "Restore", src/restore/README.md): the session check
 * (src/agent/restore-session.ts) around the node steps in src/restore/ (source.ts, steps.ts). Names, ids and
 * bodies are parsed by the route table's schemas (src/api/restore.ts) before a handler runs, and every path is
 * proven to stay in its folder.
 */
import { routes } from "../api/routes.js";
import type { Contents } from "../snapshot/manifest.js";
import { findEtcdTools, type EtcdTools } from "../etcd/binaries.js";
import { supportsBumpRevision } from "../etcd/restore-tool.js";
import { exists, latestRestoredRecord, readRollbackRecord, retireRollbackRecord } from "../restore/node.js";
import { RestoreProgressTracker } from "../restore/progress.js";
import type { ServedFiles } from "../restore/served.js";
import { checkIdentity, prepare } from "../restore/source.js";
import {
  apply,
  fetchFromPeer,
  removeRestoreFiles,
  rollback,
  runHooks,
  verifyPrepared,
  type PeerDownload,
  type VerifiedFiles,
} from "../restore/steps.js";
import { closing } from "../store/open.js";
import { describeError, NotFoundError } from "../util/errors.js";
import { AgentClient } from "./client.js";
import type { AgentDeps } from "./deps.js";
import { HttpError, type Router, type TlsFiles } from "./http.js";
import type { RestoreSessions } from "./restore-session.js";

export interface RestoreRouteDeps extends AgentDeps {
  sessions: RestoreSessions;
  /** What this node serves its peers in the open session, released when the session ends (service.ts). */
  served: ServedFiles;
  /** The snapshot files verified in the open session (cleared when it ends). */
  verified: VerifiedFiles;
}

export function registerRestoreRoutes(router: Router, routeDeps: RestoreRouteDeps): void {
  // One tracker per agent: the node steps count into it, GET /v1/restore/progress shows the open session's phases.
  const progress = new RestoreProgressTracker(() => routeDeps.clock().getTime());
  const deps = { ...routeDeps, progress };
  const { config, sessions } = deps;
  const { node, restoreDir } = config;
  router.route(routes.openSession, async ({ body }) => {
    // A rollback holds the node exactly as a restore does.
    const purpose = body.purpose === "verify" ? "verify" : "restore";
    const opened = await sessions.open(body.session, body.name, purpose);
    progress.begin(opened.id);
    return { node, ...opened };
  });

  router.route(routes.releaseSession, async ({ body }) => ({
    node,
    released: await sessions.close(body.session, "released by the CLI"),
  }));

  router.route(routes.prepare, async ({ body }) =>
    sessions.step(body.session, body.name, () =>
      closing(body.s3 ? deps.makeS3(body.s3) : undefined, (s3) =>
        prepare(body.name, s3, body.identity, deps, body.replay, (file) =>
          deps.served.offer(body.session, body.name, file),
        ).catch((err: unknown) => {
          deps.served.fail(body.session, body.name, err instanceof Error ? err : new Error(String(err)));
          throw err;
        }),
      ),
    ),
  );

  router.route(routes.checkIdentity, async ({ body }) =>
    closing(body.s3 ? deps.makeS3(body.s3) : undefined, (s3) => checkIdentity(body.name, s3, body.identity, deps)),
  );

  // What this node serves in the open session, and nothing else: the archive as it arrives here (its size is known
  // once it is whole), or the snapshot a point's replay built.
  router.route(routes.preparedFile, async ({ params }) => {
    const session = sessions.current;
    if (session?.name !== params.name) throw new NotFoundError(`no prepared snapshot ${params.name} on ${node}`);
    const file = await deps.served.take(session.id, params.name);
    return { body: file.reader(), ...(file.committed ? { size: file.size } : {}) };
  });

  router.route(routes.fetch, async ({ body }) =>
    sessions.step(body.session, body.name, () => fetchFromPeer(body, peerDownload(deps.tls), deps)),
  );

  router.route(routes.restoreProgress, async () => ({ node, ...progress.view(sessions.current?.id) }));

  router.route(routes.preflight, async () => {
    const tools = await deps.tools();
    const restored = await latestRestoredRecord(restoreDir);
    return {
      node,
      mode: deps.member.mode,
      member: await deps.member.state(),
      tool: tools.etcdutl ? ("etcdutl" as const) : ("etcdctl" as const),
      toolVersion: tools.version,
      memberVersion: await memberVersion(deps),
      supportsBumpRevision: await supportsBumpRevision(tools),
      dataDir: config.etcd.dataDir,
      dataDirExists: await exists(config.etcd.dataDir),
      pendingRollback: (await readRollbackRecord(restoreDir)) ?? null,
      lastRestored: restored
        ? { ...restored, oldDataDirExists: restored.oldDataDir ? await exists(restored.oldDataDir) : false }
        : null,
      session: sessions.current ?? null,
    };
  });

  router.route(routes.apply, async ({ body }) =>
    sessions.step(body.session, body.name, async () => {
      const state = await deps.member.state();
      if (state !== "stopped")
        throw new HttpError(409, `member ${node} is ${state}; stop it before applying a restore`);
      return apply(body, deps);
    }),
  );

  router.route(routes.rollback, async ({ body }) => {
    if (sessions.current?.id !== body.session) throw new HttpError(409, `no open session ${body.session} on ${node}`);
    return { node, ...(await rollback(body.stamp, deps)) };
  });

  router.route(routes.finish, async ({ body }) => {
    sessions.require(body.session, body.name);
    const hooks = await runHooks(config.postRestore, deps);
    await retireRollbackRecord(restoreDir);
    deps.verified.clear();
    await deps.served.releaseAll("the restore finished");
    await removeRestoreFiles(deps, "the restore finished");
    return { node, hooks };
  });

  router.route(routes.verify, async ({ body }) => ({
    node,
    ...(await sessions.step(body.session, body.name, () => recordedVerify(body.name, body.expected, deps))),
  }));
}

/** A verify whose outcome goes to the run history (snapshot-status's "last verified restore", the metrics). */
async function recordedVerify(name: string, expected: Contents | null | undefined, deps: RestoreRouteDeps) {
  const startedAt = deps.clock();
  try {
    const report = await verifyPrepared(name, expected, deps);
    const outcome = report.ok
      ? { ok: true as const, revision: report.revision, keys: report.keys }
      : { ok: false as const, reason: report.reason ?? "the restored member did not match the snapshot" };
    await deps.recurring.observeVerify(name, "one-time", startedAt, outcome);
    return report;
  } catch (err) {
    // A snapshot that was never prepared is the caller's mistake, not a verify that failed.
    if (!(err instanceof NotFoundError))
      await deps.recurring.observeVerify(name, "one-time", startedAt, { ok: false, reason: describeError(err) });
    throw err;
  }
}

/** The member's version from its own status; null when it does not answer (a stopped member is no error here). */
async function memberVersion(deps: Pick<AgentDeps, "etcd">): Promise<string | null> {
  try {
    return (await deps.etcd.status()).version || null;
  } catch {
    return null;
  }
}

/** Opens a peer agent's prepared file with this agent's own certificate. */
function peerDownload(tls: TlsFiles): PeerDownload {
  return async (peer, name) => {
    const client = new AgentClient({ endpoint: peer, tls, timeoutMs: 60_000 });
    try {
      const download = await client.download(routes.preparedFile, { name });
      return { body: download.body, size: download.size, close: () => client.close() };
    } catch (err) {
      client.close();
      throw err;
    }
  };
}

/** Finds the etcd tools once: the configured tools_dir alone, else the search in src/etcd/binaries.ts. */
export function toolsFinder(toolsDir: string | undefined): () => Promise<EtcdTools> {
  let found: Promise<EtcdTools> | undefined;
  return () => (found ??= findEtcdTools(toolsDir ? { dir: toolsDir } : {}));
}

/** Logs a session that ran out (the CLI died or was cut off): its files are removed, the flight given back. */
export function sessionExpired(deps: Pick<AgentDeps, "log">) {
  return (info: { id: string; name: string; purpose: string }) =>
    deps.log.warn("restore session expired: the CLI stopped renewing it; its files are removed", {
      session: info.id,
      name: info.name,
      purpose: info.purpose,
    });
}
