import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { test } from "node:test";
import { availableEtcdSeries } from "../src/etcd/binaries.js";
import { startEtcdCluster } from "./helpers/etcd-cluster.js";

const MiB = 1024 * 1024;
const VALUES = 50;

for (const series of await availableEtcdSeries()) {
  test(`etcd ${series}: a slow snapshot consumer keeps memory flat`, async (t) => {
    const dir = await mkdtemp(join(tmpdir(), "lifeboat-etcd-bp-"));
    const cluster = await startEtcdCluster({ members: 1, series, dir });
    t.after(async () => {
      await cluster.stop();
      await rm(dir, { recursive: true, force: true });
    });
    const client = await cluster.client(cluster.members[0]!, 30_000);
    for (let i = 0; i < VALUES; i += 5) {
      await Promise.all(Array.from({ length: 5 }, (_, j) => client.put(`/big/${i + j}`, randomBytes(MiB))));
    }

    const baseline = process.memoryUsage().rss;
    const stream = client.snapshot();
    const chunks = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    const readChunk = async () => {
      const next = await chunks.next();
      return next.done ? null : next.value;
    };
    const hash = createHash("sha256");
    let tail = Buffer.alloc(0);
    let total = 0;
    const consume = (chunk: Buffer) => {
      total += chunk.length;
      const joined = Buffer.concat([tail, chunk]);
      hash.update(joined.subarray(0, Math.max(0, joined.length - 32)));
      tail = joined.subarray(Math.max(0, joined.length - 32));
    };

    // A slow phase (one read every 50 ms), then a full stall: without backpressure etcd would push the whole
    // snapshot (> 50 MiB) into this process within these seconds.
    let peakRss = 0;
    let peakBuffered = 0;
    const sample = () => {
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
      peakBuffered = Math.max(peakBuffered, stream.readableLength);
    };
    for (let i = 0; i < 20; i++) {
      const chunk = await readChunk();
      assert.ok(chunk, "snapshot ended too early");
      consume(chunk);
      sample();
      await sleep(50);
    }
    for (let i = 0; i < 12; i++) {
      await sleep(250);
      sample();
    }
    const readSoFar = total;
    for (let chunk = await readChunk(); chunk !== null; chunk = await readChunk()) consume(chunk);

    const growth = peakRss - baseline;
    t.diagnostic(`RSS growth ${(growth / MiB).toFixed(1)} MiB, peak buffer ${peakBuffered} bytes`);
    assert.ok(peakBuffered <= 1 * MiB, `stream buffered ${peakBuffered} bytes while the consumer stalled`);
    assert.ok(growth < 24 * MiB, `RSS grew by ${(growth / MiB).toFixed(1)} MiB while the consumer stalled`);
    assert.ok(readSoFar < 8 * MiB, `read ${readSoFar} bytes during the slow phase`);
    assert.ok(total > VALUES * MiB, `snapshot has ${total} bytes`);
    assert.equal(total % 512, 32);
    assert.ok(hash.digest().equals(tail), "sha256 trailer verifies");
  });
}
