/**
 * The revision log's writer on a real 3-member sandbox (etcd run outside the agents, as in production): the writer's
 * agent is killed (SIGKILL) while writes go on; another agent takes over within a few intervals and continues the
 * same chain, with no gap and no overlap (each segment names its predecessor, one writer after the other); a restore
 * to a revision written after the failover is exact. Then a break: the log is switched off, the cluster writes and
 * is compacted past the log's position, the log is switched on again: the writer starts a `compacted` chain with a
 * fresh full snapshot, snapshot-status and the metrics show the break, and a restore to a revision inside the gap is
 * refused with the windows printed.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { readdir, readFile } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { join } from "node:path";
import { AgentClient } from "../src/agent/client.js";
import { routes } from "../src/api/routes.js";
import { statePathFor } from "../src/config/cluster.js";
import { readState } from "../src/config/state.js";
import type { EtcdMemberClient } from "../src/etcd/client.js";
import { cliTls } from "../src/fleet/open.js";
import { listChains, readSegmentManifest } from "../src/pitr/catalog.js";
import { WRITER_KEY } from "../src/pitr/writer.js";
import { isAlive } from "../src/sandbox/sandbox.js";
import type { Store } from "../src/store/store.js";
import { ExitCode } from "../src/util/errors.js";
import { jsonOf } from "./helpers/cli.js";
import { operatorOf } from "./helpers/operator.js";
import { enableLog, keyspace, logReaches, PREFIX, restoreTo, waitLogged } from "./helpers/pitr.js";
import { sandboxS3, scrapeMetrics, startTestSandbox, waitFor, type TestSandbox } from "./helpers/sandbox.js";

const SECRET = "pitr-log-secret-value-5b1e";
let sb: TestSandbox;
let s3: Store;
let etcd: EtcdMemberClient;
let agents: AgentClient[];
const { lifeboat, ok, editConfig, status } = operatorOf(() => sb);

async function writer(): Promise<string | undefined> {
  const text = await etcd.get(WRITER_KEY);
  return text ? (JSON.parse(text) as { node: string }).node : undefined;
}

before(async () => {
  sb = await startTestSandbox({ nodes: 3, series: "3.5", etcdMode: "external" });
  s3 = sandboxS3(sb.info);
  etcd = await sb.etcd(0);
  const state = await readState(statePathFor(sb.config));
  assert.ok(state);
  agents = sb.info.nodes.map((n) => new AgentClient({ endpoint: `${n.host}:7443`, tls: cliTls(state) }));
  // Encrypted at rest, as a production cluster would be: the log's segments hold every write to a Secret.
  const keyFile = join(sb.dir, "age.key");
  const generated = await sb.cli(["--output", "json", "key", "generate", "--out", keyFile]);
  assert.equal(generated.code, 0, generated.stderr);
  const key = jsonOf<{ recipient: string }>(generated);
  await editConfig((doc) => {
    doc.lifeboat!.encryption = { recipients: [key.recipient], identity_file: keyFile };
  });
  await enableLog(() => sb);
});

after(async () => {
  agents?.forEach((a) => a.close());
  await s3?.close();
  await sb?.down();
});

describe("the log writer", { concurrency: false }, () => {
  test("a killed writer is replaced; the chain goes on without a gap; a restore after the failover is exact", async () => {
    await waitLogged(sb, "the first chain", async () => (await listChains(s3))[0]?.doc);
    await etcd.put(`${PREFIX}secret`, SECRET);
    await etcd.put(`${PREFIX}before`, "1");
    const target = (await etcd.status()).revision;
    // The writer is the agent that holds the key and committed the newest segment (a first winner whose base
    // snapshot failed has stepped down meanwhile).
    const first = await waitLogged(sb, "a writer with a committed segment", async () => {
      const chain = (await listChains(s3))[0];
      const last = chain?.path.at(-1);
      if (!chain || !last || chain.reached < target) return undefined;
      const newest = await readSegmentManifest(s3, chain.chain, last);
      const holder = await writer();
      return holder && holder === newest.writer ? holder : undefined;
    });
    const index = sb.info.nodes.findIndex((n) => n.name === first);
    assert.ok(index >= 0, `the writer ${first} is a sandbox node`);
    const killedAt = Date.now();
    const node = sb.info.nodes[index]!;
    process.kill(node.pid, "SIGKILL");
    await waitFor("the killed agent to exit", async () => !isAlive(node.pid));
    // Writes go on while nobody writes the log.
    for (let i = 0; i < 20; i++) {
      await etcd.put(`${PREFIX}during-${i}`, String(i));
      await sleep(100);
    }
    const next = await waitLogged(sb, "another writer", async () => {
      const w = await writer();
      return w && w !== first ? w : undefined;
    });
    const tookOverMs = Date.now() - killedAt;
    assert.ok(tookOverMs < 20_000, `took over after ${tookOverMs} ms (lease 3 s, campaigns every 0.5 s)`);
    for (let i = 0; i < 10; i++) await etcd.put(`${PREFIX}after-${i}`, String(i));
    const afterFailover = (await etcd.status()).revision;
    const expected = await keyspace(etcd, afterFailover);
    const chains = await logReaches(s3, afterFailover);
    assert.equal(chains.length, 1, "the same chain, continued");
    const chain = chains[0]!;
    assert.equal(chain.unreachable.length, 0);
    const manifests = await Promise.all(chain.path.map((s) => readSegmentManifest(s3, chain.chain, s)));
    let reached = chain.doc!.start - 1;
    for (const m of manifests) {
      assert.equal(m.previous, reached, `segment ${m.first}-${m.last} follows the one before, no gap, no overlap`);
      reached = m.last;
    }
    const writers = manifests.map((m) => m.writer);
    assert.ok(
      manifests.every((m) => m.encryption?.format === "age" && m.file.endsWith(".seg.gz.age")),
      "every segment is encrypted",
    );
    const stored = await readdir(join(sb.dir, "s3"), { recursive: true });
    for (const f of stored.filter((p) => p.includes(".lifeboat-log") && p.endsWith("_S3rver_object"))) {
      const bytes = await readFile(join(sb.dir, "s3", f));
      assert.ok(
        !bytes.includes(SECRET) && !bytes.includes(Buffer.from(SECRET).toString("base64")),
        `${f} holds no secret`,
      );
    }
    const before = writers.lastIndexOf(first);
    const after = writers.slice(before + 1);
    assert.ok(
      before >= 0 && after.length > 0 && after.every((w) => w === next),
      `${first}'s segments, then only ${next}'s, never interleaved: ${writers.join(" ")}`,
    );

    await sb.startAgent(index);
    await waitFor("the restarted agent", () => agents[index]!.call(routes.info));
    await restoreTo(() => sb, ["--to-revision", String(afterFailover)]);
    assert.deepEqual(await keyspace(await sb.etcd(0)), expected);
  });

  test("a compaction past a stopped log is a break: a new chain, shown with its gap; the gap is refused", async () => {
    etcd = await sb.etcd(0);
    const id = (await etcd.status()).clusterId;
    const before = await logReaches(s3, (await etcd.status()).revision, id);
    const last = before.filter((c) => c.doc?.clusterId === id).at(-1)!;
    await editConfig((doc) => {
      delete doc.lifeboat!.continuous;
    });
    await ok(["etcd", "schedule", "push", "--jitter", "0s"]);
    await waitFor("no writer", async () => !(await writer()));
    for (let i = 0; i < 10; i++) await etcd.put(`${PREFIX}gap-${i}`, String(i));
    const inGap = (await etcd.status()).revision;
    await etcd.compact(inGap);
    await enableLog(() => sb);
    const chains = await waitLogged(sb, "a chain after the break", async () => {
      const c = (await listChains(s3)).filter((x) => x.doc?.clusterId === id && x.doc.reason === "compacted");
      return c.length ? c : undefined;
    });
    const broken = chains[0]!.doc!;
    assert.deepEqual(broken.previous, { chain: last.chain, last: last.reached });
    assert.ok(broken.start > inGap, "the new chain starts after the compaction");
    const st = await status();
    const shown = st.report.s3?.log?.chains.find((c) => c.chain === broken.chain);
    assert.deepEqual(shown?.gap, { chain: last.chain, fromRevision: last.reached + 1, toRevision: broken.start - 2 });
    const metrics = await Promise.all(agents.map((a) => scrapeMetrics(a)));
    const counted = metrics.map((m) => m.get('lifeboat_log_chains_started_total{reason="compacted"}') ?? 0);
    assert.equal(
      counted.reduce((a, b) => a + b, 0),
      1,
      `one compacted chain is counted: ${counted.join(", ")}`,
    );
    const run = await lifeboat(["etcd", "snapshot-restore", "--to-revision", String(inGap - 3), "--yes"]);
    assert.equal(run.code, ExitCode.usage, run.stdout + run.stderr);
    assert.match(run.stderr, /outside every recoverable window/);
    assert.match(run.stderr, new RegExp(`chain ${broken.chain}`));
  });
  test("retention prunes the log with its snapshots: a live chain loses its beginning, not its use", async () => {
    etcd = await sb.etcd(0);
    const id = (await etcd.status()).clusterId;
    await ok(["etcd", "schedule", "push", "--interval", "3s", "--jitter", "0s"]);
    // Writes go on while recurring snapshots come every 3 s and age out after 6 of them (backup_config.retention).
    let written = 0;
    const pruned = await waitLogged(
      sb,
      "a pruned chain of the cluster",
      async () => {
        for (let i = 0; i < 4; i++) await etcd.put(`${PREFIX}p-${written++}`, String(written));
        const chains = await listChains(s3);
        return chains.find((c) => c.doc?.clusterId === id && c.pruned && c.path.length > 0);
      },
      120_000,
    );
    await ok(["etcd", "schedule", "push", "--interval", "8760h", "--jitter", "0s"]);
    const chains = await listChains(s3);
    assert.ok(
      chains.every((c) => c.unreachable.length === 0),
      "a pruned beginning is no gap: every listed segment is reachable",
    );
    assert.ok(
      chains.every((c) => c.doc?.clusterId === id),
      `the chains of earlier clusters went with their bases: ${chains.map((c) => c.chain).join(", ")}`,
    );
    const view = chains.find((c) => c.chain === pruned.chain)!;
    assert.equal(view.window?.firstRevision, view.pruned?.through, "the window starts at the oldest kept base");
    const target = (await etcd.status()).revision;
    const expected = await keyspace(etcd, target);
    await logReaches(s3, target, id);
    await restoreTo(() => sb, ["--to-revision", String(target)]);
    assert.deepEqual(await keyspace(await sb.etcd(0)), expected, "a restore after the prune is exact");
    const below = view.pruned!.through - 1;
    const run = await lifeboat(["etcd", "snapshot-restore", "--to-revision", String(below), "--yes"]);
    assert.equal(run.code, ExitCode.usage, run.stdout + run.stderr);
    assert.match(run.stderr, /outside every recoverable window/);
  });
});
