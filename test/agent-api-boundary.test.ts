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
import { once } from "node:events";
import { mkdtemp, readdir, writeFile } from "node:fs/promises";
import type { Server } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type { SaveEvent } from "../src/agent/api.js";
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
  const s3 = { opened: 0, closed: 0 };

  before(async () => {
    sb = await startTestSandbox({ nodes: 1 });
    const node = sb.info.nodes[0]!;
    const base = await mkdtemp(join(tmpdir(), "lifeboat-boundary-"));
    dirs = { snapshots: join(base, "snapshots"), restore: join(base, "restore"), outside: base };
    await writeFile(join(base, "sentinel"), "must survive");
    const bucket = new LocalStore(await mkdtemp(join(tmpdir(), "lifeboat-boundary-bucket-")));
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
    const { router } = agentRouter({
      ...common,
      config,
      etcd,
      version: VERSION,
      member: new ExternalMember({ startCommand: "true", stopCommand: "true", statusCheck: "true" }),
      makeS3: (settings) => openStore(settings, { connect: async () => counted(bucket, s3) }),
      recurring,
      restore: { tls, tools: toolsFinder(undefined) },
    });
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
  });

  const save = async (body: Record<string, unknown>) => {
    const events: SaveEvent[] = [];
    await client.stream("POST", "/v1/snapshots", body, (e) => events.push(e as SaveEvent));
    return events;
  };

  void test("a bad name on any route is a 400 naming it, and nothing outside the folders is touched", async () => {
    const bad = ["../sentinel", "..", "a/b", ".hidden", "-flag", "x".repeat(201), "a\u0000b"];
    const session = { session: "restore-boundary1" };
    for (const name of bad) {
      const enc = encodeURIComponent(name);
      const calls: [string, string, unknown][] = [
        ["GET", `/v1/restore/${enc}/file`, undefined],
        ["GET", `/v1/restore/${enc}/digest`, undefined],
        ["DELETE", `/v1/snapshots/${enc}`, undefined],
        ["POST", `/v1/snapshots/${enc}/upload`, { s3: { endpoint: "http://127.0.0.1:1", bucket: "b" } }],
        ["POST", "/v1/snapshots", { name }],
        ["POST", "/v1/restore/session", { ...session, name, purpose: "restore" }],
        ["POST", "/v1/restore/prepare", { ...session, name }],
        ["POST", "/v1/restore/fetch", { ...session, name, peer: "127.0.0.1:1", sha256: "a".repeat(64) }],
        ["POST", "/v1/restore/finish", { ...session, name }],
        ["POST", "/v1/restore/verify", { ...session, name }],
      ];
      // A bare ".." in a URL path is resolved away by URL parsing before any route matches (404, no route).
      for (const [method, path, body] of calls.filter(([, p]) => name !== ".." || !p.split("/").includes(enc))) {
        await assert.rejects(
          method === "POST" && path === "/v1/snapshots"
            ? save(body as Record<string, unknown>)
            : client.json(method, path, body),
          (err: unknown) => err instanceof UserError && /invalid snapshot name/.test(err.message),
          `${method} ${path} with ${JSON.stringify(name)}`,
        );
      }
    }
    await assert.rejects(client.json("GET", "/v1/restore/../file"), /no route \/v1\/file/);
    assert.deepEqual((await readdir(dirs.outside)).sort(), ["sentinel"], "no folder was even created");
  });

  void test("a one-time save waits for a recurring save that holds the node, then runs", async () => {
    const release = recurring.flight.tryAcquire("2026-12-01T10:00:00Z_etcd", "recurring")!;
    const events: SaveEvent[] = [];
    const saving = client.stream("POST", "/v1/snapshots", { name: "waited" }, (e) => {
      events.push(e as SaveEvent);
      if ((e as SaveEvent).type === "waiting") release();
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
    await client.json("POST", "/v1/restore/session", { ...session, purpose: "restore" });
    try {
      const started = Date.now();
      await assert.rejects(save({ name: "refused" }), /restore of waited already in progress on etcd-node1/);
      assert.ok(Date.now() - started < 5_000, "refused without waiting");
    } finally {
      await client.json("POST", "/v1/restore/session/release", session);
    }
    assert.equal((await save({ name: "after-release" })).at(-1)?.type, "result");
  });

  void test("every S3 store a request opens is closed when it ends; local copies are read through the store", async () => {
    const settings = { endpoint: "http://127.0.0.1:1", bucket: "b" };
    assert.equal((await save({ name: "closes-s3", s3: settings })).at(-1)?.type, "result");
    assert.deepEqual(s3, { opened: 1, closed: 1 }, "the save's upload store");
    const uploaded = await client.json<{ verified: string }>("POST", "/v1/snapshots/closes-s3/upload", {
      s3: settings,
    });
    assert.equal(uploaded.verified, "local-fsync");
    assert.deepEqual(s3, { opened: 2, closed: 2 }, "the upload route's store");
    await assert.rejects(client.json("POST", "/v1/snapshots/nowhere/upload", { s3: settings }), /no snapshot nowhere/);
    assert.deepEqual(s3, { opened: 2, closed: 2 }, "a store never used is never connected");
    const session = { session: "restore-boundary3", name: "closes-s3" };
    await client.json("POST", "/v1/restore/session", { ...session, purpose: "verify" });
    try {
      const fromS3 = await client.json<{ from: string }>("POST", "/v1/restore/prepare", { ...session, s3: settings });
      assert.match(fromS3.from, /closes-s3\.zip$/);
      assert.deepEqual(s3, { opened: 3, closed: 3 }, "the prepare's download store");
      const fromNode = await client.json<{ from: string }>("POST", "/v1/restore/prepare", session);
      assert.equal(fromNode.from, join(dirs.snapshots, "closes-s3.zip"));
    } finally {
      await client.json("POST", "/v1/restore/session/release", session);
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
