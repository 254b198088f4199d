/**
 * The agent API's boundary, against an agent built exactly as `startAgent` builds it (real etcd member of a 1-node
 * sandbox, real TLS), served in-process on its own port with its own folders:
 *   - every name on every route goes through the one name rule: a bad one is a 400 naming it, nothing is touched;
 *   - a one-time save that finds a recurring save holding the node waits for it (bounded), telling the CLI so;
 *     a restore session is never waited for;
 *   - every S3 store a request opens (through `openStore`, as the agent does; a directory stands in for the bucket)
 *     is closed when the request ends, and the node's own copies are read through its `LocalStore`.
 */
import assert from "node:assert/strict";
import { routes } from "../src/api/routes.js";
import { once } from "node:events";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import type { Server } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type { z } from "zod";
import { pathOf } from "../src/api/route.js";
import type { SaveEvent, SaveRequest } from "../src/api/snapshots.js";
import { AgentClient } from "../src/agent/client.js";
import { loadAgentConfig, readTls } from "../src/agent/config.js";
import { createAgentServer, InFlight } from "../src/agent/http.js";
import { RecurringAgent } from "../src/schedule/recurring.js";
import { toolsFinder } from "../src/agent/restore-routes.js";
import { agentRouter } from "../src/agent/service.js";
import { cliTls } from "../src/fleet/open.js";
import { VERSION } from "../src/cli/version.js";
import { statePathFor } from "../src/config/cluster.js";
import { readState } from "../src/config/state.js";
import { ExternalMember } from "../src/etcd/member.js";
import { LocalStore } from "../src/store/local.js";
import { openStore } from "../src/store/open.js";
import type { Store } from "../src/store/store.js";
import { UserError } from "../src/util/errors.js";
import { silentLogger } from "../src/util/log.js";
import { startTestSandbox, type TestSandbox } from "./helpers/sandbox.js";

void describe("agent API boundary", () => {
  let sb: TestSandbox;
  let server: Server;
  let client: AgentClient;
  let recurring: RecurringAgent;
  let dirs: { snapshots: string; restore: string; outside: string };
  /** The folders this file made: removed in `after`, as they hold snapshots of the sandbox's member. */
  const made: string[] = [];
  const s3 = { opened: 0, closed: 0 };

  before(async () => {
    sb = await startTestSandbox({ nodes: 1 });
    const node = sb.info.nodes[0]!;
    const base = await mkdtemp(join(tmpdir(), "lifeboat-boundary-"));
    made.push(base);
    dirs = { snapshots: join(base, "snapshots"), restore: join(base, "restore"), outside: base };
    await writeFile(join(base, "sentinel"), "must survive");
    const bucketDir = await mkdtemp(join(tmpdir(), "lifeboat-boundary-bucket-"));
    made.push(bucketDir);
    const bucket = new LocalStore(bucketDir);
    const config = { ...(await loadAgentConfig(node.agentDir)), snapshotDir: dirs.snapshots, restoreDir: dirs.restore };
    const etcd = await sb.etcd(0);
    const local = new LocalStore(config.snapshotDir);
    const common = { local, log: silentLogger, clock: () => new Date(), sleep: (ms: number) => sleep(ms) };
    recurring = new RecurringAgent({
      ...common,
      node: config.node,
      dir: base,
      version: VERSION,
      etcd,
      makeS3: () => local,
    });
    const tls = await readTls(config.dir, config.tls);
    const { router } = agentRouter(
      {
        ...common,
        config,
        etcd,
        version: VERSION,
        member: new ExternalMember({ startCommand: "true", stopCommand: "true", statusCheck: "true" }),
        makeS3: (settings) => openStore(settings, { connect: async () => counted(bucket, s3) }),
        recurring,
        tls,
        tools: toolsFinder(undefined),
      },
      { checkResponses: true },
    );
    server = createAgentServer({ tls, router, log: silentLogger, requests: new InFlight() });
    server.listen(0, node.host);
    await once(server, "listening");
    const port = (server.address() as { port: number }).port;
    const state = await readState(statePathFor(sb.config));
    client = new AgentClient({ endpoint: `${node.host}:${port}`, tls: cliTls(state!) });
  });
  after(async () => {
    client?.close();
    server?.close();
    server?.closeAllConnections();
    await recurring?.stop();
    await sb?.down();
    await Promise.all(made.map((d) => rm(d, { recursive: true, force: true })));
  });

  const save = async (body: z.input<typeof SaveRequest>) => {
    const events: SaveEvent[] = [];
    await client.callStream(routes.saveSnapshot, { body, onEvent: (e) => events.push(e) });
    return events;
  };

  void test("a bad name on any route is a 400 naming it, and nothing outside the folders is touched", async () => {
    const bad = ["../sentinel", "..", "a/b", ".hidden", "-flag", "x".repeat(201), "a\u0000b"];
    const session = { session: "restore-boundary1" };
    for (const name of bad) {
      const params = { name };
      const target = { endpoint: "http://127.0.0.1:1", bucket: "b" };
      const calls: [{ method: string; path: string }, () => Promise<unknown>][] = [
        [routes.preparedFile, () => client.download(routes.preparedFile, params)],
        [routes.deleteSnapshot, () => client.call(routes.deleteSnapshot, { params })],
        [routes.uploadSnapshot, () => client.call(routes.uploadSnapshot, { params, body: { s3: target } })],
        [routes.saveSnapshot, () => save({ name })],
        [routes.openSession, () => client.call(routes.openSession, { body: { ...session, name, purpose: "restore" } })],
        [routes.prepare, () => client.call(routes.prepare, { body: { ...session, name } })],
        [
          routes.fetch,
          () => client.call(routes.fetch, { body: { ...session, name, peer: "127.0.0.1:1", sha256: "a".repeat(64) } }),
        ],
        [routes.finish, () => client.call(routes.finish, { body: { ...session, name } })],
        [routes.verify, () => client.call(routes.verify, { body: { ...session, name } })],
      ];
      // A bare ".." in a URL path is resolved away by URL parsing before any route matches (404, no route).
      const inPath = (route: { path: string }) => route.path.includes(":name");
      for (const [route, call] of calls.filter(([route]) => name !== ".." || !inPath(route))) {
        await assert.rejects(
          call(),
          (err: unknown) => err instanceof UserError && /invalid snapshot name/.test(err.message),
          `${route.method} ${route.path} with ${JSON.stringify(name)}`,
        );
      }
    }
    assert.equal(pathOf(routes.preparedFile, { name: ".." }), "/v1/restore/../file");
    await assert.rejects(client.download(routes.preparedFile, { name: ".." }), /no route \/v1\/file/);
    assert.deepEqual((await readdir(dirs.outside)).sort(), ["sentinel"], "no folder was even created");
  });

  void test("a one-time save waits for a recurring save that holds the node, then runs", async () => {
    const release = recurring.flight.tryAcquire("2026-12-01T10:00:00Z_etcd", "recurring")!;
    const events: SaveEvent[] = [];
    const saving = client.callStream(routes.saveSnapshot, {
      body: { name: "waited" },
      onEvent: (e) => {
        events.push(e);
        if (e.type === "waiting") release();
      },
    });
    await saving;
    assert.deepEqual(events[0], { type: "waiting", for: "2026-12-01T10:00:00Z_etcd" });
    assert.equal(events.at(-1)?.type, "result", JSON.stringify(events.at(-1)));
    assert.ok((await readdir(dirs.snapshots)).includes("waited.zip"));
  });

  void test("the wait is bounded, and a restore or another one-time save is refused at once", async () => {
    const release = recurring.flight.tryAcquire("2026-12-01T11:00:00Z_etcd", "recurring")!;
    try {
      const events = await save({ name: "bounded", waitSeconds: 1 });
      assert.deepEqual(events.at(-1), {
        type: "error",
        error: "2026-12-01T11:00:00Z_etcd still holds etcd-node1 after 1 s",
        kind: "Busy",
      });
    } finally {
      release();
    }
    const session = { session: "restore-boundary2", name: "waited" };
    await client.call(routes.openSession, { body: { ...session, purpose: "restore" } });
    try {
      const started = Date.now();
      await assert.rejects(save({ name: "refused" }), /restore of waited already in progress on etcd-node1/);
      assert.ok(Date.now() - started < 5_000, "refused without waiting");
    } finally {
      await client.call(routes.releaseSession, { body: session });
    }
    assert.equal((await save({ name: "after-release" })).at(-1)?.type, "result");
  });

  void test("every S3 store a request opens is closed when it ends; local copies are read through the store", async () => {
    const settings = { endpoint: "http://127.0.0.1:1", bucket: "b" };
    assert.equal((await save({ name: "closes-s3", s3: settings })).at(-1)?.type, "result");
    assert.deepEqual(s3, { opened: 1, closed: 1 }, "the save's upload store");
    const uploaded = await client.call(routes.uploadSnapshot, {
      params: { name: "closes-s3" },
      body: { s3: settings },
    });
    assert.equal(uploaded.verified, "local-fsync");
    assert.deepEqual(s3, { opened: 2, closed: 2 }, "the upload route's store");
    await assert.rejects(
      client.call(routes.uploadSnapshot, { params: { name: "nowhere" }, body: { s3: settings } }),
      /no snapshot nowhere/,
    );
    assert.deepEqual(s3, { opened: 2, closed: 2 }, "a store never used is never connected");
    const session = { session: "restore-boundary3", name: "closes-s3" };
    await client.call(routes.openSession, { body: { ...session, purpose: "verify" } });
    try {
      const fromS3 = await client.call(routes.prepare, { body: { ...session, s3: settings } });
      assert.match(fromS3.from, /closes-s3\.zip$/);
      assert.deepEqual(s3, { opened: 3, closed: 3 }, "the prepare's download store");
      const fromNode = await client.call(routes.prepare, { body: session });
      assert.equal(fromNode.from, join(dirs.snapshots, "closes-s3.zip"));
    } finally {
      await client.call(routes.releaseSession, { body: session });
    }
  });
});

/** `inner` as the store `openStore` connects to, counting connections and closes in `counts`. */
function counted(inner: Store, counts: { opened: number; closed: number }): Promise<Store> {
  counts.opened++;
  return Promise.resolve({
    kind: "s3",
    location: inner.location,
    check: () => inner.check(),
    put: (key, body, opts) => inner.put(key, body, opts),
    get: (key, opts) => inner.get(key, opts),
    stat: (key) => inner.stat(key),
    list: (prefix) => inner.list(prefix),
    remove: (key) => inner.remove(key),
    close: () => Promise.resolve(void counts.closed++),
  });
}
