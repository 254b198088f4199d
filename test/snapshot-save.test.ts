/**
 * `lifeboat etcd snapshot-save` and `snapshot-list` against a real 3-member TLS cluster and S3 server from the sandbox
 * (issue 3's "Done means"): RKE's names, entries and 0600 archives on every node; one object plus manifest in S3; a
 * snapshot that etcd's own tool restores; RKE archives and raw etcdctl files listed and read; a stopped member
 * skipped with a partial exit; S3 failures that keep the local copies; invalid names refused up front; and a secret
 * that appears in no output and no log.
 */
import assert from "node:assert/strict";
import { routes } from "../src/api/routes.js";
import { createHash, randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { copyFile, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { AgentClient } from "../src/agent/client.js";
import { extractSnapshot, readStateFile } from "../src/archive/rke.js";
import { openZip, ZipWriter } from "../src/archive/zip.js";
import { cliTls } from "../src/fleet/open.js";
import { readState } from "../src/config/state.js";
import type { SaveReport } from "../src/fleet/save.js";
import { formatBytes } from "../src/cli/output.js";
import { VERSION } from "../src/cli/version.js";
import { findEtcdTools, type EtcdTools } from "../src/etcd/binaries.js";
import { EtcdMemberClient } from "../src/etcd/client.js";
import { runCommand } from "../src/etcd/exec.js";
import { ManagedMember } from "../src/etcd/member.js";
import type { CatalogEntry } from "../src/snapshot/catalog.js";
import { INDEX_KEY, parseIndex } from "../src/snapshot/listing-index.js";
import { parseManifest, serializeManifest, type Manifest } from "../src/snapshot/manifest.js";
import { openStore } from "../src/store/open.js";
import type { Store } from "../src/store/store.js";
import { silentLogger } from "../src/util/log.js";
import { allocateLoopbackHosts } from "../src/util/net.js";
import { jsonOf, type CliRun } from "./helpers/cli.js";
import { startTestSandbox, type TestSandbox } from "./helpers/sandbox.js";

const SECRET = `lifeboat-test-secret-${randomBytes(8).toString("hex")}`;
const KEYS = Array.from({ length: 20 }, (_, i) => [`/registry/test/key-${i}`, `value-${i}-${"x".repeat(i * 10)}`]);

const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");

async function readEntry(zipPath: string, entry: string): Promise<Buffer> {
  const zip = await openZip(zipPath);
  try {
    const chunks: Buffer[] = [];
    for await (const c of zip.openEntry(entry)) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  } finally {
    await zip.close();
  }
}

async function filesIn(dir: string): Promise<string[]> {
  return (await readdir(dir).catch(() => [] as string[])).sort();
}

/** etcd's offline tool for snapshots: etcdutl from 3.5 on, `ETCDCTL_API=3 etcdctl` before. */
function offlineTool(tools: EtcdTools): { file: string; env: NodeJS.ProcessEnv } {
  return tools.etcdutl
    ? { file: tools.etcdutl, env: process.env }
    : { file: tools.etcdctl, env: { ...process.env, ETCDCTL_API: "3" } };
}

void describe("snapshot-save and snapshot-list on a 3-member TLS cluster with S3", () => {
  let sb: TestSandbox;
  let tools: EtcdTools;
  let work: string;
  let bucket: Store;
  let defaultName = "";
  const runs: CliRun[] = [];
  const snapshotDir = (i: number) => join(sb.dir, "nodes", `node${i + 1}`, "snapshots");
  const agentDir = (i: number) => join(sb.dir, "nodes", `node${i + 1}`, "agent");

  /** Every command goes through here, so that the secret check sees all output. */
  const cli = async (args: string[], env?: NodeJS.ProcessEnv) => {
    const run = await sb.cli(args, env);
    runs.push(run);
    return run;
  };
  const save = (...args: string[]) =>
    cli(["--output", "json", "etcd", "snapshot-save", "--config", sb.config, ...args]);
  const readObject = async (key: string) => {
    const chunks: Buffer[] = [];
    for await (const c of await bucket.get(key)) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  };
  const agentOf = async (i: number) => {
    const state = await readState(join(sb.dir, "cluster.rkestate"));
    assert.ok(state);
    return new AgentClient({ endpoint: `${sb.info.nodes[i]!.host}:7443`, tls: cliTls(state) });
  };

  before(async () => {
    sb = await startTestSandbox({ nodes: 3 });
    work = await mkdtemp(join(tmpdir(), "lifeboat-save-work-"));
    // s3rver accepts any secret with its access key: a distinctive one lets the test look for leaks.
    const yml = await readFile(sb.config, "utf8");
    assert.match(yml, /secret_key: S3RVER/);
    await writeFile(sb.config, yml.replace(/secret_key: S3RVER/, `secret_key: ${SECRET}`));
    const series = process.env.LIFEBOAT_TEST_ETCD_SERIES;
    tools = await findEtcdTools({ ...(series ? { series } : {}), developerCache: true });
    bucket = openStore({
      endpoint: sb.info.s3.endpoint,
      bucket: "lifeboat",
      accessKey: "S3RVER",
      secretKey: SECRET,
      addressing: "path",
    });
    const c = await sb.etcd(0);
    for (const [k, v] of KEYS) await c.put(k!, v!);
  });
  after(async () => {
    await bucket?.close();
    await sb?.down();
    await rm(work, { recursive: true, force: true });
  });

  void test("invalid names exit 2 before anything runs", async () => {
    const cases: [string, RegExp][] = [
      ["a/b", /path separator/],
      ["..", /"\.\."/],
      ["bad\u0001name", /control character/],
      ["n".repeat(201), /longer than 200 characters/],
      ["2026-01-01T00:00:00Z_etcd", /reserved for recurring snapshots/],
    ];
    for (const [name, reason] of cases) {
      const run = await cli(["etcd", "snapshot-save", "--config", sb.config, "--name", name]);
      assert.equal(run.code, 2, `${JSON.stringify(name)}: ${run.stderr}`);
      assert.match(run.stderr, /^error: --name: /m);
      assert.match(run.stderr, reason);
      assert.equal(run.stdout, "");
    }
    for (let i = 0; i < 3; i++) {
      assert.deepEqual(await filesIn(snapshotDir(i)), [], "no node wrote anything");
      assert.doesNotMatch(await readFile(join(agentDir(i), "agent.log"), "utf8"), /"msg":"snapshot (saved|failed)"/);
    }
    assert.deepEqual(await bucket.list(""), []);
  });

  void test("without --name: RKE's name in local time, saved on all three nodes and uploaded once", async () => {
    const before = Date.now();
    const run = await save();
    // Asia/Kolkata has a half-hour offset and no daylight saving: the name must carry "+05:30".
    const tz = await cli(["--output", "json", "etcd", "snapshot-save", "--config", sb.config], { TZ: "Asia/Kolkata" });
    assert.equal(run.code, 0, run.stderr);
    assert.equal(tz.code, 0, tz.stderr);
    const report = jsonOf<SaveReport>(run);
    defaultName = report.name;
    assert.match(defaultName, /^rke_etcd_snapshot_\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)$/);
    const tzName = jsonOf<SaveReport>(tz).name;
    assert.match(tzName, /^rke_etcd_snapshot_\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+05:30$/);
    for (const n of [defaultName, tzName]) {
      const at = Date.parse(n.slice("rke_etcd_snapshot_".length));
      assert.ok(at >= Math.floor(before / 1000) * 1000 && at <= Date.now(), `${n} is the time of the save`);
    }
    assert.match(
      run.stderr,
      new RegExp(`Name of the snapshot is not specified, using \\[${defaultName.replace(/[+.]/g, "\\$&")}\\]`),
    );
    assert.deepEqual(
      report.nodes.map((n) => [n.node, n.ok]),
      [
        ["etcd-node1", true],
        ["etcd-node2", true],
        ["etcd-node3", true],
      ],
    );
    assert.equal(report.nodes.filter((n) => n.uploader).length, 1);
    assert.equal(report.s3?.ok, true);
    assert.equal(report.s3?.node, report.nodes.find((n) => n.uploader)?.node);
    assert.equal(report.exitCode, 0);
    // Not a terminal, -o json: progress is plain lines on stderr, each node's last one with the snapshot's size.
    const localManifest = async (i: number) =>
      parseManifest(await readFile(join(snapshotDir(i), `${defaultName}.manifest.json`), "utf8"));
    for (let i = 0; i < 3; i++) {
      const m = await localManifest(i);
      assert.ok(m.ok);
      const size = formatBytes(m.manifest.snapshot.size).replace(".", "\\.");
      const line = new RegExp(`^etcd-node${i + 1} save: ${size} of ${size} \\(100%\\) in [\\d.]+ m?s`, "m");
      assert.match(run.stderr, line);
    }
    assert.doesNotMatch(run.stdout, / save: /, "stdout holds the JSON alone");
  });

  void test("each node holds <name>.zip (0600) with RKE's entries, and a manifest that matches it", async () => {
    const name = defaultName;
    const stateFile = await readFile(join(sb.dir, "cluster.rkestate"));
    const manifests: Manifest[] = [];
    for (let i = 0; i < 3; i++) {
      const dir = snapshotDir(i);
      const zipPath = join(dir, `${name}.zip`);
      assert.ok((await filesIn(dir)).includes(`${name}.zip`));
      assert.equal((await filesIn(dir)).filter((f) => f.startsWith(".")).length, 0, "no temp files are left");
      assert.equal((await stat(zipPath)).mode & 0o777, 0o600);
      assert.equal((await stat(join(dir, `${name}.manifest.json`))).mode & 0o777, 0o600);

      const zip = await openZip(zipPath);
      const entries = zip.entries.map((e) => [e.name, e.method]);
      await zip.close();
      assert.deepEqual(entries, [
        [`/backup/${name}`, 8],
        [`/etc/kubernetes/${name}.rkestate`, 8],
      ]);
      assert.deepEqual(await readEntry(zipPath, `/etc/kubernetes/${name}.rkestate`), stateFile);

      const parsed = parseManifest(await readFile(join(dir, `${name}.manifest.json`), "utf8"));
      assert.ok(parsed.ok, parsed.ok ? "" : parsed.reason);
      const m = parsed.manifest;
      manifests.push(m);
      const snapshot = await readEntry(zipPath, `/backup/${name}`);
      const archive = await readFile(zipPath);
      assert.equal(snapshot.length % 512, 32, "etcd's snapshot: pages plus a 32-byte trailer");
      const trailer = snapshot.subarray(-32).toString("hex");
      assert.equal(trailer, sha256(snapshot.subarray(0, -32)), "etcd's trailer verifies");
      assert.deepEqual(
        {
          ...m,
          createdAt: "",
          clusterId: "",
          memberId: "",
          etcd: { ...m.etcd, revision: 0, dbSize: 0 },
          contents: m.contents && { ...m.contents, revision: 0, hashKV: 0 },
        },
        {
          formatVersion: 1,
          name,
          kind: "one-time",
          clusterId: "",
          node: `etcd-node${i + 1}`,
          memberId: "",
          createdAt: "",
          etcd: { version: tools.version, revision: 0, dbSize: 0 },
          snapshot: { entry: `/backup/${name}`, size: snapshot.length, sha256: sha256(snapshot), dbSha256: trailer },
          archive: {
            file: `${name}.zip`,
            format: "zip",
            compression: "deflate",
            size: archive.length,
            sha256: sha256(archive),
          },
          stateFile: { included: true, entry: `/etc/kubernetes/${name}.rkestate` },
          encryption: null,
          contents: { revision: 0, keys: KEYS.length, hashKV: 0, compactRevision: -1 },
          tool: { name: "lifeboat", version: VERSION },
        },
      );
      assert.ok(m.etcd.revision >= KEYS.length + 1 && m.etcd.dbSize > 0);
      assert.equal(m.contents?.revision, m.etcd.revision, "contents are at the revision the stream began at");
    }
    // Members at one revision hold the same keys: etcd's HashKV agrees across them (its own corruption check).
    assert.equal(new Set(manifests.map((m) => `${m.contents?.revision}:${m.contents?.hashKV}`)).size, 1);
    assert.equal(new Set(manifests.map((m) => m.clusterId)).size, 1, "one cluster");
    assert.equal(new Set(manifests.map((m) => m.memberId)).size, 3, "each snapshot from its own member");
  });

  void test("S3 holds exactly one archive and its manifest, under the folder", async () => {
    const name = defaultName;
    const keys = (await bucket.list("")).map((o) => o.key).filter((k) => k.includes(name));
    assert.deepEqual(keys.sort(), [`sandbox/${name}.manifest.json`, `sandbox/${name}.zip`]);
    const remoteManifest = parseManifest((await readObject(`sandbox/${name}.manifest.json`)).toString("utf8"));
    assert.ok(remoteManifest.ok);
    const uploader = remoteManifest.manifest.node;
    const i = Number(uploader.replace("etcd-node", "")) - 1;
    const local = parseManifest(await readFile(join(snapshotDir(i), `${name}.manifest.json`), "utf8"));
    assert.ok(local.ok);
    assert.deepEqual(remoteManifest.manifest, local.manifest, "the uploader's manifest, as is");
    const object = await readObject(`sandbox/${name}.zip`);
    assert.equal(sha256(object), local.manifest.archive.sha256);
    assert.deepEqual(object, await readFile(join(snapshotDir(i), `${name}.zip`)));
  });

  void test("the uploader wrote the folder's listing index; a manifest changed behind it lists as it is now", async () => {
    const name = defaultName;
    const manifestKey = `sandbox/${name}.manifest.json`;
    const listed = await bucket.list("sandbox/");
    const indexObject = listed.find((o) => o.key === `sandbox/${INDEX_KEY}`);
    assert.ok(indexObject, `the uploader wrote ${INDEX_KEY}`);
    const original = await readObject(manifestKey);
    const index = parseIndex((await readObject(indexObject.key)).toString("utf8"));
    assert.ok(index, "the index parses with its schema");
    const listedManifest = listed.find((o) => o.key === manifestKey);
    // s3rver lists ETags (an MD5, as AWS does for a single-part upload): the index holds the manifest as listed.
    assert.match(listedManifest?.etag ?? "", /^[0-9a-f]{32}$/);
    assert.deepEqual(index.manifests[`${name}.manifest.json`], {
      etag: listedManifest?.etag,
      size: original.length,
      text: original.toString("utf8"),
    });

    // Behind the index's back: the same manifest with another revision (the archive is untouched, so still "ok").
    const parsed = parseManifest(original.toString("utf8"));
    assert.ok(parsed.ok);
    const changed = { ...parsed.manifest, etcd: { ...parsed.manifest.etcd, revision: 424242 } };
    await bucket.put(manifestKey, Buffer.from(serializeManifest(changed)));
    const s3Revision = async () => {
      const run = await cli(["--output", "json", "etcd", "snapshot-list", "--config", sb.config]);
      assert.equal(run.code, 0, run.stderr);
      const entry = jsonOf<{ snapshots: CatalogEntry[] }>(run).snapshots.find(
        (e) => e.name === name && e.location === "s3",
      );
      return [entry?.status, entry?.manifest?.etcd.revision];
    };
    try {
      assert.deepEqual(await s3Revision(), ["ok", 424242], "the manifest as it is now, not the index's copy");
      const after = (await bucket.list("sandbox/")).find((o) => o.key === indexObject.key);
      assert.equal(after?.etag, indexObject.etag, "a listing never writes the index");
    } finally {
      await bucket.put(manifestKey, original);
    }
    assert.deepEqual(await s3Revision(), ["ok", parsed.manifest.etcd.revision]);
  });

  void test("the snapshot in an archive restores with etcd's own tool, and a member started on it has the keys", async () => {
    const db = join(work, "db");
    await writeFile(db, await readEntry(join(snapshotDir(0), `${defaultName}.zip`), `/backup/${defaultName}`));
    const [host] = (await allocateLoopbackHosts(1, [2379, 2380])) as [string];
    const peer = `http://${host}:2380`;
    const { file, env } = offlineTool(tools);
    const restore = (snapshot: string, dataDir: string) =>
      runCommand(
        file,
        [
          "snapshot",
          "restore",
          snapshot,
          `--data-dir=${dataDir}`,
          "--name=restored",
          `--initial-cluster=restored=${peer}`,
          `--initial-advertise-peer-urls=${peer}`,
          "--initial-cluster-token=restored-token",
        ],
        { timeoutMs: 60_000, env },
      );

    // The tool checks etcd's trailer: one flipped byte in the database is refused.
    const bad = Buffer.from(await readFile(db));
    bad[4096] = bad[4096]! ^ 0xff;
    await writeFile(join(work, "db-corrupt"), bad);
    const refused = await restore(join(work, "db-corrupt"), join(work, "corrupt-data"));
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /expected sha256 \[[\d ]+\], got \[[\d ]+\]/);

    const ok = await restore(db, join(work, "restored-data"));
    assert.equal(ok.code, 0, ok.stderr);
    const member = new ManagedMember(
      {
        name: "restored",
        dataDir: join(work, "restored-data"),
        clientUrl: `http://${host}:2379`,
        peerUrl: peer,
        initialCluster: `restored=${peer}`,
        initialClusterState: "new",
        initialClusterToken: "restored-token",
        logFile: join(work, "restored.log"),
      },
      tools,
      silentLogger,
    );
    const client = await EtcdMemberClient.connect({ endpoint: `http://${host}:2379` });
    try {
      await member.start();
      for (const [k, v] of KEYS) assert.equal(await client.get(k!), v);
      assert.equal(await client.count("/registry/test/"), KEYS.length);
    } finally {
      client.close();
      await member.stop();
    }
  });

  void test("an archive in RKE's layout and a raw etcdctl snapshot are listed (no manifest) and read", async () => {
    const raw = join(work, "etcdctl.db");
    const certs = agentDir(0);
    const saved = await runCommand(
      tools.etcdctl,
      [
        `--endpoints=https://${sb.info.nodes[0]!.host}:2379`,
        `--cacert=${join(certs, "ca.pem")}`,
        `--cert=${join(certs, "etcd-client.pem")}`,
        `--key=${join(certs, "etcd-client-key.pem")}`,
        "snapshot",
        "save",
        raw,
      ],
      { timeoutMs: 60_000, env: { ...process.env, ETCDCTL_API: "3" } },
    );
    assert.equal(saved.code, 0, saved.stderr);
    const rawBytes = await readFile(raw);
    const stateFile = await readFile(join(sb.dir, "cluster.rkestate"));

    // What RKE's rke-tools writes: a zip with absolute entry names.
    const rkeName = "backup-made-by-rke";
    const rkeZip = join(snapshotDir(0), `${rkeName}.zip`);
    const writer = new ZipWriter();
    const written = pipeline(writer.output, createWriteStream(rkeZip, { mode: 0o600 }));
    await writer.addEntry(`/backup/${rkeName}`, rawBytes);
    await writer.addEntry(`/etc/kubernetes/${rkeName}.rkestate`, stateFile);
    await writer.finish();
    await written;
    await copyFile(raw, join(snapshotDir(1), "db-from-etcdctl"));

    const run = await cli(["--output", "json", "etcd", "snapshot-list", "--config", sb.config]);
    assert.equal(run.code, 0, run.stderr);
    const { snapshots, errors } = jsonOf<{ snapshots: CatalogEntry[]; errors: unknown[] }>(run);
    assert.deepEqual(errors, []);
    const pick = (name: string) =>
      snapshots.filter((s) => s.name === name).map((s) => [s.location, s.format, s.status, s.size]);
    assert.deepEqual(pick(rkeName), [["node:etcd-node1", "zip", "no-manifest", (await stat(rkeZip)).size]]);
    assert.deepEqual(pick("db-from-etcdctl"), [["node:etcd-node2", "raw", "no-manifest", rawBytes.length]]);
    assert.deepEqual(
      snapshots
        .filter((s) => s.name === defaultName)
        .map((s) => [s.location, s.status])
        .sort(),
      [
        ["node:etcd-node1", "ok"],
        ["node:etcd-node2", "ok"],
        ["node:etcd-node3", "ok"],
        ["s3", "ok"],
      ],
    );
    // Object keys are not secrets: -o json prints each copy's key as it is in its store.
    const keyOf = (name: string) => [...new Set(snapshots.filter((s) => s.name === name).map((s) => s.key))];
    assert.deepEqual(keyOf(defaultName), [`${defaultName}.zip`]);
    assert.deepEqual(keyOf(rkeName), [`${rkeName}.zip`]);
    assert.deepEqual(keyOf("db-from-etcdctl"), ["db-from-etcdctl"]);
    assert.doesNotMatch(run.stdout, /\*\*\*/, "nothing in a listing is a secret");
    const text = await cli(["etcd", "snapshot-list", "--config", sb.config]);
    assert.match(text.stdout, new RegExp(`^${rkeName}\\s+node:etcd-node1\\s.*no-manifest`, "m"));
    assert.match(text.stdout, /^db-from-etcdctl\s+node:etcd-node2\s.*no-manifest/m);

    // Read them back the way a restore does: the trailer is verified and the state file found.
    const trailer = rawBytes.subarray(-32).toString("hex");
    const fromZip = await extractSnapshot(rkeZip, rkeName, join(work, "from-rke-zip"));
    assert.deepEqual([fromZip.format, fromZip.entry, fromZip.dbSha256], ["zip", `/backup/${rkeName}`, trailer]);
    assert.deepEqual(await readStateFile(rkeZip, rkeName), stateFile);
    const fromRaw = await extractSnapshot(
      join(snapshotDir(1), "db-from-etcdctl"),
      "db-from-etcdctl",
      join(work, "from-raw"),
    );
    assert.deepEqual([fromRaw.format, fromRaw.dbSha256, fromRaw.size], ["raw", trailer, rawBytes.length]);
    assert.deepEqual(await readFile(join(work, "from-raw")), rawBytes);
  });

  void test("a stopped member is reported and skipped while the others save: exit 3", async () => {
    const agent = await agentOf(2);
    try {
      await agent.call(routes.stopMember);
      const run = await save("--name", "with-a-member-down");
      assert.equal(run.code, 3, run.stderr);
      const report = jsonOf<SaveReport>(run);
      assert.deepEqual(
        report.nodes.map((n) => [n.node, n.ok]),
        [
          ["etcd-node1", true],
          ["etcd-node2", true],
          ["etcd-node3", false],
        ],
      );
      assert.match(report.nodes[2]?.reason ?? "", /^member unreachable: /);
      assert.equal(report.nodes[2]?.uploader, false, "a stopped member is never the uploader");
      assert.equal(report.s3?.ok, true);
      assert.equal(report.exitCode, 3);
      assert.deepEqual(
        (await filesIn(snapshotDir(2))).filter((f) => f.includes("with-a-member-down")),
        [],
      );
      for (const i of [0, 1]) {
        assert.ok((await filesIn(snapshotDir(i))).includes("with-a-member-down.manifest.json"));
      }
    } finally {
      await agent.call(routes.startMember);
      agent.close();
    }
    for (let i = 0; ; i++) {
      const health = await cli(["etcd", "health", "--config", sb.config]);
      if (health.code === 0) break;
      assert.ok(i < 25, `the cluster did not recover: ${health.stdout}`);
      await sleep(200);
    }
  });

  void test("a wrong bucket, an unknown access key and a dead endpoint: one clear S3 error, exit 3, local copies kept", async () => {
    const [deadHost] = (await allocateLoopbackHosts(1, [9000])) as [string];
    const cases = [
      {
        name: "s3-wrong-bucket",
        flags: ["--bucket-name", "no-such-bucket", "--s3-endpoint", sb.info.s3.endpoint, "--access-key", "S3RVER"],
        error: 'bucket "no-such-bucket" does not exist',
      },
      {
        name: "s3-unknown-key",
        flags: ["--bucket-name", "lifeboat", "--s3-endpoint", sb.info.s3.endpoint, "--access-key", "NOT-A-KEY"],
        error: "access denied: check access_key/secret_key",
      },
      {
        name: "s3-dead-endpoint",
        flags: ["--bucket-name", "lifeboat", "--s3-endpoint", `http://${deadHost}:9000`, "--access-key", "S3RVER"],
        error: `cannot reach S3 endpoint http://${deadHost}:9000`,
      },
    ];
    for (const c of cases) {
      const run = await cli([
        "etcd",
        "snapshot-save",
        "--config",
        sb.config,
        "--name",
        c.name,
        "--s3",
        ...c.flags,
        "--secret-key",
        SECRET,
        "--region",
        "us-east-1",
        "--folder",
        "elsewhere",
      ]);
      assert.equal(run.code, 3, `${c.name}: ${run.stdout}\n${run.stderr}`);
      const s3Lines = run.stdout.split("\n").filter((l) => /^S3:/.test(l));
      assert.equal(s3Lines.length, 1, run.stdout);
      assert.match(s3Lines[0]!, /^S3: upload FAILED to s3:\/\/\S+\/elsewhere \(http:\/\/[^)]+\): /);
      assert.match(s3Lines[0]!, /; local archives are kept$/);
      assert.equal(run.stdout.split(c.error).length - 1, 1, `the error is said once:\n${run.stdout}`);
      assert.match(run.stdout, /^etcd-node1\s+saved/m);
      for (let i = 0; i < 3; i++) {
        const files = await filesIn(snapshotDir(i));
        assert.ok(
          files.includes(`${c.name}.zip`) && files.includes(`${c.name}.manifest.json`),
          `${c.name} kept on node ${i + 1}`,
        );
      }
      assert.deepEqual(
        (await bucket.list("")).filter((o) => o.key.includes(c.name)),
        [],
      );
    }
  });

  void test("the secret key appears in no output and in no log", async () => {
    assert.ok(runs.length >= 10);
    assert.ok((await readFile(sb.config, "utf8")).includes(SECRET), "the config really holds the secret");
    for (const run of runs) {
      assert.ok(
        !run.stdout.includes(SECRET) && !run.stderr.includes(SECRET),
        `leaked in:\n${run.stdout}\n${run.stderr}`,
      );
    }
    const logs = [join(sb.dir, "s3.log")];
    for (let i = 0; i < 3; i++) logs.push(join(agentDir(i), "agent.log"), join(agentDir(i), "etcd.log"));
    for (const log of logs) assert.ok(!(await readFile(log, "utf8")).includes(SECRET), `leaked in ${log}`);
  });
});
