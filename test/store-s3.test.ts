/**
 * S3Store against a real S3 API (s3rver on a loopback address, path style, plain http), plus the S3-only rules:
 * error messages, secrets kept out of errors, and upload verification. Where s3rver cannot misbehave on its own
 * (a wrong ETag, an SSE-KMS object, a refused secret, a truncated download) a small loopback server or reverse
 * proxy in front of it produces the real HTTP answer.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { mkdtemp, rm } from "node:fs/promises";
import type { Socket } from "node:net";
import { createServer as createTcpServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { inspect } from "node:util";
import { S3RVER_ACCESS_KEY, startS3Server, type S3Server } from "../src/sandbox/s3server.js";
import { S3Store, type S3Config } from "../src/store/s3.js";
import { ChecksumMismatchError, NotFoundError, RemoteError, UserError, describeError } from "../src/util/errors.js";
import { allocateLoopbackHosts } from "../src/util/net.js";
import { chunked, describeStore, readAll, sha256 } from "./helpers/store-suite.js";

const BUCKET = "lifeboat";
const SECRET = "lifeboat-test-secret-9f3a1c";
const WRONG_ACCESS_KEY = "AKIALIFEBOATWRONGKEY";
const PORTS = [9000, 9001, 9002, 9003];

let host: string;
let s3: S3Server;
let dataDir: string;
let folders = 0;
const stores: S3Store[] = [];
const servers: Server[] = [];

/** A store on the shared server, in a folder of its own; closed after the file. */
function makeS3(overrides: Partial<S3Config> = {}): S3Store {
  const store = new S3Store({
    endpoint: s3.endpoint,
    bucket: BUCKET,
    folder: `runs/${++folders}`,
    accessKey: S3RVER_ACCESS_KEY,
    secretKey: SECRET,
    addressing: "path",
    ...overrides,
  });
  stores.push(store);
  return store;
}

before(async () => {
  [host] = (await allocateLoopbackHosts(1, PORTS)) as [string];
  dataDir = await mkdtemp(join(tmpdir(), "lifeboat-s3-"));
  s3 = await startS3Server({ host, port: PORTS[0], dir: dataDir, buckets: [BUCKET] });
});

after(async () => {
  await Promise.all(stores.map((store) => store.close()));
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  await s3.stop();
  await rm(dataDir, { recursive: true, force: true });
});

// Each case gets a folder of its own on the shared server; the server's directory goes at the end of the file.
describeStore("s3 (s3rver, path style, http, folder)", () =>
  Promise.resolve({ store: makeS3(), cleanup: () => Promise.resolve() }),
);

void describe("S3Store specifics", () => {
  void it("names its location without secrets", () => {
    const store = makeS3({ folder: "//snap//shots/" });
    assert.equal(store.location, `s3://${BUCKET}/snap/shots (${s3.endpoint})`);
    assert.ok(!store.location.includes(SECRET));
  });

  void it("refuses a half-given key pair and endpoints that are not http(s)", () => {
    const base = { endpoint: s3.endpoint, bucket: BUCKET };
    assert.throws(() => new S3Store({ ...base, accessKey: "only-the-key" }), UserError);
    assert.throws(() => new S3Store({ ...base, secretKey: "only-the-secret" }), UserError);
    assert.throws(() => new S3Store({ ...base, endpoint: "ftp://127.0.0.1:21" }), UserError);
  });

  void it("keeps keys under the folder, and lists only that folder", async () => {
    const inFolder = makeS3({ folder: "shared/a" });
    const sibling = makeS3({ folder: "shared/ab" });
    const root = makeS3({ folder: "" });
    await inFolder.put("x.zip", Buffer.from("a"));
    await sibling.put("y.zip", Buffer.from("b"));
    assert.deepEqual(
      (await inFolder.list("")).map((o) => o.key),
      ["x.zip"],
    );
    assert.deepEqual(
      (await root.list("shared/")).map((o) => o.key),
      ["shared/a/x.zip", "shared/ab/y.zip"],
    );
  });

  void it("verifies a multipart upload by its ETag, without reading it back", async () => {
    const store = makeS3();
    const data = randomBytes(17 * 1024 * 1024);
    const result = await store.put("multi.zip", chunked(data, 65536));
    assert.equal(result.verified, "etag-md5");
    const small = await store.put("single.zip", Buffer.from("one part"));
    assert.equal(small.verified, "etag-md5");
    // s3rver reports the whole-body MD5 for multipart objects; the check accepts it because it is one.
    assert.match((await store.stat("multi.zip")).etag ?? "", /^[0-9a-f]{32}$/);
  });

  void it("check() and every call say when the bucket does not exist", async () => {
    const store = makeS3({ bucket: "no-such-bucket" });
    const calls = [
      () => store.check(),
      () => store.put("k", Buffer.from("x")),
      () => store.list(""),
      () => store.get("k"),
    ];
    for (const call of calls) {
      await assert.rejects(call(), (err: unknown) => {
        assert.ok(err instanceof RemoteError);
        assert.equal(err.message, 'bucket "no-such-bucket" does not exist');
        assert.equal(err.transient, false);
        return true;
      });
    }
  });

  void it("says access denied for an access key the server does not know", async () => {
    const store = makeS3({ accessKey: WRONG_ACCESS_KEY });
    const calls = [
      () => store.check(),
      () => store.put("k", Buffer.from("x")),
      () => store.stat("k"),
      () => store.list(""),
    ];
    for (const call of calls) await assert.rejects(call(), accessDenied);
  });

  void it("says access denied when the server refuses the secret (a stand-in answering 403 AccessDenied)", async () => {
    const endpoint = await serve((req, res) => {
      req.resume();
      res.writeHead(403, { "content-type": "application/xml" });
      res.end(req.method === "HEAD" ? undefined : ACCESS_DENIED_XML);
    }, PORTS[1] as number);
    const store = makeS3({ endpoint });
    const calls = [
      () => store.check(),
      () => store.put("k", Buffer.from("x")),
      () => store.get("k"),
      () => store.remove("k"),
    ];
    for (const call of calls) await assert.rejects(call(), accessDenied);
  });

  void it("says it cannot reach a dead endpoint", async () => {
    const [dead] = (await allocateLoopbackHosts(1, [9000])) as [string];
    const store = makeS3({ endpoint: `http://${dead}:9000` });
    await assert.rejects(store.check(), (err: unknown) => {
      assert.ok(err instanceof RemoteError);
      assert.equal(err.message, `cannot reach S3 endpoint http://${dead}:9000 (ECONNREFUSED)`);
      assert.equal(err.transient, true);
      return true;
    });
  });

  void it("gives up on an endpoint that never answers after the request timeout", async (t) => {
    const sockets: Socket[] = [];
    const silent = createTcpServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(PORTS[2], host, resolve));
    t.after(() => {
      for (const s of sockets) s.destroy();
      silent.close();
    });
    const store = makeS3({ endpoint: `http://${host}:${PORTS[2]}`, timeouts: { connectMs: 1000, requestMs: 400 } });
    const started = Date.now();
    await assert.rejects(store.check(), (err: unknown) => {
      assert.ok(err instanceof RemoteError);
      assert.equal(err.message, `S3 endpoint http://${host}:${PORTS[2]} did not answer within 400 ms`);
      assert.equal(err.transient, true);
      return true;
    });
    assert.ok(Date.now() - started < 3000, "the timeout bounds the whole call, retries included");
  });

  void it("never puts credentials in an error, its message chain or its inspected form", async () => {
    const session = "lifeboat-session-token-77e2";
    const seen: unknown[] = [];
    const collect = (p: Promise<unknown>) =>
      p.then(
        () => assert.fail("expected a failure"),
        (e: unknown) => seen.push(e),
      );
    const wrongKey = makeS3({ accessKey: WRONG_ACCESS_KEY, sessionToken: session });
    await collect(wrongKey.check());
    await collect(wrongKey.put("k", Buffer.from("x")));
    await collect(wrongKey.get("k"));
    await collect(makeS3({ bucket: "nope", sessionToken: session }).check());
    const [dead] = (await allocateLoopbackHosts(1, [9000])) as [string];
    await collect(makeS3({ endpoint: `http://${dead}:9000`, sessionToken: session }).stat("k"));
    assert.equal(seen.length, 5);
    for (const err of seen) {
      const text = `${describeError(err)}\n${inspect(err, { depth: 10 })}\n${JSON.stringify(err)}`;
      for (const secret of [SECRET, WRONG_ACCESS_KEY, session]) assert.ok(!text.includes(secret), `leaked in: ${text}`);
    }
  });

  void describe("upload verification through a reverse proxy that alters answers", () => {
    const tamper: Tamper = {};
    let viaProxy: S3Store;
    let direct: S3Store;
    before(async () => {
      const endpoint = await serve(reverseProxy(new URL(s3.endpoint), tamper), PORTS[3] as number);
      viaProxy = makeS3({ endpoint, folder: "tampered" });
      direct = makeS3({ folder: "tampered" });
    });
    const reset = () => Object.assign(tamper, { etag: undefined, kms: false, corruptGet: false, truncateGet: false });

    for (const [what, size] of [
      ["a single-part", 1000],
      ["a multipart", 9 * 1024 * 1024],
    ] as const) {
      void it(`catches a wrong ETag on ${what} upload and deletes the object`, async () => {
        reset();
        tamper.etag = '"0123456789abcdef0123456789abcdef"';
        await assert.rejects(viaProxy.put("bad-etag", randomBytes(size)), (err: unknown) => {
          assert.ok(err instanceof ChecksumMismatchError);
          assert.match(err.message, /ETag is 0123456789abcdef0123456789abcdef .*it was deleted/);
          return true;
        });
        await assert.rejects(direct.stat("bad-etag"), NotFoundError);
      });
    }

    void it("reads back and compares sha256 when the ETag is not an MD5 (SSE-KMS)", async () => {
      reset();
      tamper.kms = true;
      const data = randomBytes(9 * 1024 * 1024);
      const result = await viaProxy.put("kms.zip", data);
      assert.equal(result.verified, "reread");
      assert.equal(sha256(await readAll(direct, "kms.zip")), sha256(data));
    });

    void it("catches different bytes on read-back and deletes the object", async () => {
      reset();
      tamper.kms = true;
      tamper.corruptGet = true;
      await assert.rejects(viaProxy.put("kms-bad.zip", randomBytes(2048)), (err: unknown) => {
        assert.ok(err instanceof ChecksumMismatchError);
        assert.match(err.message, /reading it back gave sha256 .*it was deleted/);
        return true;
      });
      await assert.rejects(direct.stat("kms-bad.zip"), NotFoundError);
    });

    void it("fails a download that stops short instead of ending it early", async () => {
      reset();
      await direct.put("whole.zip", randomBytes(256 * 1024));
      tamper.truncateGet = true;
      const stream = await viaProxy.get("whole.zip");
      await assert.rejects(stream.toArray(), (err: unknown) => {
        assert.ok(err instanceof RemoteError);
        assert.equal(err.transient, true);
        assert.match(err.message, /^download of whole\.zip from .* broke off after \d+ of 262144 bytes$/);
        return true;
      });
    });
  });
});

const ACCESS_DENIED_XML =
  '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>';

function accessDenied(err: unknown): true {
  assert.ok(err instanceof RemoteError, `not a RemoteError: ${describeError(err)}`);
  assert.equal(err.message, "access denied: check access_key/secret_key");
  assert.equal(err.transient, false);
  return true;
}

/** Serves `handler` on the test's loopback host; closed after the file. */
async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void, port: number): Promise<string> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(port, host, resolve));
  server.on("close", () => server.closeAllConnections());
  servers.push(server);
  return `http://${host}:${port}`;
}

interface Tamper {
  /** Replace the ETag of HEAD answers. */
  etag?: string | undefined;
  /** Mark HEAD answers as SSE-KMS objects (whose ETag is no MD5). */
  kms?: boolean;
  /** Flip the first byte of object downloads. */
  corruptGet?: boolean;
  /** Send half of an object download, then cut the connection. */
  truncateGet?: boolean;
}

function reverseProxy(upstream: URL, tamper: Tamper) {
  return (req: IncomingMessage, res: ServerResponse) => {
    const forward = request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        const headers = { ...answer.headers };
        if (req.method === "HEAD" && tamper.etag) headers.etag = tamper.etag;
        if (req.method === "HEAD" && tamper.kms) headers["x-amz-server-side-encryption"] = "aws:kms";
        const objectGet = req.method === "GET" && !req.url?.includes("list-type");
        res.writeHead(answer.statusCode ?? 502, headers);
        if (objectGet && (tamper.corruptGet || tamper.truncateGet)) return void alterBody(answer, res, tamper);
        answer.pipe(res);
      },
    );
    forward.on("error", () => res.destroy());
    req.pipe(forward);
  };
}

function alterBody(answer: IncomingMessage, res: ServerResponse, tamper: Tamper): void {
  const chunks: Buffer[] = [];
  answer.on("data", (c: Buffer) => chunks.push(c));
  answer.on("end", () => {
    const body = Buffer.concat(chunks);
    if (tamper.truncateGet) {
      res.write(body.subarray(0, body.length >> 1), () => res.socket?.destroy());
      return;
    }
    if (body.length > 0) body[0] = (body[0] ?? 0) ^ 0xff;
    res.end(body);
  });
}
