/**
 * A snapshot aborted before the member has answered must still end on the member. grpc-js loses a cancel issued that
 * early: the request goes out anyway and etcd keeps the snapshot (and its read transaction) open, stalled on flow
 * control, so that the member cannot even shut down (it ignores SIGTERM until killed). Checked on etcd's own
 * counters of started and finished Snapshot calls. A stream aborted before anyone reads it keeps its error for the
 * first read instead of throwing it as an uncaught exception (which stopped agents whose save was cancelled while it
 * opened its part file).
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { availableEtcdSeries } from "../src/etcd/binaries.js";
import type { EtcdMemberClient } from "../src/etcd/client.js";
import { startEtcdCluster } from "./helpers/etcd-cluster.js";
import { waitFor } from "./helpers/sandbox.js";

const MiB = 1024 * 1024;
/** More than the stream's flow-control window and buffers, so an unread snapshot stalls the member. */
const VALUES = 24;

/** Snapshot calls the member has started and finished, from its Prometheus metrics. */
async function snapshotCalls(clientUrl: string): Promise<{ started: number; handled: number }> {
  const text = await (await fetch(`${clientUrl}/metrics`)).text();
  const sum = (metric: string) =>
    text
      .split("\n")
      .filter((l) => l.startsWith(metric) && l.includes('grpc_method="Snapshot"'))
      .reduce((n, l) => n + Number(l.split(" ").at(-1)), 0);
  return { started: sum("grpc_server_started_total"), handled: sum("grpc_server_handled_total") };
}

async function abortedStream(client: EtcdMemberClient, when: "before" | "right after"): Promise<unknown> {
  const controller = new AbortController();
  if (when === "before") controller.abort(new Error("stopping"));
  const stream = client.snapshot({ signal: controller.signal });
  if (when === "right after") queueMicrotask(() => controller.abort(new Error("stopping")));
  return new Promise((resolve) => {
    stream.on("error", resolve);
    stream.on("end", () => resolve(undefined));
    stream.resume();
  });
}

for (const series of await availableEtcdSeries()) {
  test(`etcd ${series}: a snapshot aborted before the member answers ends on the member too`, async (t) => {
    const dir = await mkdtemp(join(tmpdir(), "lifeboat-etcd-cancel-"));
    const cluster = await startEtcdCluster({ members: 1, series, dir });
    t.after(async () => {
      await cluster.stop();
      await rm(dir, { recursive: true, force: true });
    });
    const member = cluster.members[0]!;
    const client = await cluster.client(member, 30_000);
    for (let i = 0; i < VALUES; i += 8) {
      await Promise.all(Array.from({ length: 8 }, (_, j) => client.put(`/big/${i + j}`, randomBytes(MiB))));
    }
    for (const when of ["before", "right after"] as const) {
      const before = await snapshotCalls(member.clientUrl);
      const err = await abortedStream(client, when);
      assert.equal((err as Error | undefined)?.name, "AbortError", `aborted ${when} the call: the stream says so`);
      const calls = await waitFor(
        `the member to finish the snapshot aborted ${when} the call`,
        async () => {
          const now = await snapshotCalls(member.clientUrl);
          return now.handled === now.started ? now : undefined;
        },
        10_000,
      );
      assert.ok(calls.started <= before.started + 1, "at most one call was made");
    }
    // Aborted while nobody reads it yet (a save opens its part file first): not an uncaught exception, which would
    // stop the agent, but the first read fails with it.
    const controller = new AbortController();
    const unread = client.snapshot({ signal: controller.signal });
    await new Promise((resolve) => setTimeout(resolve, 50));
    controller.abort(new Error("cancelled: a restore is in progress"));
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(unread.destroyed, true);
    await assert.rejects(
      (async () => {
        for await (const _ of unread) void _;
      })(),
      { name: "AbortError", message: /snapshot aborted/ },
    );
    const stopped = Date.now();
    await member.controller.stop();
    assert.ok(Date.now() - stopped < 5_000, "the member stopped on SIGTERM, without being killed");
  });
}
