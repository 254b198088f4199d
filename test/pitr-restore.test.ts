/**
 * Point-in-time recovery on a real 3-member sandbox, etcd 3.4 managed by the agents and etcd 3.5 run outside them
 * (external mode): with `lifeboat.continuous` on, one agent writes the revision log to S3; a seeded random workload
 * (puts, puts on leases, deletes, range deletes, multi-key transactions, a revoked lease) runs; the live keyspace is
 * read at random revisions R before the disaster; then `snapshot-restore --latest` and `--to-revision R` must give a
 * cluster whose workload keyspace (keys, values, create and mod revisions, versions, leases) is exactly the live one
 * at that point. Between the restores: the new cluster gets a new chain of its own (`new-cluster`), snapshot-list
 * and snapshot-status show the windows, and a point outside every window is refused with the windows printed.
 * The workload's seed is printed; LIFEBOAT_TEST_SEED replays one.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { availableEtcdSeries } from "../src/etcd/binaries.js";
import type { EtcdMemberClient } from "../src/etcd/client.js";
import type { ListReport } from "../src/fleet/catalog.js";
import { listChains } from "../src/pitr/catalog.js";
import { loggedRevisions } from "../src/pitr/fetch.js";
import type { Store } from "../src/store/store.js";
import { ExitCode } from "../src/util/errors.js";
import { jsonOf } from "./helpers/cli.js";
import { operatorOf } from "./helpers/operator.js";
import {
  enableLog,
  keyspace,
  logReaches,
  random,
  restoreTo,
  waitLogged,
  workload,
  type KeyState,
} from "./helpers/pitr.js";
import { sandboxS3, startTestSandbox, type EtcdMode, type TestSandbox } from "./helpers/sandbox.js";

const MODES: Record<string, EtcdMode> = { "3.4": "managed", "3.5": "external" };

for (const series of await availableEtcdSeries()) {
  const mode = MODES[series] ?? "managed";
  describe(`etcd ${series} (${mode}): restore to a point in time`, { concurrency: false }, () => {
    let sb: TestSandbox;
    let s3: Store;
    let etcd: EtcdMemberClient;
    const { lifeboat, ok, status } = operatorOf(() => sb);
    const seed = Number(process.env.LIFEBOAT_TEST_SEED ?? Math.floor(Math.random() * 1e6));
    let clusterId: string;
    let start: number;
    const expected = new Map<number, KeyState[]>();
    let points: number[] = [];
    let final: number;
    let toTime: Date;
    let atTime: number;

    before(async () => {
      sb = await startTestSandbox({ nodes: 3, series, etcdMode: mode });
      s3 = sandboxS3(sb.info);
      etcd = await sb.etcd(0);
      clusterId = (await etcd.status()).clusterId;
      await enableLog(() => sb);
    });
    after(async () => {
      await s3?.close();
      await sb?.down();
    });

    test("one agent starts a chain with a full snapshot as its base", async () => {
      const chains = await waitLogged(sb, "the first chain", async () => {
        const c = await listChains(s3);
        return c.some((x) => x.doc) ? c : undefined;
      });
      assert.equal(chains.length, 1);
      const doc = chains[0]!.doc!;
      assert.equal(doc.reason, "first");
      assert.equal(doc.clusterId, clusterId);
      assert.equal(doc.start, doc.base.revision + 1);
      start = doc.start;
      const listed = jsonOf<ListReport>(await ok(["--output", "json", "etcd", "snapshot-list"]));
      const base = listed.snapshots.find((e) => e.location === "s3" && e.name === doc.base.name);
      assert.equal(base?.status, "ok", "the chain's base is a good S3 snapshot");
      const writers = (await status()).report.nodes.filter((n) => "log" in n && n.log?.leading);
      assert.equal(writers.length, 1, "exactly one agent writes the log");
    });

    test(`a random workload (seed ${seed}) is logged revision by revision`, async (t) => {
      t.diagnostic(`seed ${seed} (LIFEBOAT_TEST_SEED=${seed} replays it)`);
      const revisions = await workload(etcd, random(seed), 150);
      final = revisions.at(-1)!;
      const rng = random(seed + 1);
      const inside = revisions.filter((r) => r >= start && r < final);
      points = [...new Set(Array.from({ length: 2 }, () => inside[Math.floor(rng() * inside.length)]!))];
      points.sort((a, b) => b - a);
      for (const r of [final, ...points]) expected.set(r, await keyspace(etcd, r));
      assert.ok(expected.get(final)!.length > 0, "the workload left keys");
      const chains = await logReaches(s3, final, clusterId);
      const chain = chains.find((c) => c.doc?.clusterId === clusterId)!;
      assert.equal(chain.unreachable.length, 0);
      assert.ok(chain.path.length >= 1 && chain.path[0]!.first === start, "the first segment starts the chain");
      // A time between two observed revisions: --to-time takes the last one observed at or before it.
      const logged = [];
      for await (const r of loggedRevisions(s3, chain.chain, chain.path, undefined)) logged.push(r);
      const inWindow = logged.filter((r) => r.group.revision > start && r.group.revision < final);
      const pick = inWindow[Math.floor(rng() * inWindow.length)]!;
      toTime = new Date(Date.parse(pick.at));
      atTime = Math.max(...logged.filter((r) => Date.parse(r.at) <= toTime.getTime()).map((r) => r.group.revision));
      expected.set(atTime, await keyspace(etcd, atTime));
      const listed = jsonOf<ListReport>(await ok(["--output", "json", "etcd", "snapshot-list"]));
      const window = listed.log?.chains.find((c) => c.chain === chain.chain)?.window;
      assert.ok(window && window.firstRevision === start - 1 && window.lastRevision >= final, JSON.stringify(window));
    });

    test("--latest restores the last logged revision exactly", async () => {
      await restoreTo(() => sb, ["--latest"]);
      const restored = await sb.etcd(0);
      assert.deepEqual(await keyspace(restored), expected.get(final));
      assert.notEqual((await restored.status()).clusterId, clusterId, "a new cluster");
    });

    test("the restored cluster's log is a new chain of its own", async () => {
      const restored = await sb.etcd(1);
      const newId = (await restored.status()).clusterId;
      const chains = await waitLogged(sb, "a chain of the new cluster", async () => {
        const c = await listChains(s3);
        return c.some((x) => x.doc?.clusterId === newId) ? c : undefined;
      });
      const fresh = chains.find((c) => c.doc?.clusterId === newId)!;
      assert.equal(fresh.doc!.reason, "new-cluster");
      const st = await status();
      assert.ok(st.report.s3?.log?.chains.some((c) => c.chain === fresh.chain));
      assert.ok(st.report.s3?.log?.recoveryPoint, "snapshot-status shows the recovery point");
    });

    test("--to-revision R gives the live keyspace at R, for random R inside the window", async () => {
      assert.ok(points.length > 0, "points were chosen");
      for (const r of points) {
        const out = await restoreTo(() => sb, ["--to-revision", String(r)]);
        assert.match(out, new RegExp(`revision ${r}`));
        const restored = await sb.etcd(2);
        assert.deepEqual(await keyspace(restored), expected.get(r), `the keyspace at revision ${r}`);
      }
    });

    test("--to-time T gives the keyspace at the last revision observed at or before T; --dry-run changes nothing", async () => {
      const before = await keyspace(await sb.etcd(0));
      const dry = await ok(["etcd", "snapshot-restore", "--to-time", toTime.toISOString(), "--dry-run"]);
      assert.match(dry.stdout, new RegExp(`point in time: +revision ${atTime}, observed at`));
      assert.match(dry.stdout, /dry run: nothing was changed/);
      assert.deepEqual(await keyspace(await sb.etcd(0)), before, "the dry run changed nothing");
      await restoreTo(() => sb, ["--to-time", toTime.toISOString()]);
      assert.deepEqual(await keyspace(await sb.etcd(1)), expected.get(atTime), `the keyspace at revision ${atTime}`);
    });

    test("a point outside every window is refused with the windows, the cluster untouched", async () => {
      const before = await keyspace(await sb.etcd(0));
      assert.ok(start - 2 >= 1, `a revision below the window exists (start ${start})`);
      const run = await lifeboat(["etcd", "snapshot-restore", "--to-revision", String(start - 2), "--yes"]);
      assert.equal(run.code, ExitCode.usage, run.stderr);
      assert.match(run.stderr, /outside every recoverable window/);
      assert.match(run.stderr, /revisions \d+-\d+/);
      assert.deepEqual(await keyspace(await sb.etcd(0)), before);
      const both = await lifeboat(["etcd", "snapshot-restore", "--latest", "--name", "x", "--yes"]);
      assert.equal(both.code, ExitCode.usage);
      assert.match(both.stderr, /--latest cannot be combined with --name/);
    });
  });
}
