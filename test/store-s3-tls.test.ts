/**
 * S3Store over https: s3rver serving a certificate from a CA made in the test (ECDSA P-256), trusted through
 * `customCaPem`; the conformance suite once more, the "check custom_ca" message, and a CONNECT proxy in between.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type IncomingMessage } from "node:http";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { createCA, issueCertificate, type CertKeyPair } from "../src/pki/pki.js";
import { S3RVER_ACCESS_KEY, startS3Server, type S3Server } from "../src/sandbox/s3server.js";
import { S3Store, type S3Config } from "../src/store/s3.js";
import { RemoteError } from "../src/util/errors.js";
import { allocateLoopbackHosts } from "../src/util/net.js";
import { describeStore, readAll } from "./helpers/store-suite.js";

const BUCKET = "lifeboat-tls";
const PORTS = [9443, 9444];

let host: string;
let ca: CertKeyPair;
let s3: S3Server;
let dataDir: string;
let folders = 0;
const stores: S3Store[] = [];

function makeS3(overrides: Partial<S3Config> = {}): S3Store {
  const store = new S3Store({
    endpoint: s3.endpoint,
    bucket: BUCKET,
    folder: `tls/${++folders}`,
    accessKey: S3RVER_ACCESS_KEY,
    secretKey: "tls-test-secret",
    customCaPem: ca.certificatePEM,
    ...overrides,
  });
  stores.push(store);
  return store;
}

before(async () => {
  [host] = (await allocateLoopbackHosts(1, PORTS)) as [string];
  ca = await createCA("lifeboat test S3 CA");
  const server = await issueCertificate(ca, { commonName: "s3rver", ips: [host], usage: ["server"] });
  dataDir = await mkdtemp(join(tmpdir(), "lifeboat-s3tls-"));
  s3 = await startS3Server({
    host,
    port: PORTS[0],
    dir: dataDir,
    buckets: [BUCKET],
    tls: { certPEM: server.certificatePEM, keyPEM: server.keyPEM },
  });
});

after(async () => {
  await Promise.all(stores.map((store) => store.close()));
  await s3.stop();
  await rm(dataDir, { recursive: true, force: true });
});

describeStore("s3 over https with a custom CA", () =>
  Promise.resolve({ store: makeS3(), cleanup: () => Promise.resolve() }),
);

void describe("S3Store over https", () => {
  void it("treats a bare host:port endpoint as https", async () => {
    assert.ok(s3.endpoint.startsWith("https://"));
    const store = makeS3({ endpoint: s3.endpoint.slice("https://".length) });
    await store.check();
    assert.equal(store.location, `s3://${BUCKET}/tls/${folders} (${s3.endpoint})`);
  });

  void it("says to check custom_ca when the server's certificate is not trusted", async () => {
    const otherCa = await createCA("some other CA");
    for (const store of [makeS3({ customCaPem: otherCa.certificatePEM }), makeS3({ customCaPem: undefined })]) {
      await assert.rejects(store.check(), (err: unknown) => {
        assert.ok(err instanceof RemoteError);
        assert.match(
          err.message,
          new RegExp(`^TLS verification failed for ${s3.endpoint}: check custom_ca \\(\\w+\\)$`),
        );
        assert.equal(err.transient, false);
        return true;
      });
    }
  });

  void it("goes through the configured proxy, trusting the custom CA behind it", async (t) => {
    const proxy = await startConnectProxy(host, PORTS[1] as number);
    t.after(proxy.close);
    const store = makeS3({ proxy: proxy.url });
    await store.put("via-proxy.zip", Buffer.from("tunnelled"));
    assert.deepEqual(await readAll(store, "via-proxy.zip"), Buffer.from("tunnelled"));
    assert.ok(proxy.targets.length > 0, "requests went through the proxy");
    assert.ok(proxy.targets.every((target) => target === new URL(s3.endpoint).host));
  });
});

/** A minimal HTTP CONNECT proxy that records the targets it tunnels to. */
async function startConnectProxy(address: string, port: number) {
  const targets: string[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((_req, res) => res.writeHead(405).end());
  server.on("connect", (req: IncomingMessage, client: Socket, head: Buffer) => {
    const target = req.url ?? "";
    targets.push(target);
    const [h, p] = target.split(":");
    const upstream = connect(Number(p), h ?? "", () => {
      client.write("HTTP/1.1 200 Connection Established\r\n\r\n");
      upstream.write(head);
      upstream.pipe(client).pipe(upstream);
    });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("error", () => undefined);
      s.on("close", () => sockets.delete(s));
    }
    upstream.on("close", () => client.destroy());
    client.on("close", () => upstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(port, address, resolve));
  return {
    url: `http://${address}:${port}`,
    targets,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
