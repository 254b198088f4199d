/**
 * The agent's mutual-TLS boundary and HTTP edge, against a real agent from a 1-member sandbox: clients without a
 * certificate or with one from another CA are refused in the TLS handshake and never get an HTTP answer; the CLI
 * refuses an agent it cannot verify; a good client gets JSON, and the router's 404/400/405 answers are JSON too.
 */
import assert from "node:assert/strict";
import { routes } from "../src/api/routes.js";
import { readFile } from "node:fs/promises";
import { request } from "node:https";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { AgentClient } from "../src/agent/client.js";
import { cliTls } from "../src/fleet/open.js";
import { VERSION } from "../src/cli/version.js";
import { statePathFor } from "../src/config/cluster.js";
import { readState } from "../src/config/state.js";
import { createCA, issueCertificate, type CertKeyPair } from "../src/pki/pki.js";
import { RemoteError } from "../src/util/errors.js";
import { startTestSandbox, waitFor, type TestSandbox } from "./helpers/sandbox.js";

interface RawOptions {
  method?: string;
  path?: string;
  body?: string;
  client?: CertKeyPair;
  maxVersion?: "TLSv1.2" | "TLSv1.3";
}

type RawResult =
  | { kind: "response"; status: number; contentType: string | undefined; text: string }
  | { kind: "error"; code: string | undefined; message: string };

void describe("agent: mutual TLS and the HTTP edge", () => {
  let sb: TestSandbox;
  let tls: { caPEM: string; certPEM: string; keyPEM: string };
  let endpoint: string;
  let host: string;
  let port: number;
  let agentLog: string;
  let otherCa: CertKeyPair;

  /** One HTTPS request that trusts the cluster CA, with an optional client certificate; never throws. */
  const raw = (o: RawOptions): Promise<RawResult> =>
    new Promise((resolve) => {
      const req = request(
        {
          host,
          port,
          method: o.method ?? "GET",
          path: o.path ?? "/v1/info",
          ca: tls.caPEM,
          agent: false,
          ...(o.client ? { cert: o.client.certificatePEM, key: o.client.keyPEM } : {}),
          ...(o.maxVersion ? { maxVersion: o.maxVersion } : {}),
          headers: o.body === undefined ? {} : { "content-type": "application/json" },
          timeout: 10_000,
        },
        (res) => {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (d: string) => (text += d));
          res.on("end", () =>
            resolve({ kind: "response", status: res.statusCode ?? 0, contentType: res.headers["content-type"], text }),
          );
        },
      );
      req.on("timeout", () => req.destroy(new Error("timed out")));
      req.on("error", (err: NodeJS.ErrnoException) => resolve({ kind: "error", code: err.code, message: err.message }));
      req.end(o.body);
    });

  const good = () => ({ certificatePEM: tls.certPEM, keyPEM: tls.keyPEM });

  before(async () => {
    // Agents inherit the environment of `sandbox up`: debug level makes them log each refused handshake.
    process.env.LIFEBOAT_LOG_LEVEL = "debug";
    sb = await startTestSandbox({ nodes: 1 });
    const state = await readState(statePathFor(sb.config));
    assert.ok(state);
    tls = cliTls(state);
    const node = sb.info.nodes[0];
    assert.ok(node);
    endpoint = `${node.host}:7443`;
    [host, port] = [node.host, 7443];
    agentLog = join(node.agentDir, "agent.log");
    otherCa = await createCA("kube-ca");
  });
  after(async () => {
    delete process.env.LIFEBOAT_LOG_LEVEL;
    await sb?.down();
  });

  void test("a client without a certificate is refused in the handshake (TLS 1.3 and 1.2)", async () => {
    const v13 = await raw({});
    assert.equal(v13.kind, "error");
    assert.equal(v13.kind === "error" && v13.code, "ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED");
    const v12 = await raw({ maxVersion: "TLSv1.2" });
    assert.equal(v12.kind, "error");
    // TLS 1.2 servers answer a missing certificate with a handshake_failure alert (40).
    assert.match(v12.kind === "error" ? v12.message : "", /alert handshake failure/);
    const log = await readFile(agentLog, "utf8");
    assert.match(log, /"msg":"refused TLS client".*peer did not return a certificate/);
  });

  void test("a client certificate from another CA is refused before any request is read", async () => {
    // Same CA name and a CLI-like subject: only the signature tells them apart.
    const intruder = await issueCertificate(otherCa, { commonName: "lifeboat-cli", usage: ["client"] });
    const before = (await readFile(agentLog, "utf8")).length;
    for (const maxVersion of ["TLSv1.3", "TLSv1.2"] as const) {
      const r = await raw({ client: intruder, maxVersion, method: "POST", path: "/v1/member/stop", body: "{}" });
      assert.equal(r.kind, "error", `got an HTTP answer with ${maxVersion}: ${JSON.stringify(r)}`);
      assert.equal(r.kind === "error" && r.code, "ECONNRESET");
    }
    // The agent logs a refusal after it dropped the connection: read the log once both lines had time to land.
    const refused = (text: string) => text.match(/"msg":"refused TLS client"/g)?.length ?? 0;
    let refusals = "";
    await waitFor(
      "both refusals in the agent log",
      async () => refused((refusals = (await readFile(agentLog, "utf8")).slice(before))) >= 2,
      10_000,
    ).catch(() => undefined);
    assert.equal(refused(refusals), 2, refusals);
    assert.doesNotMatch(refusals, /member stop requested/);
    // The member was not stopped by the refused request.
    const client = new AgentClient({ endpoint, tls });
    try {
      assert.equal((await client.call(routes.member)).state, "running");
    } finally {
      client.close();
    }
  });

  void test("the CLI refuses an agent whose certificate is not from the cluster CA", async () => {
    const client = new AgentClient({ endpoint, tls: { ...tls, caPEM: otherCa.certificatePEM } });
    try {
      await assert.rejects(client.call(routes.info), (err: unknown) => {
        assert.ok(err instanceof RemoteError);
        assert.match(err.message, /^TLS handshake with agent .* failed: .*(self-signed|unable to (get|verify))/);
        assert.equal(err.transient, false);
        return true;
      });
    } finally {
      client.close();
    }
  });

  void test("a client with the cluster's CLI certificate gets /v1/info", async () => {
    const client = new AgentClient({ endpoint, tls });
    try {
      const info = await client.call(routes.info);
      assert.deepEqual(info, {
        node: "etcd-node1",
        version: VERSION,
        etcdMode: "managed",
        clientUrl: `https://${host}:2379`,
        snapshotDir: join(sb.dir, "nodes", "node1", "snapshots"),
        saving: null,
        session: null,
      });
    } finally {
      client.close();
    }
  });

  void test("an unknown route is a 404 with a JSON error", async () => {
    const r = await raw({ client: good(), path: "/v1/nope" });
    assert.equal(r.kind, "response");
    if (r.kind !== "response") return;
    assert.equal(r.status, 404);
    assert.equal(r.contentType, "application/json");
    assert.deepEqual(JSON.parse(r.text), { error: "no route /v1/nope", kind: "NotFound" });
  });

  void test("a body that is not JSON, or not the schema, is a 400 that says why", async () => {
    const broken = await raw({ client: good(), method: "POST", path: "/v1/snapshots", body: '{"name": "x",' });
    assert.equal(broken.kind === "response" && broken.status, 400);
    const b = JSON.parse(broken.kind === "response" ? broken.text : "{}") as { error: string; kind: string };
    assert.match(b.error, /^request body is not valid JSON: /);
    assert.equal(b.kind, "HttpError");

    const wrong = await raw({ client: good(), method: "POST", path: "/v1/snapshots", body: '{"name": 5}' });
    assert.equal(wrong.kind === "response" && wrong.status, 400);
    const w = JSON.parse(wrong.kind === "response" ? wrong.text : "{}") as { error: string };
    assert.match(w.error, /^invalid request: name: .*string/);

    const upload = await raw({ client: good(), method: "POST", path: "/v1/snapshots/x/upload", body: "{}" });
    assert.equal(upload.kind === "response" && upload.status, 400);
    assert.match(upload.kind === "response" ? upload.text : "", /invalid request: s3: /);
  });

  void test("a known route with the wrong method is a 405 and does nothing", async () => {
    const r = await raw({ client: good(), method: "GET", path: "/v1/member/stop" });
    assert.equal(r.kind === "response" && r.status, 405);
    assert.deepEqual(JSON.parse(r.kind === "response" ? r.text : "{}"), {
      error: "GET not allowed on /v1/member/stop",
      kind: "Method",
    });
    const d = await raw({ client: good(), method: "DELETE", path: "/v1/info" });
    assert.equal(d.kind === "response" && d.status, 405);
    const member = await raw({ client: good(), path: "/v1/member" });
    assert.equal(member.kind === "response" && (JSON.parse(member.text) as { state: string }).state, "running");
  });
});
