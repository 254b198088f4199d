/**
 * An interrupted save: the uploading node's agent (and its etcd, as a service manager would kill the whole unit) dies
 * with SIGKILL while a snapshot of ~24 MiB of incompressible data streams. That node must be left with nothing that
 * lists as a snapshot (a hidden `.part` file may stay), the other nodes finish, another node uploads its copy, the
 * CLI exits 3, and the restarted agent saves again. The S3 secret appears in no output and no log.
 */
import { isAlive } from "../src/sandbox/sandbox.js";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, openSync } from "node:fs";
import { readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type { SaveReport } from "../src/fleet/save.js";
import { listCatalog, type CatalogEntry } from "../src/snapshot/catalog.js";
import { parseManifest } from "../src/snapshot/manifest.js";
import { LocalStore } from "../src/store/local.js";
import { openStore } from "../src/store/open.js";
import { BIN, jsonOf, type CliRun } from "./helpers/cli.js";
import { startTestSandbox, type TestSandbox } from "./helpers/sandbox.js";

const SECRET = `lifeboat-test-secret-${randomBytes(8).toString("hex")}`;
/** Enough incompressible data that the stream takes seconds on every node (deflate cannot shrink it). */
const DATA_MIB = 24;

void describe("snapshot-save interrupted by a killed agent", () => {
  let sb: TestSandbox;
  let victim = -1;
  let restartedPid: number | undefined;
  const runs: CliRun[] = [];
  const snapshotDir = (i: number) => join(sb.dir, "nodes", `node${i + 1}`, "snapshots");
  const agentDir = (i: number) => join(sb.dir, "nodes", `node${i + 1}`, "agent");
  const cli = async (args: string[]) => {
    const run = await sb.cli(args);
    runs.push(run);
    return run;
  };
  const save = (name: string) =>
    cli(["--output", "json", "etcd", "snapshot-save", "--config", sb.config, "--name", name]);
  const waitHealthy = async (ms: number) => {
    const deadline = Date.now() + ms;
    for (;;) {
      const run = await cli(["--output", "json", "etcd", "health", "--config", sb.config]);
      if (run.code === 0) return jsonOf<{ nodes: { node: string; isLeader: boolean }[] }>(run);
      assert.ok(Date.now() < deadline, `not healthy after ${ms} ms: ${run.stdout}`);
      await sleep(250);
    }
  };

  before(async () => {
    sb = await startTestSandbox({ nodes: 3 });
    const yml = await readFile(sb.config, "utf8");
    await writeFile(sb.config, yml.replace(/secret_key: S3RVER/, `secret_key: ${SECRET}`));
    const c = await sb.etcd(0);
    for (let i = 0; i < DATA_MIB; i += 8) {
      await Promise.all(Array.from({ length: 8 }, (_, j) => c.put(`/big/${i + j}`, randomBytes(1 << 20))));
    }
  });
  after(async () => {
    // The restarted agent is not in sandbox.json: stop it (it stops its etcd) alongside the sandbox's own teardown,
    // which reaches that etcd only after its own agents are gone.
    const stopRestarted = async (pid: number | undefined) => {
      if (pid === undefined || !isAlive(pid)) return;
      process.kill(pid, "SIGTERM");
      for (let i = 0; i < 300 && isAlive(pid); i++) await sleep(100);
      if (isAlive(pid)) process.kill(-pid, "SIGKILL");
    };
    await Promise.all([stopRestarted(restartedPid), sb?.down()]);
  });

  void test("the uploader's agent killed mid-stream: nothing lists there, the others save, another node uploads", async () => {
    const health = await waitHealthy(10_000);
    victim = health.nodes.findIndex((n) => n.isLeader);
    assert.ok(victim >= 0, "the leader is the uploader");
    const agentPid = sb.info.nodes[victim]!.pid;
    const running = save("interrupted");

    // Wait until the archive is really streaming into its hidden temp file, then kill the agent's process group.
    const dir = snapshotDir(victim);
    let partial: { file: string; size: number } | undefined;
    for (let i = 0; i < 600 && !partial; i++) {
      for (const file of await readdir(dir).catch(() => [] as string[])) {
        if (!/^\.interrupted\.zip\.[0-9a-f]{8}\.part$/.test(file)) continue;
        const { size } = await stat(join(dir, file)).catch(() => ({ size: 0 }));
        if (size >= 2 << 20) partial = { file, size };
      }
      if (!partial) await sleep(25);
    }
    assert.ok(partial, "the save was seen streaming");
    process.kill(-agentPid, "SIGKILL");

    const run = await running;
    assert.equal(run.code, 3, run.stderr);
    const report = jsonOf<SaveReport>(run);
    const byNode = report.nodes.map((n) => [n.node, n.ok, n.uploader]);
    assert.deepEqual(
      byNode,
      [0, 1, 2].map((i) => [`etcd-node${i + 1}`, i !== victim, i === victim]),
    );
    assert.match(report.nodes[victim]?.reason ?? "", /^agent \S+ closed the response early/);
    assert.equal(report.s3?.ok, true, "another node's copy was uploaded instead");
    assert.notEqual(report.s3?.node, `etcd-node${victim + 1}`);
    assert.equal(isAlive(agentPid), false);

    // On the killed node: no archive, no manifest; at most the hidden temp files (the member's spooled stream and the
    // archive being written, src/snapshot/spool.ts), which never list and which the next agent start removes.
    const files = await readdir(dir);
    assert.deepEqual(
      files.filter((f) => !f.startsWith(".")),
      [],
    );
    assert.ok(
      files.every((f) => /^\.interrupted\.(db|zip)\.[0-9a-f]{8}\.part$/.test(f)),
      files.join(", "),
    );
    assert.deepEqual(await listCatalog(new LocalStore(dir), "node:killed"), []);

    // S3 holds the copy of the node that uploaded, whole.
    const bucket = openStore({
      endpoint: sb.info.s3.endpoint,
      bucket: "lifeboat",
      folder: "sandbox",
      accessKey: "S3RVER",
      secretKey: SECRET,
      addressing: "path",
    });
    try {
      const remote = (await listCatalog(bucket, "s3")).filter((e) => e.name === "interrupted");
      assert.equal(remote.length, 1);
      const uploader = Number(report.s3?.node?.replace("etcd-node", "")) - 1;
      const local = parseManifest(await readFile(join(snapshotDir(uploader), "interrupted.manifest.json"), "utf8"));
      assert.ok(local.ok);
      assert.equal(remote[0]?.status, "ok");
      assert.equal(remote[0]?.manifest?.archive.sha256, local.manifest.archive.sha256);
      assert.ok(local.manifest.archive.size > DATA_MIB << 20, "the archive holds the incompressible data");
    } finally {
      await bucket.close();
    }
  });

  void test("the agent is restarted and saves again; the interrupted copy still does not list", async () => {
    assert.ok(victim >= 0);
    const log = openSync(join(agentDir(victim), "agent.log"), "a");
    const child = spawn(process.execPath, [BIN, "agent", "--dir", agentDir(victim)], {
      detached: true,
      stdio: ["ignore", log, log],
    });
    closeSync(log);
    child.unref();
    restartedPid = child.pid;
    await waitHealthy(30_000);

    const run = await save("after-restart");
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.ok(jsonOf<SaveReport>(run).nodes.every((n) => n.ok));

    const list = await cli(["--output", "json", "etcd", "snapshot-list", "--config", sb.config]);
    assert.equal(list.code, 0, list.stderr);
    const { snapshots } = jsonOf<{ snapshots: CatalogEntry[] }>(list);
    const here = snapshots.filter((s) => s.location === `node:etcd-node${victim + 1}`);
    assert.deepEqual(
      here.map((s) => [s.name, s.status]),
      [["after-restart", "ok"]],
    );
    const elsewhere = snapshots.filter((s) => s.name === "interrupted").map((s) => [s.location, s.status]);
    assert.equal(elsewhere.length, 3, "two nodes and S3 hold it");
    assert.ok(elsewhere.every(([, status]) => status === "ok"));
  });

  void test("the secret key appears in no output and in no log", async () => {
    assert.ok((await readFile(sb.config, "utf8")).includes(SECRET));
    for (const run of runs) {
      assert.ok(
        !run.stdout.includes(SECRET) && !run.stderr.includes(SECRET),
        `leaked in:\n${run.stdout}\n${run.stderr}`,
      );
    }
    for (let i = 0; i < 3; i++) {
      for (const log of ["agent.log", "etcd.log"]) {
        assert.ok(!(await readFile(join(agentDir(i), log), "utf8")).includes(SECRET), `leaked in node${i + 1}/${log}`);
      }
    }
    assert.ok(!(await readFile(join(sb.dir, "s3.log"), "utf8")).includes(SECRET));
  });
});
