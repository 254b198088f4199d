/**
 * An operator's day on one real 3-member sandbox (TLS, agents as processes, S3), one etcd series: each step runs
 * between other operations and the state is checked after every step, not only the exit code. The defects these
 * steps caught lived between features: a verify that blocked later backups, a declined restore that did work first,
 * a rollback that reported success without doing anything, a recurring save that blocked a disaster restore.
 */
import assert from "node:assert/strict";
import { routes } from "../../src/api/routes.js";
import { mkdir, readdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { once } from "node:events";
import { createServer } from "node:http";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { AgentClient } from "../../src/agent/client.js";
import type { NodeStatus } from "../../src/schedule/recurring.js";
import { cliTls } from "../../src/fleet/open.js";
import { loadClusterConfig, statePathFor } from "../../src/config/cluster.js";
import { readState } from "../../src/config/state.js";
import { DEFAULT_BUMP } from "../../src/restore/plan.js";
import { findEtcdTools } from "../../src/etcd/binaries.js";
import { readLimited } from "../../src/store/read.js";
import { BIN, jsonOf, type CliRun } from "./cli.js";
import { sandboxS3, startTestSandbox, waitFor, type EtcdMode, type TestSandbox } from "./sandbox.js";

interface Health {
  nodes: { node: string; ok: boolean; clusterId?: string; revision?: number }[];
  healthy: number;
}

type Status = { nodes: (NodeStatus & { session: { purpose: string; name: string } | null })[] };

/**
 * `etcdMode` external runs every member under a supervisor outside the agents (production's layout: RKE's Docker
 * etcd, systemd), which the agents start, stop and check only through cluster.yml's commands.
 */
export function workflowSuite(series: string, etcdMode: EtcdMode = "managed"): void {
  describe(`an operator's day on etcd ${series} (${etcdMode} members)`, () => day(series, etcdMode));
}

function day(series: string, etcdMode: EtcdMode): void {
  let sb: TestSandbox;
  const nodeDir = (i: number) => join(sb.dir, "nodes", `node${i + 1}`);
  const run = (args: string[]) => sb.cli(["-o", "json", ...args, "-c", sb.config]);
  const ok = async (args: string[]) => {
    const r = await run(args);
    if (r.code !== 0) {
      assert.fail(`lifeboat ${args.join(" ")} exited ${r.code}:\n${r.stdout}\n${r.stderr}\n${await sb.agentsReport()}`);
    }
    return r;
  };
  const health = async () => jsonOf<Health>(await run(["etcd", "health"]));
  const clusterId = async () => (await health()).nodes[0]?.clusterId;
  const status = async () => jsonOf<Status>(await sb.cli(["-o", "json", "etcd", "snapshot-status", "-c", sb.config]));
  const etcdPids = () =>
    Promise.all([0, 1, 2].map(async (i) => Number(await readFile(join(nodeDir(i), "etcd.pid"), "utf8"))));
  /** What restores left in every node's restore folder (records of finished restores do not count). */
  const leftovers = async () =>
    (
      await Promise.all(
        [0, 1, 2].map(async (i) =>
          (await readdir(join(nodeDir(i), "restore")).catch(() => [] as string[]))
            .filter((n) => !/^restored-.*\.json$/.test(n))
            .map((n) => `node${i + 1}/${n}`),
        ),
      )
    ).flat();
  const saveAll = async (name: string) => {
    const out = jsonOf<{ nodes: { ok: boolean }[] }>(await ok(["etcd", "snapshot-save", "--name", name]));
    assert.deepEqual(
      out.nodes.map((n) => n.ok),
      [true, true, true],
      `every node saved ${name}`,
    );
  };
  const push = (interval: string) => ok(["etcd", "schedule", "push", "--interval", interval, "--jitter", "0s"]);
  /** Waits until every node has a recurring snapshot made after `since`. */
  const recurringAfter = (since: number) =>
    waitFor(
      "a recurring snapshot on every node",
      async () => {
        const s = await status();
        return s.nodes.every((n) => n.lastSuccess?.kind === "recurring" && Date.parse(n.lastSuccess.createdAt) > since);
      },
      90_000,
    );
  const editConfig = async (edit: (doc: { lifeboat: { snapshot: Record<string, unknown> } }) => void) => {
    const doc = parseYaml(await readFile(sb.config, "utf8")) as { lifeboat: { snapshot: Record<string, unknown> } };
    edit(doc);
    await writeFile(sb.config, stringifyYaml(doc), { mode: 0o600 });
  };

  let clients: AgentClient[] = [];
  const agents = () => clients;

  before(async () => {
    sb = await startTestSandbox({ series, etcdMode });
    const tls = cliTls((await readState(statePathFor(sb.config)))!);
    const { config } = await loadClusterConfig(sb.config);
    clients = config.etcdNodes.map((n) => new AgentClient({ endpoint: n.agent.endpoint, tls }));
    const etcd = await sb.etcd(0);
    for (let i = 0; i < 20; i++) await etcd.put(`/day/base/${i}`, `v${i}`);
    await saveAll("day1");
  });
  after(async () => {
    clients.forEach((c) => c.close());
    await sb?.down();
  });

  if (etcdMode === "external") {
    test(`${series}: the members run outside the agents, which control them only through cluster.yml's commands`, async () => {
      const agentPids = new Set(sb.info.nodes.map((n) => n.pid));
      for (const [i, pid] of (await etcdPids()).entries()) {
        const parent = Number((await readFile(`/proc/${pid}/stat`, "utf8")).split(") ")[1]?.split(" ")[1]);
        assert.ok(!agentPids.has(parent), `node${i + 1}'s etcd is not a child of its agent`);
        assert.match(await readFile(`/proc/${parent}/cmdline`, "utf8"), /sandbox\0supervise/);
      }
      const member = await Promise.all(agents().map((a) => a.call(routes.member)));
      assert.deepEqual(
        member.map((m) => [m.mode, m.state]),
        [0, 1, 2].map(() => ["external", "running"]),
      );
    });
  }

  test(`${series}: verify, then backups go on (one-time and recurring), and nothing is left in the restore folders`, async () => {
    // The manifest records what the live member held at the snapshot's revision; the verify compares all of it.
    const s3 = sandboxS3(sb.info);
    const original = await readLimited(s3, "day1.manifest.json", 1 << 20);
    assert.ok(original, "day1 is in S3");
    const manifest = JSON.parse(original.toString("utf8")) as {
      etcd: { revision: number };
      contents: { revision: number; keys: number; hashKV: number; compactRevision: number };
    };
    assert.equal(manifest.contents.keys, 20, "the key count at the snapshot's revision");
    assert.ok(
      manifest.contents.revision >= 21,
      `the revision the stream began at: ${JSON.stringify(manifest.contents)}`,
    );
    assert.equal(manifest.contents.revision, manifest.etcd.revision);
    const verify = jsonOf<{ ok: boolean; keys: number; revision: number; checked: string[]; hashKV: number }>(
      await ok(["etcd", "snapshot-verify", "--name", "day1"]),
    );
    assert.equal(verify.ok, true);
    assert.equal(verify.keys, 20);
    assert.deepEqual(verify.checked, ["revision", "keys", "hash"]);
    assert.equal(verify.hashKV, manifest.contents.hashKV, "the restored member's HashKV is the live member's");
    assert.deepEqual(await leftovers(), []);
    // A manifest whose recorded hash differs from what the snapshot restores to is caught (exit 4), and says so.
    try {
      const wrong = { ...manifest, contents: { ...manifest.contents, hashKV: (manifest.contents.hashKV + 1) >>> 0 } };
      await s3.put("day1.manifest.json", Buffer.from(JSON.stringify(wrong)));
      const mismatch = await run(["etcd", "snapshot-verify", "--name", "day1"]);
      assert.equal(mismatch.code, 4, mismatch.stderr);
      assert.match(mismatch.stdout, /HashKV at revision \d+ is \d+, the live member's was \d+/);
      assert.deepEqual(await leftovers(), []);
    } finally {
      await s3.put("day1.manifest.json", original);
      await s3.close();
    }
    const s = await status();
    assert.ok(
      s.nodes.every((n) => n.session === null && n.saving === null),
      "no node is held after a verify",
    );
    await saveAll("day2");
    const since = Date.now();
    await push("3s");
    await recurringAfter(since);
    await push("1h");
  });

  test(`${series}: a stored save (compression: none) is made in place on every node, lists, verifies and uploads; compressed saves go on`, async () => {
    await editConfig((doc) => void (doc.lifeboat.snapshot = { ...doc.lifeboat.snapshot, compression: "none" }));
    try {
      const etcd = await sb.etcd(0);
      await etcd.put("/day/stored", "kept in a stored archive");
      await saveAll("day-stored");
    } finally {
      await editConfig((doc) => void delete doc.lifeboat.snapshot.compression);
    }
    for (const i of [0, 1, 2]) {
      const dir = join(nodeDir(i), "snapshots");
      assert.deepEqual(
        (await readdir(dir)).filter((n) => n.startsWith(".")),
        [],
        `node${i + 1} keeps no part file`,
      );
      const file = await readFile(join(dir, "day-stored.zip"));
      const manifest = JSON.parse(await readFile(join(dir, "day-stored.manifest.json"), "utf8")) as {
        archive: { compression: string; size: number; sha256: string };
      };
      assert.equal(manifest.archive.compression, "store");
      assert.equal(manifest.archive.size, file.length);
      assert.equal(createHash("sha256").update(file).digest("hex"), manifest.archive.sha256);
      const tested = spawnSync("unzip", ["-t", join(dir, "day-stored.zip")], { encoding: "utf8" });
      assert.match(tested.stdout, /No errors detected/, `node${i + 1}: ${tested.stdout}${tested.stderr}`);
    }
    const list = jsonOf<{ snapshots: { name: string; location: string; status: string }[] }>(
      await ok(["etcd", "snapshot-list"]),
    );
    const copies = list.snapshots.filter((c) => c.name === "day-stored");
    assert.deepEqual(copies.map((c) => c.location).sort(), [
      "node:etcd-node1",
      "node:etcd-node2",
      "node:etcd-node3",
      "s3",
    ]);
    assert.ok(
      copies.every((c) => c.status === "ok"),
      JSON.stringify(copies),
    );
    const verify = jsonOf<{ ok: boolean; checked: string[] }>(
      await ok(["etcd", "snapshot-verify", "--name", "day-stored"]),
    );
    assert.equal(verify.ok, true);
    assert.deepEqual(verify.checked, ["revision", "keys", "hash"]);
    await saveAll("day-after-stored");
    const after = JSON.parse(
      await readFile(join(nodeDir(0), "snapshots", "day-after-stored.manifest.json"), "utf8"),
    ) as {
      archive: { compression: string };
    };
    assert.equal(after.archive.compression, "deflate", "the next save compresses again");
    assert.deepEqual(await leftovers(), []);
  });

  test(`${series}: a declined restore asks before any work, then a save and a scheduled slot still run`, async () => {
    const idBefore = await clusterId();
    const declined = await run(["etcd", "snapshot-restore", "--name", "day1"]);
    assert.equal(declined.code, 2, declined.stderr);
    assert.match(declined.stderr, /pass --yes to confirm.*nothing was changed/);
    assert.doesNotMatch(declined.stdout + declined.stderr, /\[restore\] (hold|prepare|distribute)/);
    assert.deepEqual(await leftovers(), [], "nothing was downloaded or extracted");
    assert.equal(await clusterId(), idBefore);
    assert.ok((await status()).nodes.every((n) => n.session === null));
    await saveAll("day3");
    const since = Date.now();
    await push("3s");
    await recurringAfter(since);
    await push("1h");
  });

  test(`${series}: snapshot-status says so while a restore holds the nodes, and not after`, async () => {
    const agent = agents()[1]!;
    const session = { session: "restore-status01", name: "day1" };
    try {
      await agent.call(routes.openSession, { body: { ...session, purpose: "restore" } });
      const held = await sb.cli(["etcd", "snapshot-status", "-c", sb.config]);
      assert.match(held.stdout, /etcd-node2: backups are NOT running: held by a restore of day1/);
      const save = await run(["etcd", "snapshot-save", "--name", "day-held"]);
      assert.equal(save.code, 3, "the held node refuses a save; the others take it");
      assert.match(save.stdout + save.stderr, /restore of day1 already in progress on etcd-node2/);
    } finally {
      await agent.call(routes.releaseSession, { body: session });
    }
    const free = await sb.cli(["etcd", "snapshot-status", "-c", sb.config]);
    assert.doesNotMatch(free.stdout, /NOT running/);
  });

  test(`${series}: a restore while the schedule runs pauses it, and recurring snapshots resume afterwards`, async () => {
    await push("2s");
    await sleep(2_500);
    const restore = await ok(["etcd", "snapshot-restore", "--name", "day2", "--yes", "--timeout", "60"]);
    assert.equal(jsonOf<{ plan: { name: string } }>(restore).plan.name, "day2");
    const ended = Date.now();
    assert.equal((await health()).healthy, 3);
    assert.deepEqual(await leftovers(), []);
    const s = await status();
    assert.ok(
      s.nodes.every((n) => n.session === null && n.paused === null),
      "no hold and no pause after the restore",
    );
    await recurringAfter(ended);
    const problems = s.nodes.flatMap((n) => n.problems);
    assert.deepEqual(
      problems.filter((p) => p.result === "failure"),
      [],
      "no recurring run failed because of the restore",
    );
    assert.ok(
      problems.some((p) => p.result === "skipped" && /(paused|cancelled): a restore of day2/.test(p.reason ?? "")),
      `slots during the restore were skipped, saying why: ${JSON.stringify(problems)}`,
    );
    await push("1h");
  });

  test(`${series}: restore, then --rollback puts the old data back; a second --rollback refuses and stops nothing`, async () => {
    const etcd = await sb.etcd(0);
    await etcd.put("/day/rollback/before", "kept");
    await saveAll("day4");
    await etcd.put("/day/rollback/after", "written-after-day4");
    const idBefore = await clusterId();
    await ok(["etcd", "snapshot-restore", "--name", "day4", "--yes", "--timeout", "60"]);
    assert.equal(await (await sb.etcd(0)).get("/day/rollback/after"), undefined, "the restore took day4's data");
    assert.notEqual(await clusterId(), idBefore);
    const pids = await etcdPids();
    const unconfirmed = await run(["etcd", "snapshot-restore", "--rollback"]);
    assert.equal(unconfirmed.code, 2, unconfirmed.stderr);
    assert.deepEqual(await etcdPids(), pids, "an unconfirmed rollback stops nothing");
    const rolled = await ok(["etcd", "snapshot-restore", "--rollback", "--yes", "--timeout", "60"]);
    const outcome = jsonOf<{ ok: boolean; kind: string; name: string }>(rolled);
    assert.deepEqual([outcome.ok, outcome.kind, outcome.name], [true, "undo", "day4"]);
    assert.equal(await clusterId(), idBefore, "the cluster from before the restore is back");
    assert.equal(await (await sb.etcd(1)).get("/day/rollback/after"), "written-after-day4");
    const pidsAfter = await etcdPids();
    const again = await run(["etcd", "snapshot-restore", "--rollback", "--yes"]);
    assert.equal(again.code, 2, again.stderr);
    assert.match(again.stderr, /nothing to roll back/);
    assert.deepEqual(await etcdPids(), pidsAfter, "the refused rollback stopped no member");
    assert.equal((await health()).healthy, 3);
  });

  if (etcdMode === "external") {
    test(`${series}: an external member that cannot start after the rebuild is rolled back through the commands`, async () => {
      const etcd = await sb.etcd(0);
      await etcd.put("/day/external/marker", "old-cluster");
      const idBefore = await clusterId();
      // Fault injection on node3's supervisor only: while a restore is applied there (the rollback record exists)
      // its etcd exits at once, as a member with a bad disk would; once the record is gone it starts normally.
      const spec = sb.info.nodes[2]!.memberSpec!;
      const original = await readFile(spec, "utf8");
      const real = await findEtcdTools({ series, developerCache: true });
      const bin = join(sb.dir, "cannot-start-bin");
      await mkdir(bin, { recursive: true });
      const record = join(nodeDir(2), "restore", "rollback.json");
      const script = `#!/bin/sh\nif [ -e "${record}" ]; then echo "member cannot start (simulated)" >&2; exit 1; fi\nexec ${real.etcd} "$@"\n`;
      await writeFile(join(bin, "etcd"), script, { mode: 0o755 });
      for (const tool of ["etcdctl", "etcdutl"] as const) if (real[tool]) await symlink(real[tool], join(bin, tool));
      await writeFile(spec, JSON.stringify({ ...(JSON.parse(original) as object), binaryDir: bin }));
      try {
        const r = await sb.cli([
          "etcd",
          "snapshot-restore",
          "-c",
          sb.config,
          "--name",
          "day1",
          "--yes",
          "--timeout",
          "20",
        ]);
        assert.equal(r.code, 5, `${r.stdout}\n${r.stderr}`);
        assert.match(r.stderr, /did not start within 20 s \(still starting: etcd-node3\)/);
        assert.match(r.stderr, /rolled back: every node has its old data and its member was restarted/);
      } finally {
        await writeFile(spec, original);
      }
      const h = await health();
      assert.equal(h.healthy, 3, JSON.stringify(h));
      assert.equal(await clusterId(), idBefore, "the old cluster is back");
      for (const i of [0, 1, 2]) assert.equal(await (await sb.etcd(i)).get("/day/external/marker"), "old-cluster");
      assert.deepEqual(await leftovers(), [], "nothing is left in the restore folders");
    });
  }

  test(`${series}: names are checked the same way by every command (exit 2), and an unknown one says where it looked`, async () => {
    for (const cmd of ["snapshot-restore", "snapshot-verify"]) {
      const evil = await run(["etcd", cmd, "--name", "../evil"]);
      assert.equal(evil.code, 2, `${cmd}: ${evil.stderr}`);
      assert.match(evil.stderr, /path separator/);
    }
    const unknown = await run(["etcd", "snapshot-restore", "--name", "no-such-snapshot", "--yes"]);
    assert.equal(unknown.code, 2, unknown.stderr);
    assert.match(unknown.stderr, /not found \(s3:.*no copy; node etcd-node1: no copy; node etcd-node2: no copy/);
  });

  test(`${series}: a broken manifest or a damaged only copy refuses (exit 4) and names each copy; an S3 error is not "absent"`, async () => {
    const s3 = sandboxS3(sb.info);
    const idBefore = await clusterId();
    try {
      await s3.put("day3.manifest.json", Buffer.from("{ not a manifest"));
      const broken = await run(["etcd", "snapshot-restore", "--name", "day3", "--yes"]);
      assert.equal(broken.code, 4, broken.stderr);
      assert.match(broken.stderr, /copy of snapshot \[day3\] in s3:.* is broken.*--local/);
      const local = await run(["etcd", "snapshot-restore", "--name", "day3", "--local", "--dry-run"]);
      assert.equal(local.code, 0, local.stderr);
      assert.equal(jsonOf<{ plan: { source: { kind: string } } }>(local).plan.source.kind, "node");
      await saveAll("only1");
      await s3.remove("only1.manifest.json");
      await s3.remove("only1.zip");
      for (const i of [0, 1, 2]) await writeFile(join(nodeDir(i), "snapshots", "only1.manifest.json"), "garbage");
      const damaged = await run(["etcd", "snapshot-restore", "--name", "only1", "--yes"]);
      assert.equal(damaged.code, 4, damaged.stderr);
      assert.match(damaged.stderr, /copy of snapshot \[only1\] in node etcd-node1 is broken \(manifest: /);
    } finally {
      await s3.close();
    }
    const failing = createServer((_req, res) => res.writeHead(500).end("<Error><Code>InternalError</Code></Error>"));
    await new Promise<void>((r) => failing.listen(0, "127.0.0.1", r));
    const port = (failing.address() as { port: number }).port;
    try {
      const flags = ["--s3", "--s3-endpoint", `http://127.0.0.1:${port}`, "--bucket-name", "b", "--access-key", "a"];
      const flaky: CliRun = await run([
        "etcd",
        "snapshot-restore",
        "--name",
        "day3",
        "--yes",
        ...flags,
        "--secret-key",
        "s",
      ]);
      assert.equal(flaky.code, 1, flaky.stderr);
      assert.match(flaky.stderr, /cannot look up snapshot \[day3\] in s3:.*untouched/);
      assert.doesNotMatch(flaky.stderr, /no manifest|not in s3/);
    } finally {
      failing.close();
    }
    assert.equal(await clusterId(), idBefore, "nothing was touched");
  });

  test(`${series}: Ctrl-C during a restore releases every node, removes what it fetched, and changes nothing`, async () => {
    const etcd = await sb.etcd(0);
    const big = "x".repeat(100_000);
    for (let i = 0; i < 150; i++) await etcd.put(`/day/big/${i}`, big);
    await saveAll("day-big");
    const idBefore = await clusterId();
    const args = [BIN, "etcd", "snapshot-restore", "-c", sb.config, "--name", "day-big", "--yes"];
    const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
      if (/\[restore\] prepare/.test(stdout) && child.signalCode === null && !child.killed) child.kill("SIGINT");
    });
    const [code] = (await once(child, "close")) as [number | null];
    assert.equal(code, 130, `${stdout}\n${stderr}`);
    assert.match(stderr, /SIGINT: stopping; releasing the nodes \(nothing was changed\)/);
    assert.doesNotMatch(stdout, /stop every member/);
    await waitFor("the fetched files gone from every node", async () => (await leftovers()).length === 0);
    assert.ok(
      (await status()).nodes.every((n) => n.session === null),
      "every node was released",
    );
    assert.equal(await clusterId(), idBefore);
    assert.equal(await (await sb.etcd(1)).get("/day/rollback/after"), "written-after-day4");
    await saveAll("after-ctrl-c");
  });

  test(`${series}: a full disaster while the schedule retries: restore from S3 with etcd's default bump`, async () => {
    // Long health-check retries: the recurring save keeps retrying while the members are dead.
    await editConfig((doc) => (doc.lifeboat.snapshot = { retries: 20, retry_pause_seconds: 10 }));
    await push("2s");
    // Every member down for good (a supervisor restarting them on empty data would make a new, empty cluster).
    await Promise.all(agents().map((a) => a.call(routes.stopMember, { timeoutMs: 60_000 })));
    for (const i of [0, 1, 2]) await rm(join(nodeDir(i), "etcd-data"), { recursive: true, force: true });
    for (const i of [0, 1]) await rm(join(nodeDir(i), "snapshots"), { recursive: true, force: true });
    await waitFor("a recurring save retrying its health check", async () =>
      (await status()).nodes.some((n) => n.saving?.endsWith("_etcd")),
    );
    const restore = await ok(["etcd", "snapshot-restore", "--name", "day4", "--yes", "--timeout", "90"]);
    const out = jsonOf<{ plan: { bump: { amount: number; reason: string }; source: { kind: string } } }>(restore);
    assert.equal(out.plan.source.kind, "s3");
    if (series === "3.4") {
      assert.equal(out.plan.bump.amount, 0);
      assert.match(
        out.plan.bump.reason,
        /cannot raise the revision on etcd-node1 \(etcdctl 3\.4\.\d+ has no --bump-revision\)/,
      );
    } else {
      assert.equal(out.plan.bump.amount, DEFAULT_BUMP);
      assert.match(out.plan.bump.reason, /no running member reported its revision/);
    }
    const h = await health();
    assert.equal(h.healthy, 3, JSON.stringify(h));
    if (series !== "3.4") assert.ok((h.nodes[0]?.revision ?? 0) > DEFAULT_BUMP);
    assert.equal(await (await sb.etcd(2)).get("/day/rollback/before"), "kept");
    await recurringAfter(Date.now());
    await push("1h");
  });
}
