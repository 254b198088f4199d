/**
 * Authorization by identity on the agent API. Every certificate from the cluster CA passes mutual TLS, and RKE's CA
 * signs every node's and kubelet's certificate: so each route names who may call it. Against a real agent from a
 * 1-member sandbox, every registered route (enumerated from the router the agent is built with, so a new route is
 * covered without touching this file) is called with each kind of certificate: forbidden ones get a JSON 403 and the
 * handler does not run; allowed ones never get a 403.
 */
import assert from "node:assert/strict";
import { routes as api } from "../src/api/routes.js";
import { X509Certificate } from "node:crypto";
import { readFile } from "node:fs/promises";
import { request } from "node:https";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type { SaveEvent } from "../src/api/snapshots.js";
import { callerOf, type Caller } from "../src/agent/authz.js";
import { AgentClient } from "../src/agent/client.js";
import { loadAgentConfig, readTls } from "../src/agent/config.js";
import type { RouteInfo } from "../src/agent/http.js";
import { RecurringAgent } from "../src/schedule/recurring.js";
import { toolsFinder } from "../src/agent/restore-routes.js";
import { agentRouter } from "../src/agent/service.js";
import { cliTls } from "../src/fleet/open.js";
import { VERSION } from "../src/cli/version.js";
import { statePathFor } from "../src/config/cluster.js";
import { agentCertName, CA_CERT_NAME, lookupCert, readState } from "../src/config/state.js";
import { ExternalMember } from "../src/etcd/member.js";
import { issueCertificate, type CertKeyPair, type CertUsage } from "../src/pki/pki.js";
import { LocalStore } from "../src/store/local.js";
import { RemoteError } from "../src/util/errors.js";
import { silentLogger } from "../src/util/log.js";
import { startTestSandbox, type TestSandbox } from "./helpers/sandbox.js";

const CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";
const SERVER_AUTH = "1.3.6.1.5.5.7.3.1";

void describe("authz: the identity a client certificate carries", () => {
  const cert = (CN: unknown, ext_key_usage?: string[]) =>
    ({ subject: { CN }, ...(ext_key_usage ? { ext_key_usage } : {}) }) as Parameters<typeof callerOf>[0];
  const cases: [string, unknown, string[] | undefined, Caller | undefined][] = [
    ["the CLI", "lifeboat-cli", [CLIENT_AUTH], "cli"],
    ["the CLI without an EKU extension", "lifeboat-cli", undefined, "cli"],
    ["an agent", "lifeboat-agent-etcd-cp1", [SERVER_AUTH, CLIENT_AUTH], "agent"],
    ["a metrics scraper", "lifeboat-metrics", [CLIENT_AUTH], "metrics"],
    ["RKE's kube-node", "system:node", [SERVER_AUTH, CLIENT_AUTH], undefined],
    ["RKE's kube-etcd", "kube-etcd", [SERVER_AUTH, CLIENT_AUTH], undefined],
    ["a suffix is not the CLI", "lifeboat-cli-evil", [CLIENT_AUTH], undefined],
    ["a prefix is not the CLI", "xlifeboat-cli", [CLIENT_AUTH], undefined],
    ["names are case-sensitive", "Lifeboat-CLI", [CLIENT_AUTH], undefined],
    ["an agent name needs a member", "lifeboat-agent-", [CLIENT_AUTH], undefined],
    ["the agent prefix must start the name", "x-lifeboat-agent-etcd-cp1", [CLIENT_AUTH], undefined],
    ["a server-only certificate is no client", "lifeboat-cli", [SERVER_AUTH], undefined],
    ["any-usage EKU counts as client", "lifeboat-cli", ["2.5.29.37.0"], "cli"],
    ["several common names are none", ["lifeboat-cli", "system:node"], [CLIENT_AUTH], undefined],
    ["no common name", undefined, [CLIENT_AUTH], undefined],
  ];
  for (const [what, cn, eku, want] of cases) {
    void test(what, () => assert.equal(callerOf(cert(cn, eku)), want));
  }
  void test("no certificate", () => assert.equal(callerOf(undefined), undefined));
});

interface Identity {
  label: string;
  pair: CertKeyPair;
  /** What the identity is meant to be; written here, not derived from the code under test. */
  caller: Caller | undefined;
}

type Answer = { status: number; text: string };

/** The routes any identity other than the CLI may call: anything not listed here must be CLI only. */
const OPEN_BEYOND_CLI: Record<string, Caller[]> = {
  "GET /v1/restore/:name/file": ["cli", "agent"],
  "GET /metrics": ["cli", "metrics"],
};

void describe("authz: every agent route, with every kind of certificate", () => {
  let sb: TestSandbox;
  let host: string;
  let caPEM: string;
  let cli: CertKeyPair;
  let ca: CertKeyPair;
  let routes: RouteInfo[];
  let identities: Identity[];
  let agentLog: string;
  let snapshotDir: string;

  /**
   * One HTTPS request with `pair` as the client certificate. `withhold` announces a body and never sends it: only a
   * server that answers without reading the body can reply.
   */
  const call = (pair: CertKeyPair, method: string, path: string, body?: string, withhold = false): Promise<Answer> =>
    new Promise((resolve, reject) => {
      const req = request(
        {
          host,
          port: 7443,
          method,
          path,
          ca: caPEM,
          cert: pair.certificatePEM,
          key: pair.keyPEM,
          agent: false,
          headers: withhold ? { "content-type": "application/json", "content-length": 4096 } : {},
        },
        (res) => {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (d: string) => (text += d));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
        },
      );
      req.setTimeout(withhold ? 10_000 : 30_000, () => req.destroy(new Error(`${method} ${path}: no answer`)));
      req.on("error", reject);
      if (withhold) req.flushHeaders();
      else req.end(body);
    });

  const identity = (label: string): CertKeyPair => {
    const found = identities.find((i) => i.label === label);
    assert.ok(found, label);
    return found.pair;
  };

  /** Runs `fn` with an AgentClient holding `pair` (the CLI's by default), closing it afterwards. */
  async function withClient<T>(fn: (client: AgentClient) => Promise<T>, pair = cli): Promise<T> {
    const tls = { caPEM, certPEM: pair.certificatePEM, keyPEM: pair.keyPEM };
    const client = new AgentClient({ endpoint: `${host}:7443`, tls });
    try {
      return await fn(client);
    } finally {
      client.close();
    }
  }

  /** A concrete path for a route pattern; `:name` becomes `name`. */
  const pathOf = (route: RouteInfo, name: string) => route.path.replace(/:\w+/g, encodeURIComponent(name));
  const key = (route: RouteInfo) => `${route.method} ${route.path}`;

  /** The router the agent process serves, built the way startAgent builds it (nothing here runs a handler). */
  async function agentRoutes(agentDir: string): Promise<RouteInfo[]> {
    const config = await loadAgentConfig(agentDir);
    const etcd = await sb.etcd(0);
    const local = new LocalStore(config.snapshotDir);
    const common = {
      local,
      log: silentLogger,
      clock: () => new Date(),
      sleep: (ms: number) => sleep(ms),
      version: VERSION,
    };
    const recurring = new RecurringAgent({ ...common, node: config.node, dir: config.dir, etcd, makeS3: () => local });
    const member = new ExternalMember({ startCommand: "false", stopCommand: "false", statusCheck: "false" });
    const tls = await readTls(config.dir, config.tls);
    const router = agentRouter({
      ...common,
      config,
      etcd,
      member,
      makeS3: () => local,
      recurring,
      tls,
      tools: toolsFinder(undefined),
    });
    return router.router.routes();
  }

  async function saveSnapshot(name: string): Promise<void> {
    const events: SaveEvent[] = [];
    await withClient((c) => c.callStream(api.saveSnapshot, { body: { name }, onEvent: (e) => events.push(e) }));
    assert.equal(events.at(-1)?.type, "result", JSON.stringify(events.at(-1)));
  }

  async function certClient(): Promise<CertKeyPair> {
    const out = join(sb.dir, "metrics-client");
    const run = await sb.cli(["cert", "client", "-c", sb.config, "--out", out]);
    assert.equal(run.code, 0, run.stderr);
    const [certificatePEM, keyPEM] = await Promise.all(
      ["lifeboat-metrics.pem", "lifeboat-metrics-key.pem"].map((f) => readFile(join(out, f), "utf8")),
    );
    return { certificatePEM: certificatePEM!, keyPEM: keyPEM! };
  }

  before(async () => {
    sb = await startTestSandbox({ nodes: 1 });
    const state = await readState(statePathFor(sb.config));
    assert.ok(state);
    const node = sb.info.nodes[0];
    assert.ok(node);
    host = node.host;
    agentLog = join(node.agentDir, "agent.log");
    const tls = cliTls(state);
    caPEM = tls.caPEM;
    cli = { certificatePEM: tls.certPEM, keyPEM: tls.keyPEM };
    const caEntry = lookupCert(state, CA_CERT_NAME);
    const agentEntry = lookupCert(state, agentCertName("etcd-node1"));
    assert.ok(caEntry?.keyPEM && agentEntry?.keyPEM);
    ca = { certificatePEM: caEntry.certificatePEM, keyPEM: caEntry.keyPEM };
    const issue = (commonName: string, usage: CertUsage[] = ["client"]) => issueCertificate(ca, { commonName, usage });
    identities = [
      { label: "cli", pair: cli, caller: "cli" },
      {
        label: "agent",
        pair: { certificatePEM: agentEntry.certificatePEM, keyPEM: agentEntry.keyPEM },
        caller: "agent",
      },
      // The metrics identity as an operator gets it: from `lifeboat cert client`.
      { label: "metrics", pair: await certClient(), caller: "metrics" },
      { label: "kube-node", pair: await issue("system:node", ["client", "server"]), caller: undefined },
      { label: "kube-apiserver", pair: await issue("kube-apiserver", ["client", "server"]), caller: undefined },
      { label: "suffix", pair: await issue("lifeboat-cli-evil"), caller: undefined },
      { label: "prefix", pair: await issue("xlifeboat-cli"), caller: undefined },
      { label: "empty member", pair: await issue("lifeboat-agent-"), caller: undefined },
    ];
    routes = await agentRoutes(node.agentDir);
    snapshotDir = (await loadAgentConfig(node.agentDir)).snapshotDir;
    await saveSnapshot("authz-keep");
  });
  after(async () => {
    await sb?.down();
  });

  void test("the route table: both optional groups are there, and only the listed routes are open beyond the CLI", () => {
    const keys = routes.map(key);
    for (const k of [
      "DELETE /v1/snapshots/:name",
      "POST /v1/restore/apply",
      "PUT /v1/schedule",
      ...Object.keys(OPEN_BEYOND_CLI),
    ])
      assert.ok(keys.includes(k), `${k} is registered`);
    for (const route of routes) {
      assert.deepEqual([...route.access.allow].sort(), (OPEN_BEYOND_CLI[key(route)] ?? ["cli"]).sort(), key(route));
    }
  });

  void test("forbidden identities get a JSON 403 naming them and the route, and no handler runs", async () => {
    const logBefore = (await readFile(agentLog, "utf8")).length;
    let refused = 0;
    for (const id of identities) {
      for (const route of routes) {
        if (id.caller && route.access.allow.includes(id.caller)) continue;
        const path = pathOf(route, "authz-keep");
        // A body that a handler would accept, so nothing but the identity check stands in the way.
        const body = route.method === "POST" || route.method === "PUT" ? '{"name":"authz-keep"}' : undefined;
        const r = await call(id.pair, route.method, path, body);
        assert.equal(r.status, 403, `${id.label} ${route.method} ${path}: ${r.text}`);
        const answer = JSON.parse(r.text) as { error: string; kind: string };
        assert.equal(answer.kind, "Forbidden");
        const cn = new X509Certificate(id.pair.certificatePEM).subject.replace(/^CN=/, "");
        assert.ok(answer.error.includes(`"${cn}"`), answer.error);
        assert.ok(answer.error.includes(`${route.method} ${path}`), answer.error);
        refused++;
      }
    }
    assert.ok(refused > routes.length * 5, `refused ${refused} calls`);
    // Nothing happened: the snapshot survives the DELETEs, the member the stops, and no handler logged a thing.
    const after = (await readFile(agentLog, "utf8")).slice(logBefore);
    assert.equal(after.match(/"msg":"refused request"/g)?.length, refused);
    assert.doesNotMatch(after, /member stop requested|restore rolled back|snapshot failed/);
    assert.ok((await readFile(join(snapshotDir, "authz-keep.zip"))).length > 0);
    await withClient(async (client) => {
      const list = await client.call(api.listSnapshots);
      assert.ok(list.snapshots.some((s) => s.name === "authz-keep"));
      assert.equal((await client.call(api.member)).state, "running");
    });
  });

  void test("the 403 comes before the body is read: a request whose body never arrives is refused at once", async () => {
    const r = await call(identity("kube-node"), "PUT", "/v1/schedule", undefined, true);
    assert.equal(r.status, 403);
    assert.match(r.text, /"kind":"Forbidden"/);
  });

  void test("a certificate named lifeboat-cli but for server authentication only never gets an answer", async () => {
    const serverOnly = await issueCertificate(ca, { commonName: "lifeboat-cli", usage: ["server"] });
    await assert.rejects(call(serverOnly, "DELETE", "/v1/snapshots/authz-keep"), { code: "ECONNRESET" });
    assert.ok((await readFile(join(snapshotDir, "authz-keep.zip"))).length > 0);
  });

  void test("a peer agent fetches a prepared snapshot; a scraper reads /metrics; neither may do more", async () => {
    const [agent, metrics] = [identity("agent"), identity("metrics")];
    const session = { session: "restore-authz0001", name: "authz-keep" };
    await withClient((c) => c.call(api.openSession, { body: { ...session, purpose: "verify" } }));
    await withClient((c) => c.call(api.prepare, { body: session }));
    try {
      const file = await call(agent, "GET", "/v1/restore/authz-keep/file");
      assert.equal(file.status, 200);
      assert.ok(file.text.length > 0);
      const scrape = await call(metrics, "GET", "/metrics");
      assert.equal(scrape.status, 200);
      assert.match(scrape.text, /^lifeboat_/m);
      assert.equal((await call(agent, "GET", "/metrics")).status, 403);
      assert.equal((await call(metrics, "GET", "/v1/restore/authz-keep/file")).status, 403);
    } finally {
      await withClient((c) => c.call(api.releaseSession, { body: session }));
    }
  });

  void test("the CLI is never refused, on any route", async () => {
    for (const route of routes) {
      const path = pathOf(route, "authz-absent");
      // A body that is not JSON: handlers that read one stop at a 400 instead of doing anything.
      const body = route.method === "POST" || route.method === "PUT" ? "{" : undefined;
      const r = await call(cli, route.method, path, body);
      assert.notEqual(r.status, 403, `${route.method} ${path}: ${r.text}`);
      assert.ok(![404, 405].includes(r.status) || !/"kind":"(NotFound|Method)"/.test(r.text), r.text);
    }
    // The body-less member/stop and rollback did stop the member: start it again.
    const started = await withClient((c) => c.call(api.startMember));
    assert.equal(started.state, "running");
  });

  void test("the CLI side: a 403 is a RemoteError that names the certificate and is not retried", async () => {
    const refused = withClient(
      (c) => c.call(api.deleteSnapshot, { params: { name: "authz-keep" } }),
      identity("kube-node"),
    );
    await assert.rejects(refused, (err: unknown) => {
      assert.ok(err instanceof RemoteError);
      assert.equal(err.transient, false);
      const message =
        'client certificate "system:node" may not call DELETE /v1/snapshots/authz-keep (allowed: lifeboat-cli)';
      assert.equal(err.message, `agent ${host}:7443: ${message}`);
      return true;
    });
  });
});
