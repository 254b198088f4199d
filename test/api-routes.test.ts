/**
 * The route table (src/api/routes.ts) is the one list of the agent's routes: docs/design.md's "Agent API" table names
 * exactly its routes with the same callers, and the router the agent is built with serves exactly those routes (a
 * real agent of a 1-member sandbox answers each of them). Then both ends of the contract: an answer that does not
 * match its schema is a clear, non-transient error on the client (and, when the agent checks its answers, a 500
 * naming the field), and a bad body or path parameter is a 400 naming it before any handler runs.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import { readFile } from "node:fs/promises";
import type { Server } from "node:https";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { AgentClient } from "../src/agent/client.js";
import { loadAgentConfig, readTls } from "../src/agent/config.js";
import { createAgentServer, InFlight, Router, type RouteInfo } from "../src/agent/http.js";
import { toolsFinder } from "../src/agent/restore-routes.js";
import { agentRouter } from "../src/agent/service.js";
import { routeName, type AnyRoute } from "../src/api/route.js";
import { routes } from "../src/api/routes.js";
import { cliTls } from "../src/fleet/open.js";
import { VERSION } from "../src/cli/version.js";
import { statePathFor } from "../src/config/cluster.js";
import { readState } from "../src/config/state.js";
import { ExternalMember } from "../src/etcd/member.js";
import { RecurringAgent } from "../src/schedule/recurring.js";
import { LocalStore } from "../src/store/local.js";
import { RemoteError, UserError } from "../src/util/errors.js";
import { silentLogger } from "../src/util/log.js";
import { startTestSandbox, type TestSandbox } from "./helpers/sandbox.js";

const DESIGN = new URL("../../docs/design.md", import.meta.url);

/** "METHOD path" -> sorted callers, for a list of routes. */
function byName(list: readonly Pick<RouteInfo, "method" | "path" | "access">[]): Map<string, string[]> {
  return new Map(list.map((r) => [routeName(r), [...r.access.allow].sort()]));
}

const table = byName(Object.values(routes));

/** The rows of the "Agent API" section's route table: "METHOD path" -> sorted callers. */
async function documented(): Promise<Map<string, string[]>> {
  const text = await readFile(DESIGN, "utf8");
  const section = text.slice(
    text.indexOf("\n## Agent API\n"),
    text.indexOf("\n## ", text.indexOf("\n## Agent API\n") + 1),
  );
  const header = section.indexOf("| Method and path | Who may call | What it does |");
  assert.ok(header >= 0, "the Agent API section has its route table");
  const rows = section.slice(header).split("\n").slice(2);
  const out = new Map<string, string[]>();
  for (const row of rows) {
    if (!row.startsWith("|")) break;
    const [, route, callers] = row.split("|").map((cell) => cell.trim());
    const name = /^`([A-Z]+ \S+)`$/.exec(route ?? "")?.[1];
    assert.ok(name, `one route per row, as \`METHOD path\`: ${row.slice(0, 80)}`);
    assert.ok(!out.has(name), `${name} is listed once`);
    out.set(
      name,
      (callers ?? "")
        .split(",")
        .map((c) => c.trim())
        .sort(),
    );
  }
  return out;
}

void test("the route table has one entry per method and path, each path parameter with its schema", () => {
  const entries = Object.values(routes) as AnyRoute[];
  assert.equal(table.size, entries.length);
  for (const route of entries) {
    const keys = [...route.path.matchAll(/:(\w+)/g)].map((m) => m[1]);
    assert.deepEqual(Object.keys(route.params).sort(), keys.sort(), routeName(route));
    assert.ok(route.access.allow.length > 0, `${routeName(route)} names who may call it`);
  }
});

void test("docs/design.md's Agent API table names exactly the routes of the table, with the same callers", async () => {
  assert.deepEqual(
    [...(await documented())].sort(([a], [b]) => a.localeCompare(b)),
    [...table].sort(([a], [b]) => a.localeCompare(b)),
  );
});

void describe("the agent and the route table", () => {
  let sb: TestSandbox;
  let host: string;
  let agentPort: number;
  let served: RouteInfo[];
  let tls: Awaited<ReturnType<typeof readTls>>;
  let cli: ReturnType<typeof cliTls>;
  const servers: Server[] = [];
  let recurring: RecurringAgent;

  before(async () => {
    sb = await startTestSandbox({ nodes: 1 });
    const node = sb.info.nodes[0]!;
    host = node.host;
    const config = await loadAgentConfig(node.agentDir);
    agentPort = Number(config.listen.split(":").at(-1));
    tls = await readTls(config.dir, config.tls);
    const state = await readState(statePathFor(sb.config));
    cli = cliTls(state!);
    const etcd = await sb.etcd(0);
    const local = new LocalStore(config.snapshotDir);
    const common = { local, log: silentLogger, clock: () => new Date(), sleep: (ms: number) => sleep(ms) };
    recurring = new RecurringAgent({
      ...common,
      node: config.node,
      dir: config.dir,
      version: VERSION,
      etcd,
      makeS3: () => local,
    });
    // Built the way startAgent builds it; nothing here runs a handler.
    const { router } = agentRouter({
      ...common,
      config,
      etcd,
      version: VERSION,
      member: new ExternalMember({ startCommand: "false", stopCommand: "false", statusCheck: "false" }),
      makeS3: () => local,
      recurring,
      tls,
      tools: toolsFinder(undefined),
    });
    served = router.routes();
  });
  after(async () => {
    for (const server of servers) {
      server.close();
      server.closeAllConnections();
    }
    await recurring?.stop();
    await sb?.down();
  });

  /** Serves `router` on a free port of the sandbox's host; resolves with a CLI client for it. */
  async function serve(router: Router): Promise<AgentClient> {
    const server = createAgentServer({ tls, router, log: silentLogger, requests: new InFlight() });
    servers.push(server);
    server.listen(0, host);
    await once(server, "listening");
    const { port } = server.address() as { port: number };
    return new AgentClient({ endpoint: `${host}:${port}`, tls: cli });
  }

  void test("the agent's router serves exactly the routes of the table, with the same callers", () => {
    assert.deepEqual(
      [...byName(served)].sort(([a], [b]) => a.localeCompare(b)),
      [...table].sort(([a], [b]) => a.localeCompare(b)),
    );
  });

  void test("the running agent serves every route of the table (none is an unknown route or method)", async () => {
    const client = new AgentClient({ endpoint: `${host}:${agentPort}`, tls: cli });
    const absent = /no prepared snapshot api-routes-absent/;
    try {
      for (const route of Object.values(routes) as AnyRoute[]) {
        const params = Object.fromEntries(Object.keys(route.params).map((k) => [k, "api-routes-absent"]));
        const label = routeName(route);
        if (route.reply.kind === "raw" || route.reply.kind === "text") {
          // The prepared file of a snapshot that is not being restored: the route is there, the file is not.
          const opened = client.download(route as typeof routes.metrics, params);
          await opened.then((d) => d.body.resume()).catch((err: unknown) => assert.match(String(err), absent, label));
        } else if (route.request) {
          // An empty body: every body schema has a required field, so the route answers 400 and changes nothing (the
          // events route too: the 400 comes before any event).
          const call = client.call(route as typeof routes.prune, { params, body: {} } as never);
          await assert.rejects(
            call,
            (err: unknown) => err instanceof UserError && /invalid request/.test(err.message),
            label,
          );
        } else if (route.method === "GET" || route.method === "DELETE") {
          // Read-only, or the removal of a copy that does not exist.
          await client.call(route as typeof routes.info, { params } as never).catch((err: unknown) => {
            assert.match(String(err), absent, label);
          });
        } else {
          // Starting and stopping the member: agent-authz.test.ts calls these on a running agent.
          assert.ok(["POST /v1/member/start", "POST /v1/member/stop"].includes(label), label);
        }
      }
    } finally {
      client.close();
    }
  });

  void test("an answer that does not match its schema is a non-transient RemoteError naming the agent, route and field", async () => {
    const router = new Router()
      .route(routes.member, async () => ({ node: "n1", mode: "managed", state: "exploded" }) as never)
      .route(routes.saveSnapshot, async ({ emit }) => {
        emit({ type: "progress", bytes: 1 });
        emit({ type: "progress", bytes: "many" } as never);
      });
    const client = await serve(router);
    try {
      await assert.rejects(client.call(routes.member), (err: unknown) => {
        assert.ok(err instanceof RemoteError, String(err));
        assert.equal(err.transient, false);
        assert.match(err.message, new RegExp(`^agent ${client.endpoint}: GET /v1/member: the answer does not match`));
        assert.match(err.message, /state: /);
        return true;
      });
      const events: unknown[] = [];
      const streamed = client.callStream(routes.saveSnapshot, { body: { name: "x" }, onEvent: (e) => events.push(e) });
      await assert.rejects(streamed, (err: unknown) => {
        assert.ok(err instanceof RemoteError, String(err));
        assert.equal(err.transient, false);
        assert.match(err.message, /POST \/v1\/snapshots: the answer does not match the API: bytes: /);
        return true;
      });
      assert.deepEqual(events, [{ type: "progress", bytes: 1 }], "the good line before it was given");
    } finally {
      client.close();
    }
  });

  void test("an agent that checks its answers refuses to send a field its schema does not name", async () => {
    const router = new Router({ checkResponses: true }).route(routes.member, async () => {
      const answer = { node: "n1", mode: "managed" as const, state: "running" as const, secret: "x" };
      return answer;
    });
    const client = await serve(router);
    try {
      await assert.rejects(client.call(routes.member), (err: unknown) => {
        assert.ok(err instanceof RemoteError, String(err));
        assert.match(
          err.message,
          /GET \/v1\/member: the answer does not match the API: secret: sent but not in the schema/,
        );
        return true;
      });
    } finally {
      client.close();
    }
  });

  void test("a bad body or path parameter is a 400 naming it, and the handler never runs", async () => {
    let ran = 0;
    const router = new Router()
      .route(routes.pushLineage, async () => ({ node: "n1", updated: ran++ > 0 }))
      .route(routes.deleteSnapshot, async () => ({ node: "n1", removed: [String(ran++)] }));
    const client = await serve(router);
    try {
      const bad = client.call(routes.pushLineage, { body: { lineage: ["ok", 7] } as never });
      await assert.rejects(bad, (err: unknown) => {
        assert.ok(err instanceof UserError, String(err));
        assert.match(err.message, /: invalid request: lineage\.1: /);
        return true;
      });
      await assert.rejects(client.call(routes.deleteSnapshot, { params: { name: "../etc" } }), (err: unknown) => {
        assert.ok(err instanceof UserError, String(err));
        assert.match(err.message, /: snapshot name: invalid snapshot name "\.\.\/etc"/);
        return true;
      });
      assert.equal(ran, 0);
      assert.deepEqual(await client.call(routes.pushLineage, { body: { lineage: ["ok"] } }), {
        node: "n1",
        updated: false,
      });
    } finally {
      client.close();
    }
  });
});
