/**
 * Webhook notifications against a real HTTP receiver on loopback: the JSON event and headers arrive, failures
 * are retried with backoff, client errors are not, a full queue drops the oldest event, and notify() never waits.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { after, before, describe, it } from "node:test";
import { Notifier, type Delivery, type NotifyEvent, type NotifySettings } from "../src/telemetry/notify.js";
import { silentLogger } from "../src/util/log.js";
import { allocateLoopbackHosts } from "../src/util/net.js";

const PORT = 8391;

interface Received {
  headers: IncomingMessage["headers"];
  body: NotifyEvent;
}

/** A receiver whose answer to each request the test decides. */
class Receiver {
  readonly received: Received[] = [];
  respond: (n: number, res: ServerResponse) => void = (_n, res) => res.writeHead(204).end();
  private server: Server | undefined;
  url = "";

  async start(host: string): Promise<void> {
    this.server = createServer((req, res) => {
      let text = "";
      req.on("data", (d: Buffer) => (text += d.toString()));
      req.on("end", () => {
        this.received.push({ headers: req.headers, body: JSON.parse(text) as NotifyEvent });
        this.respond(this.received.length, res);
      });
    });
    this.server.listen(PORT, host);
    await once(this.server, "listening");
    this.url = `http://${host}:${PORT}/hooks/lifeboat?token=abc123secret`;
  }

  reset(): void {
    this.received.length = 0;
    this.respond = (_n, res) => res.writeHead(204).end();
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve));
  }
}

const event = (name: string, type: NotifyEvent["type"] = "snapshot.failed"): NotifyEvent => ({
  type,
  time: "2026-11-27T12:00:00.000Z",
  node: "etcd-node1",
  name,
  kind: "recurring",
  location: "local",
  reason: "member unreachable: connection refused",
});

function notifier(settings: NotifySettings, extra: Partial<ConstructorParameters<typeof Notifier>[0]> = {}) {
  const results: [Delivery, string][] = [];
  const delays: number[] = [];
  const n = new Notifier({
    settings: () => settings,
    log: silentLogger,
    sleep: (ms) => {
      delays.push(ms);
      return Promise.resolve();
    },
    onResult: (r, e) => results.push([r, e.name ?? ""]),
    ...extra,
  });
  return { n, results, delays };
}

describe("webhook notifications", () => {
  const receiver = new Receiver();
  let settings: NotifySettings;

  before(async () => {
    const [host] = await allocateLoopbackHosts(1, [PORT]);
    await receiver.start(host!);
    settings = { webhookUrl: receiver.url, headers: { Authorization: "Bearer hook-token-1" }, onSuccess: false };
  });
  after(() => receiver.stop());

  it("posts the failure event as JSON with the configured headers", async () => {
    receiver.reset();
    const { n, results } = notifier(settings);
    n.notify(event("2026-11-27T12:00:00Z_etcd"));
    n.notify(event("2026-11-27T12:00:00Z_etcd", "snapshot.succeeded"));
    await n.drain();
    assert.equal(receiver.received.length, 1, "no success event without on_success");
    const got = receiver.received[0]!;
    assert.equal(got.headers.authorization, "Bearer hook-token-1");
    assert.equal(got.headers["content-type"], "application/json");
    assert.deepEqual(got.body, event("2026-11-27T12:00:00Z_etcd"));
    assert.deepEqual(results, [["delivered", "2026-11-27T12:00:00Z_etcd"]]);
  });

  it("sends success events too with on_success", async () => {
    receiver.reset();
    const { n } = notifier({ ...settings, onSuccess: true });
    n.notify(event("ok-1", "snapshot.succeeded"));
    await n.drain();
    assert.deepEqual(
      receiver.received.map((r) => r.body.type),
      ["snapshot.succeeded"],
    );
  });

  it("retries server errors with exponential backoff until delivered", async () => {
    receiver.reset();
    receiver.respond = (count, res) => res.writeHead(count < 3 ? 503 : 200).end();
    const { n, results, delays } = notifier(settings, { baseDelayMs: 100 });
    n.notify(event("retry-me"));
    await n.drain();
    assert.equal(receiver.received.length, 3);
    assert.deepEqual(delays, [100, 200]);
    assert.deepEqual(results, [["delivered", "retry-me"]]);
  });

  it("gives up after the last attempt, and does not retry a client error", async () => {
    receiver.reset();
    receiver.respond = (_count, res) => res.writeHead(500).end();
    const failing = notifier(settings, { attempts: 3, baseDelayMs: 10 });
    failing.n.notify(event("always-500"));
    await failing.n.drain();
    assert.equal(receiver.received.length, 3);
    assert.deepEqual(failing.results, [["failed", "always-500"]]);

    receiver.reset();
    receiver.respond = (_count, res) => res.writeHead(400).end();
    const refused = notifier(settings);
    refused.n.notify(event("bad-request"));
    await refused.n.drain();
    assert.equal(receiver.received.length, 1, "4xx is permanent");
    assert.deepEqual(refused.results, [["failed", "bad-request"]]);
  });

  it("never blocks the caller, and drops the oldest event when the queue is full", async () => {
    receiver.reset();
    const held: ServerResponse[] = [];
    receiver.respond = (_count, res) => held.push(res);
    const { n, results } = notifier(settings, { maxQueue: 2 });
    const started = performance.now();
    for (const name of ["e1", "e2", "e3", "e4"]) n.notify(event(name));
    assert.ok(performance.now() - started < 50, "notify() returns at once while the receiver hangs");
    while (held.length === 0) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(results, [["dropped", "e2"]], "e1 is in flight; e2 made room for e4");
    for (;;) {
      held.splice(0).forEach((res) => res.writeHead(204).end());
      if (results.length === 4) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    await n.drain();
    assert.deepEqual(
      receiver.received.map((r) => r.body.name),
      ["e1", "e3", "e4"],
    );
  });

  it("retries an unreachable receiver, and stops retrying on close", async () => {
    const [deadHost] = await allocateLoopbackHosts(1, [PORT]);
    const dead = { ...settings, webhookUrl: `http://${deadHost}:${PORT}/hook` };
    let attempts = 0;
    const { n, results } = notifier(dead, {
      attempts: 50,
      sleep: (ms, signal) => {
        attempts++;
        if (attempts === 3) void n.close();
        return new Promise((resolve, reject) => {
          if (signal.aborted) return reject(signal.reason as Error);
          const t = setTimeout(resolve, Math.min(ms, 5));
          signal.addEventListener("abort", () => (clearTimeout(t), reject(signal.reason as Error)), { once: true });
        });
      },
    });
    n.notify(event("nobody-home"));
    await n.drain();
    assert.equal(attempts, 3, "closed during the third backoff");
    assert.deepEqual(results, [["failed", "nobody-home"]]);
  });
});
