import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { availableEtcdSeries } from "../src/etcd/binaries.js";
import {
  EtcdMemberClient,
  WatchCompactedError,
  type RevisionGroup,
  type StoredKeyValue,
  type WatchMessage,
} from "../src/etcd/client.js";
import { watchMessages, type WatchCall } from "../src/etcd/watch.js";
import type { Event, WatchRequest, WatchResponse } from "../src/etcd/wire.js";
import { RemoteError } from "../src/util/errors.js";
import { allocateLoopbackHosts } from "../src/util/net.js";
import { startEtcdCluster, type TestCluster, type TestMember } from "./helpers/etcd-cluster.js";

const b = (s: string) => Buffer.from(s);
const RANGE_OK =
  'grpc_server_handled_total{grpc_code="OK",grpc_method="Range",grpc_service="etcdserverpb.KV",grpc_type="unary"}';
const WATCH_STREAMS = "etcd_debugging_mvcc_watch_stream_total";

/** One sample of the member's Prometheus metrics (the plain-http client URL serves /metrics). */
async function metric(member: TestMember, series: string): Promise<number> {
  const text = await (await fetch(`${member.clientUrl}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  assert.ok(line, `metric ${series}`);
  return Number(line.slice(series.length + 1));
}

/** The member drops a cancelled stream asynchronously: wait (bounded) for the gauge to reach `expected`. */
async function watchStreamsReach(member: TestMember, expected: number): Promise<void> {
  let n = await metric(member, WATCH_STREAMS);
  for (let i = 0; i < 60 && n !== expected; i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    n = await metric(member, WATCH_STREAMS);
  }
  assert.equal(n, expected, "watch streams open on the member");
}

function timers(): number {
  return process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
}

/** The groups of a watch from `from` up to and including revision `to`; fails after 5 s instead of hanging. */
async function groupsUntil(c: EtcdMemberClient, from: number, to: number): Promise<RevisionGroup[]> {
  const groups: RevisionGroup[] = [];
  for await (const msg of c.watchAll({ startRevision: from, signal: AbortSignal.timeout(5000) })) {
    assert.equal(msg.kind, "group", "no progress messages without progressEveryMs");
    if (msg.kind === "group") groups.push(msg.group);
    if ((groups.at(-1)?.revision ?? 0) >= to) break;
  }
  assert.equal(groups.at(-1)?.revision, to, "the watch reached the last revision");
  return groups;
}

/** The keyspace after `group`, from the keyspace before it: what point-in-time recovery does with a watch. */
function replay(state: Map<string, StoredKeyValue>, group: RevisionGroup): void {
  for (const { type, ...kv } of group.events) {
    if (type === "delete") state.delete(kv.key.toString("hex"));
    else state.set(kv.key.toString("hex"), kv);
  }
}

function inKeyOrder(state: Map<string, StoredKeyValue>): StoredKeyValue[] {
  return [...state.values()].sort((x, y) => Buffer.compare(x.key, y.key));
}

const put = (key: string, value: string, rev: number, create: number, version: number, lease = "0") => ({
  type: "put" as const,
  key: b(key),
  value: b(value),
  createRevision: create,
  modRevision: rev,
  version,
  lease,
});
const del = (key: string, rev: number) => ({
  type: "delete" as const,
  key: b(key),
  value: Buffer.alloc(0),
  createRevision: 0,
  modRevision: rev,
  version: 0,
  lease: "0",
});

for (const series of await availableEtcdSeries()) {
  describe(`etcd ${series}: watch, ranges, transactions and leases on one member`, () => {
    let dir: string;
    let cluster: TestCluster;
    let member: TestMember;
    let c: EtcdMemberClient;
    /** The revision before the workload of the first watch test; its history is watched again later. */
    let r0 = 0;

    before(async () => {
      dir = await mkdtemp(join(tmpdir(), "lifeboat-etcd-watch-"));
      cluster = await startEtcdCluster({ members: 1, series, dir });
      member = cluster.members[0]!;
      c = await cluster.client(member);
    });
    after(async () => {
      await cluster?.stop();
      await rm(dir, { recursive: true, force: true });
    });

    test("rangeAll pages through every key at one revision, also an older one", async () => {
      const before = await c.rangeAll();
      for (const i of [5, 2, 7, 1, 4, 6, 3]) await c.put(`/r/${i}`, `v${i}`);
      const ranges = await metric(member, RANGE_OK);
      const paged = await c.rangeAll({ pageSize: 2 });
      const total = before.kvs.length + 7;
      assert.equal(await metric(member, RANGE_OK), ranges + Math.ceil(total / 2), "one Range per page of 2");
      assert.equal(paged.revision, (await c.status()).revision);
      assert.deepEqual(await c.rangeAll({ revision: paged.revision }), paged, "one page of 1000 reads the same");
      const keys = paged.kvs.map((kv) => kv.key);
      assert.deepEqual(
        keys,
        [...keys].sort((x, y) => Buffer.compare(x, y)),
      );
      const ours = paged.kvs.filter((kv) => kv.key.toString().startsWith("/r/"));
      assert.deepEqual(
        ours.map((kv) => [kv.key.toString(), kv.value.toString(), kv.version, kv.lease]),
        [1, 2, 3, 4, 5, 6, 7].map((i) => [`/r/${i}`, `v${i}`, 1, "0"]),
      );

      await c.put("/r/1", "changed");
      await c.put("/r/8", "v8");
      await c.txnApply([{ type: "delete", key: b("/r/3") }]);
      assert.deepEqual(await c.rangeAll({ revision: paged.revision, pageSize: 2 }), paged);
      const now = await c.rangeAll({ pageSize: 3 });
      const names = now.kvs.map((kv) => kv.key.toString()).filter((k) => k.startsWith("/r/"));
      assert.deepEqual(names, ["/r/1", "/r/2", "/r/4", "/r/5", "/r/6", "/r/7", "/r/8"]);
      assert.equal(now.kvs.find((kv) => kv.key.toString() === "/r/1")?.version, 2);
    });

    test("rangeAll stays at its first page's revision while keys are written", async () => {
      const writes = (async () => {
        for (let i = 0; i < 20; i++) await c.put(`/r/~${i}`, "late");
      })();
      const [paged] = await Promise.all([c.rangeAll({ pageSize: 1 }), writes]);
      assert.deepEqual(await c.rangeAll({ revision: paged.revision }), paged);
      assert.ok((await c.status()).revision > paged.revision, "the writes went on after the first page");
    });

    test("a watch yields one group per revision with every event, and replays to rangeAll at each revision", async () => {
      r0 = (await c.status()).revision;
      const start = await c.rangeAll();
      const rA = await c.txnApply([{ type: "put", key: b("/w/a"), value: b("1") }]);
      assert.equal(rA, r0 + 1);
      await c.put("/w/b", "2");
      const rX = await c.txnApply([{ type: "put", key: b("/w/x"), value: b("x") }]);
      const rA2 = await c.txnApply([{ type: "put", key: b("/w/a"), value: b("1b") }]);
      const rDel = await c.txnApply([{ type: "delete", key: b("/w/b") }]);
      const rTxn = await c.txnApply([
        { type: "put", key: b("/w/c"), value: b("3") },
        { type: "put", key: b("/w/d") },
        { type: "put", key: b("/w/a"), value: b("1c") },
        { type: "delete", key: b("/w/x") },
      ]);
      const lease = await c.leaseGrant(60);
      const rLease = await c.txnApply([
        { type: "put", key: b("/w/l2"), value: b("m"), lease },
        { type: "put", key: b("/w/l1"), value: b("l"), lease },
      ]);
      await c.leaseRevoke(lease);
      const rRevoke = rLease + 1;
      assert.equal(
        await c.txnApply([{ type: "delete", key: b("/w/missing") }]),
        rRevoke,
        "deleting nothing is no revision",
      );
      assert.deepEqual([rX, rA2, rDel, rTxn, rLease], [r0 + 3, r0 + 4, r0 + 5, r0 + 6, r0 + 7]);
      assert.equal((await c.status()).revision, rRevoke);

      const groups = await groupsUntil(c, r0 + 1, rRevoke);
      assert.deepEqual(groups, [
        { revision: rA, events: [put("/w/a", "1", rA, rA, 1)] },
        { revision: rA + 1, events: [put("/w/b", "2", rA + 1, rA + 1, 1)] },
        { revision: rX, events: [put("/w/x", "x", rX, rX, 1)] },
        { revision: rA2, events: [put("/w/a", "1b", rA2, rA, 2)] },
        { revision: rDel, events: [del("/w/b", rDel)] },
        {
          revision: rTxn,
          events: [
            put("/w/c", "3", rTxn, rTxn, 1),
            put("/w/d", "", rTxn, rTxn, 1),
            put("/w/a", "1c", rTxn, rA, 3),
            del("/w/x", rTxn),
          ],
        },
        {
          revision: rLease,
          events: [put("/w/l2", "m", rLease, rLease, 1, lease), put("/w/l1", "l", rLease, rLease, 1, lease)],
        },
        // A revoke deletes the lease's keys in one revision, in key order.
        { revision: rRevoke, events: [del("/w/l1", rRevoke), del("/w/l2", rRevoke)] },
      ]);

      const state = new Map(start.kvs.map((kv) => [kv.key.toString("hex"), kv]));
      for (const group of groups) {
        replay(state, group);
        assert.deepEqual(
          inKeyOrder(state),
          (await c.rangeAll({ revision: group.revision })).kvs,
          `at ${group.revision}`,
        );
      }
    });

    test("while catching up on history, no progress is reported ahead of it", async () => {
      const end = (await c.status()).revision;
      const seen: WatchMessage[] = [];
      const signal = AbortSignal.timeout(5000);
      for await (const msg of c.watchAll({ startRevision: r0 + 1, progressEveryMs: 2, signal })) {
        seen.push(msg);
        if (msg.kind === "progress") break;
      }
      const revisions = seen.map((m) => (m.kind === "group" ? m.group.revision : -m.revision));
      const history = Array.from({ length: end - r0 }, (_, i) => r0 + 1 + i);
      assert.deepEqual(revisions, [...history, -end], "every group, then progress at the newest revision");
    });

    test("progress arrives on the interval while idle, with the member's revision", async () => {
      const rev = (await c.status()).revision;
      const seen: string[] = [];
      const signal = AbortSignal.timeout(5000);
      for await (const msg of c.watchAll({ startRevision: rev + 1, progressEveryMs: 50, signal })) {
        seen.push(msg.kind === "group" ? `group ${msg.group.revision}` : `progress ${msg.revision}`);
        if (seen.length === 2) await c.put("/p/idle", "x");
        if (seen.at(-3) === `group ${rev + 1}`) break;
      }
      const put = seen.indexOf(`group ${rev + 1}`);
      assert.ok(put >= 2, seen.join(", "));
      assert.deepEqual(new Set(seen.slice(0, put)), new Set([`progress ${rev}`]), "idle before the put");
      assert.deepEqual(seen.slice(put + 1), [`progress ${rev + 1}`, `progress ${rev + 1}`]);
      assert.equal((await c.status()).revision, rev + 1);
    });

    test("aborting ends the loop without an error and closes the member's watch stream", async () => {
      const rev = (await c.status()).revision;
      const ac = new AbortController();
      const seen: WatchMessage[] = [];
      for await (const msg of c.watchAll({ startRevision: rev, signal: ac.signal })) {
        seen.push(msg);
        ac.abort();
      }
      assert.equal(seen.length, 1);

      const idle = new AbortController();
      setTimeout(() => idle.abort(), 200);
      const started = Date.now();
      for await (const msg of c.watchAll({ startRevision: rev + 1, signal: idle.signal })) {
        assert.fail(`nothing was written, got ${msg.kind}`);
      }
      assert.ok(Date.now() - started >= 150, "ended by the abort");

      // Aborted before the member could answer: the cancel must still reach it.
      const early = new AbortController();
      const pending = c.watchAll({ startRevision: rev, signal: early.signal })[Symbol.asyncIterator]().next();
      early.abort();
      assert.deepEqual(await pending, { done: true, value: undefined });
      await watchStreamsReach(member, 0);
    });

    test("breaking out of the loop cancels the call and leaves no timer behind", async () => {
      await watchStreamsReach(member, 0);
      const idleTimers = timers();
      const rev = (await c.status()).revision;
      for await (const msg of c.watchAll({ startRevision: rev, progressEveryMs: 20 })) {
        assert.equal(msg.kind, "group");
        assert.equal(await metric(member, WATCH_STREAMS), 1);
        assert.ok(timers() > idleTimers, "the progress interval runs");
        break;
      }
      await watchStreamsReach(member, 0);
      assert.ok(timers() <= idleTimers, "the progress interval is cleared");
    });

    test("a watch from below the compaction fails with WatchCompactedError, from the compaction it works", async () => {
      const rc = await c.txnApply([{ type: "put", key: b("/k/at"), value: b("c") }]);
      await c.put("/k/after", "d");
      await c.compact(rc);
      await assert.rejects(
        async () => {
          for await (const msg of c.watchAll({ startRevision: rc - 1 })) assert.fail(`got ${msg.kind}`);
        },
        (err: unknown) => {
          assert.ok(err instanceof WatchCompactedError);
          assert.equal(err.compactRevision, rc);
          assert.ok(err.message.includes(member.clientUrl), err.message);
          return true;
        },
      );
      const groups = await groupsUntil(c, rc, rc + 1);
      assert.deepEqual(
        groups.map((g) => g.revision),
        [rc, rc + 1],
      );
      await assert.rejects(c.rangeAll({ revision: rc - 1 }), RemoteError);
      await assert.rejects(c.compact(rc - 1), RemoteError, "compacting again below is refused");
      await watchStreamsReach(member, 0);
    });

    test("leases: grant with a chosen ID, time to live, list, revoke", async () => {
      const some = await c.leaseGrant(30);
      const ttl = await c.leaseTimeToLive(some);
      assert.ok(ttl && ttl.grantedTtl === 30 && ttl.ttl > 0 && ttl.ttl <= 30, JSON.stringify(ttl));

      const chosen = "4242424242";
      await c.leaseGrantId(chosen, 45);
      assert.equal((await c.leaseTimeToLive(chosen))?.grantedTtl, 45);
      const listed = await c.leaseList();
      assert.ok(listed.includes(some) && listed.includes(chosen), listed.join(","));
      await assert.rejects(c.leaseGrantId(chosen, 10), (err: unknown) => {
        assert.ok(err instanceof RemoteError);
        assert.ok(err.message.includes(chosen) && err.message.includes(member.clientUrl), err.message);
        return true;
      });
      const rev = await c.txnApply([{ type: "put", key: b("/l/k"), value: b("v"), lease: chosen }]);
      assert.equal((await c.rangeAll()).kvs.find((kv) => kv.key.toString() === "/l/k")?.lease, chosen);

      await c.leaseRevoke(chosen);
      assert.equal(await c.leaseTimeToLive(chosen), undefined);
      assert.ok(!(await c.leaseList()).includes(chosen));
      assert.equal(await c.get("/l/k"), undefined);
      assert.equal((await c.status()).revision, rev + 1);
      assert.equal(await c.leaseTimeToLive("123456789"), undefined, "never granted");
      await c.leaseRevoke(some);
    });
  });
}

test("a watch on a member where nothing listens fails with a RemoteError naming the endpoint", async (t) => {
  const [host] = await allocateLoopbackHosts(1, [2379]);
  const c = await EtcdMemberClient.connect({ endpoint: `http://${host}:2379`, timeoutMs: 1000 });
  t.after(() => c.close());
  await assert.rejects(
    async () => {
      for await (const msg of c.watchAll({ startRevision: 1 })) assert.fail(`got ${msg.kind}`);
    },
    (err: unknown) => err instanceof RemoteError && err.transient && err.message.includes(`${host}:2379`),
  );
});

test("a start revision below 1 is refused at once (etcd would read it as 'from now')", async (t) => {
  const c = await EtcdMemberClient.connect({ endpoint: "http://127.0.0.1:1" });
  t.after(() => c.close());
  assert.throws(() => c.watchAll({ startRevision: 0 }), RangeError);
});

/** Just enough of a grpc-js Watch call to drive the iterator by hand. */
class FakeWatchCall extends EventEmitter {
  written: WatchRequest[] = [];
  paused = false;
  cancels = 0;
  write(req: WatchRequest): boolean {
    this.written.push(req);
    return true;
  }
  pause(): this {
    this.paused = true;
    return this;
  }
  resume(): this {
    this.paused = false;
    return this;
  }
  cancel(): void {
    this.cancels++;
    this.emit("status", { code: 1 });
  }
  answer(res: Partial<WatchResponse>, revision = 0): void {
    this.emit("data", {
      header: { cluster_id: "1", member_id: "1", revision: String(revision), raft_term: "1" },
      watch_id: "0",
      created: false,
      canceled: false,
      compact_revision: "0",
      cancel_reason: "",
      fragment: false,
      events: [],
      ...res,
    });
  }
}

function putEvent(rev: number, key = `k${rev}`): Event {
  const kv = {
    key: b(key),
    value: b("v"),
    create_revision: String(rev),
    mod_revision: String(rev),
    version: "1",
    lease: "0",
  };
  return { type: "Put", kv, prev_kv: null };
}

async function fakeWatch(opts: { startRevision: number; progressEveryMs?: number }) {
  const call = new FakeWatchCall();
  const open = () => Promise.resolve(call as unknown as WatchCall);
  const it = watchMessages(open, { endpoint: "http://fake:2379", timeoutMs: 1000 }, opts)[Symbol.asyncIterator]();
  await new Promise((resolve) => setImmediate(resolve));
  return { call, it };
}

const revisionOf = (r: IteratorResult<WatchMessage>) =>
  r.done ? "done" : r.value.kind === "group" ? r.value.group.revision : `progress ${r.value.revision}`;

test("the iterator pauses the call above 1000 unconsumed groups and resumes at 500", async () => {
  const { call, it } = await fakeWatch({ startRevision: 1 });
  call.emit("metadata");
  call.answer({ created: true }, 1);
  for (let rev = 1; rev <= 1000; rev++) call.answer({ events: [putEvent(rev)] });
  assert.equal(call.paused, false);
  call.answer({ events: [putEvent(1001)] });
  assert.equal(call.paused, true);
  for (let rev = 1; rev <= 500; rev++) assert.equal(revisionOf(await it.next()), rev);
  assert.equal(call.paused, true, "501 still queued");
  assert.equal(revisionOf(await it.next()), 501);
  assert.equal(call.paused, false);
  await it.return?.();
  assert.equal(call.cancels, 1);
});

test("the iterator merges fragments, and fails on a revision that is not newer", async () => {
  const { call, it } = await fakeWatch({ startRevision: 5 });
  call.emit("metadata");
  call.answer({ created: true }, 9);
  call.answer({ events: [putEvent(5, "a"), putEvent(5, "b")], fragment: true });
  call.answer({ events: [putEvent(5, "c"), putEvent(6)] });
  const first = await it.next();
  assert.ok(!first.done && first.value.kind === "group");
  assert.deepEqual(
    first.value.group.events.map((e) => e.key.toString()),
    ["a", "b", "c"],
  );
  assert.equal(revisionOf(await it.next()), 6);
  call.answer({ events: [putEvent(6, "again")] });
  await assert.rejects(it.next(), /revision 6 after revision 6/);
  assert.equal(call.cancels, 1);
  assert.deepEqual(await it.next(), { done: true, value: undefined });
});

test("progress is held back until the watch reaches the revision it was created at", async () => {
  const { call, it } = await fakeWatch({ startRevision: 3, progressEveryMs: 5 });
  call.emit("metadata");
  call.answer({ created: true }, 4);
  call.answer({}, 4); // etcd before 3.4.25 answers like this before sending revisions 3 and 4
  call.answer({ events: [putEvent(3)] });
  call.answer({}, 4);
  call.answer({ events: [putEvent(4)] });
  call.answer({}, 4);
  assert.deepEqual([await it.next(), await it.next(), await it.next()].map(revisionOf), [3, 4, "progress 4"]);
  await new Promise((resolve) => setTimeout(resolve, 30));
  assert.ok(call.written.filter((r) => "progress_request" in r).length >= 2, "progress requested on the interval");
  call.answer({}, 6);
  assert.equal(revisionOf(await it.next()), "progress 6");
  call.answer({ events: [putEvent(5)] });
  await assert.rejects(it.next(), (err: unknown) => err instanceof RemoteError && err.transient);
});

test("a cancel before the member answered waits for its answer, so that it reaches the member", async () => {
  const { call, it } = await fakeWatch({ startRevision: 1 });
  assert.ok("create_request" in (call.written[0] ?? {}));
  await it.return?.();
  assert.equal(call.cancels, 0);
  call.emit("metadata");
  assert.equal(call.cancels, 1);
});

test("a canceled response with a compact revision is a WatchCompactedError, after what came before it", async () => {
  const { call, it } = await fakeWatch({ startRevision: 2 });
  call.emit("metadata");
  call.answer({ created: true }, 9);
  call.answer({ events: [putEvent(2)] });
  call.answer({ canceled: true, compact_revision: "7" }, 9);
  assert.equal(revisionOf(await it.next()), 2);
  await assert.rejects(it.next(), (err: unknown) => err instanceof WatchCompactedError && err.compactRevision === 7);
});
