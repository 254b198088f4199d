/** How many threads a save deflates on, from cluster.yml to the agent's pipeline options. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseClusterConfig } from "../src/config/cluster.js";
import { saveBody } from "../src/fleet/save.js";
import { DEFAULT_DEFLATE_THREADS, deflateThreads, saveOptions } from "../src/snapshot/save-options.js";

const run = { name: "s1", kind: "one-time" as const, node: "etcd-node1", version: "test", signal: AbortSignal.abort() };
const yml = (snapshot: string) =>
  parseClusterConfig(`nodes:\n  - address: 10.0.0.1\n    role: [etcd]\nlifeboat:\n  snapshot: ${snapshot}\n`, "c.yml");

void describe("deflate threads", () => {
  void it("default to two, never more than the node's cores, never fewer than one", () => {
    assert.equal(DEFAULT_DEFLATE_THREADS, 2);
    assert.equal(deflateThreads(undefined, 8), 2);
    assert.equal(deflateThreads(undefined, 1), 1);
    assert.equal(deflateThreads(6, 4), 4);
    assert.equal(deflateThreads(1, 4), 1);
    assert.equal(deflateThreads(3, 0), 1);
  });

  void it("travel from lifeboat.snapshot.compression_threads through the save request to the pipeline", () => {
    const { config } = yml("{ compression_threads: 1 }");
    assert.equal(config.lifeboat.snapshot.threads, 1);
    const body = saveBody(config, "s1", undefined);
    assert.equal(body.threads, 1);
    assert.equal(saveOptions({ ...body, compression: body.compression ?? "deflate" }, run).threads, 1);

    const unset = saveBody(yml("{ retries: 1 }").config, "s1", undefined);
    assert.equal("threads" in unset, false, "an unset key sends nothing: the agent picks its default");
    assert.equal(saveOptions({ ...unset, compression: "deflate" }, run).threads, deflateThreads(undefined));
  });
});
