/**
 * The real commands, run in-process over a fake fleet (test/helpers/fake-fleet.ts): only the nodes are in memory;
 * cluster.yml is parsed for real, S3 is a directory store, and what each command prints, returns and exits with is
 * what an operator would see. The end-to-end tests against real agents stay in the sandbox suites.
 */
import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import { runHealth } from "../src/cli/health.js";
import { runSchedulePush } from "../src/cli/schedule.js";
import { runSnapshotDelete } from "../src/cli/snapshot-delete.js";
import { runSnapshotList } from "../src/cli/snapshot-list.js";
import { runSnapshotPrune } from "../src/cli/snapshot-prune.js";
import { runSnapshotSave } from "../src/cli/snapshot-save.js";
import { runSnapshotStatus } from "../src/cli/snapshot-status.js";
import type { NodeStatus } from "../src/schedule/recurring.js";
import { evaluateFreshness, unwatched } from "../src/schedule/freshness.js";
import { ExitCode, RemoteError, UserError } from "../src/util/errors.js";
import { entryOf, fakeFleet, snapshotManifest, type FakeFleet, type FakeFleetOptions } from "./helpers/fake-fleet.js";

const NOW = new Date("2026-11-27T10:15:02.000Z");
const S3_LOCATION = "s3://b (http://127.0.0.1:9000)";
const hoursAgo = (h: number) => new Date(NOW.getTime() - h * 3_600_000);

let open: FakeFleet[] = [];
async function fleet(options: FakeFleetOptions = {}): Promise<FakeFleet> {
  const f = await fakeFleet({ now: NOW, ...options });
  open.push(f);
  return f;
}
afterEach(async () => {
  for (const f of open) {
    assert.equal(f.closed, f.opened, "every opened fleet is closed");
    await f.cleanup();
  }
  open = [];
});

const config = "cluster.yml";

describe("snapshot-save over a fake fleet", () => {
  it("saves on every node; the healthy leader uploads while it streams; the JSON result is the report", async () => {
    const f = await fleet();
    const report = await runSnapshotSave({ config, name: "before-upgrade" }, f.deps);
    assert.deepEqual(
      f.nodes.map((n) => n.calls.filter((c) => c.startsWith("save"))),
      [["save"], ["save+upload"], ["save"]],
    );
    assert.equal(f.node("etcd-b").saveBodies[0]?.s3?.bucket, "b");
    assert.equal(f.out.exitCode, ExitCode.ok);
    assert.deepEqual(f.out.results, [report]);
    assert.deepEqual(Object.keys(report), ["name", "nodes", "exitCode", "s3"]);
    assert.deepEqual(report.s3, { location: S3_LOCATION, ok: true, node: "etcd-b", verified: "md5" });
    for (const [i, n] of report.nodes.entries()) {
      const { durationMs, ...rest } = n;
      assert.equal(typeof durationMs, "number");
      assert.deepEqual(rest, {
        node: f.nodes[i]!.name,
        ok: true,
        uploader: n.node === "etcd-b",
        size: 100,
        sha256: "a".repeat(64),
        revision: 1000,
      });
    }
    assert.match(f.out.lines.join("\n"), /^etcd-b +saved +100 B +1000 +\d+ ms +uploader$/m);
    assert.ok(f.out.lines.includes(`S3: uploaded to ${S3_LOCATION} by etcd-b (verified: md5)`));
    assert.equal(f.out.lines.at(-1), "Finished saving snapshot [before-upgrade] on all etcd hosts");
    assert.match(f.out.notes.join("\n"), /no state file at .*; the snapshot is taken without it/);
  });

  it("names the snapshot like RKE when --name is missing, and refuses a bad name before opening the cluster", async () => {
    const f = await fleet({ s3: false });
    const report = await runSnapshotSave({ config }, f.deps);
    assert.match(report.name, /^rke_etcd_snapshot_2026-11-2\dT\d\d:\d\d:02(Z|[+-]\d\d:\d\d)$/);
    assert.ok(f.out.notes.includes(`Name of the snapshot is not specified, using [${report.name}]`));
    const bad = await fleet();
    await assert.rejects(runSnapshotSave({ config, name: "../x" }, bad.deps), UserError);
    assert.equal(bad.opened, 0);
  });

  it("without S3 nobody uploads and the report has no s3 part", async () => {
    const f = await fleet({ s3: false });
    const report = await runSnapshotSave({ config, name: "local-only" }, f.deps);
    assert.deepEqual(
      f.nodes.map((n) => n.calls.filter((c) => c.startsWith("save"))),
      [["save"], ["save"], ["save"]],
    );
    assert.equal(report.s3, undefined);
    assert.ok(report.nodes.every((n) => !n.uploader));
    assert.equal(f.out.exitCode, ExitCode.ok);
  });

  it("chooses the first healthy node in cluster.yml order when the leader is not healthy", async () => {
    const f = await fleet({
      nodes: {
        "etcd-a": { health: new RemoteError("cannot reach agent", true) },
        "etcd-b": { health: { alarms: ["NOSPACE"] } },
      },
    });
    const report = await runSnapshotSave({ config, name: "s1" }, f.deps);
    assert.deepEqual(
      report.nodes.map((n) => [n.node, n.uploader]),
      [
        ["etcd-a", false],
        ["etcd-b", false],
        ["etcd-c", true],
      ],
    );
    assert.equal(report.s3?.node, "etcd-c");
    assert.equal(report.exitCode, ExitCode.ok);
  });

  it("uploads another node's copy when the uploader's upload fails (exit 0)", async () => {
    const f = await fleet({ nodes: { "etcd-b": { streamUpload: { ok: false, error: "SlowDown" } } } });
    const report = await runSnapshotSave({ config, name: "s2" }, f.deps);
    assert.deepEqual(
      f.node("etcd-a").calls.filter((c) => c.startsWith("upload")),
      ["upload s2"],
    );
    assert.deepEqual(
      f.node("etcd-c").calls.filter((c) => c.startsWith("upload")),
      [],
    );
    assert.deepEqual(report.s3, { location: S3_LOCATION, ok: true, node: "etcd-a", verified: "sha256" });
    assert.equal(f.out.exitCode, ExitCode.ok);
  });

  it("exits 1 when every node fails, and says there was no copy to upload", async () => {
    const down = () => ({ save: new RemoteError("cannot reach agent: ECONNREFUSED", true) });
    const f = await fleet({ nodes: { "etcd-a": down(), "etcd-b": down(), "etcd-c": down() } });
    const report = await runSnapshotSave({ config, name: "s3" }, f.deps);
    assert.equal(f.out.exitCode, ExitCode.failure);
    assert.equal(report.exitCode, ExitCode.failure);
    assert.ok(report.nodes.every((n) => !n.ok && n.reason === "cannot reach agent: ECONNREFUSED"));
    assert.deepEqual(report.s3, {
      location: S3_LOCATION,
      ok: false,
      reason: "no copy to upload: cannot reach agent: ECONNREFUSED (tried from etcd-b)",
    });
    assert.equal(f.out.lines.at(-1), "Saved snapshot [s3] on 0 of 3 etcd hosts, but not in S3");
  });

  it("exits 3 when some nodes fail, with each node's reason", async () => {
    const f = await fleet({ nodes: { "etcd-c": { save: { errorEvent: "member is not healthy: no leader" } } } });
    const report = await runSnapshotSave({ config, name: "s4" }, f.deps);
    assert.equal(f.out.exitCode, ExitCode.partial);
    assert.deepEqual(
      report.nodes.map((n) => [n.node, n.ok, n.reason]),
      [
        ["etcd-a", true, undefined],
        ["etcd-b", true, undefined],
        ["etcd-c", false, "member is not healthy: no leader"],
      ],
    );
    assert.equal(report.s3?.ok, true);
    assert.equal(f.out.lines.at(-1), "Saved snapshot [s4] on 2 of 3 etcd hosts");
  });

  it("exits 3 when S3 fails from every node; the local copies are kept; each distinct error is named once", async () => {
    const f = await fleet({ nodes: { "etcd-b": { streamUpload: { ok: false, error: "bucket b does not exist" } } } });
    for (const n of [f.node("etcd-a"), f.node("etcd-c")]) {
      n.script.upload = new RemoteError(`agent ${n.node.agent.endpoint}: bucket b does not exist`, false);
    }
    const report = await runSnapshotSave({ config, name: "s5" }, f.deps);
    assert.equal(f.out.exitCode, ExitCode.partial);
    assert.ok(report.nodes.every((n) => n.ok));
    assert.deepEqual(report.s3, {
      location: S3_LOCATION,
      ok: false,
      reason: "bucket b does not exist (tried from etcd-b, etcd-a, etcd-c)",
    });
    for (const n of f.nodes) {
      assert.deepEqual(
        n.snapshots.map((s) => s.name),
        ["s5"],
        `${n.name} keeps its copy`,
      );
      assert.ok(!n.calls.some((c) => c.startsWith("delete")));
    }
    assert.ok(
      f.out.lines.includes(
        `S3: upload FAILED to ${S3_LOCATION}: bucket b does not exist (tried from etcd-b, etcd-a, etcd-c); local archives are kept`,
      ),
    );
    assert.equal(f.out.lines.at(-1), "Finished saving snapshot [s5] on all etcd hosts, but not in S3");
  });
});

describe("health over a fake fleet", () => {
  it("exits 0 when every member is healthy, naming the leader", async () => {
    const f = await fleet();
    const health = await runHealth({ config }, f.deps);
    assert.equal(f.out.exitCode, ExitCode.ok);
    assert.deepEqual(
      health.map((h) => [h.node, h.ok, h.isLeader]),
      [
        ["etcd-a", true, false],
        ["etcd-b", true, true],
        ["etcd-c", true, false],
      ],
    );
    assert.deepEqual(f.out.results, [{ nodes: health, healthy: 3, total: 3 }]);
    assert.equal(f.out.lines.at(-1), "3 of 3 members healthy");
  });

  it("exits 3 when some members are unhealthy, with the reason", async () => {
    const f = await fleet({
      nodes: {
        "etcd-a": { health: new RemoteError("cannot reach agent 127.0.0.2:7443: ECONNREFUSED", true) },
        "etcd-c": { health: { hasLeader: false } },
      },
    });
    const health = await runHealth({ config }, f.deps);
    assert.equal(f.out.exitCode, ExitCode.partial);
    assert.equal(health[0]?.reason, "agent: cannot reach agent 127.0.0.2:7443: ECONNREFUSED");
    assert.equal(health[2]?.reason, "no leader");
    assert.match(f.out.lines[0]!, /^etcd-c +\S+ +UNHEALTHY +1000 +4\.0 KiB +3\.5\.30 +no leader$/m);
    assert.equal(f.out.lines.at(-1), "1 of 3 members healthy");
  });

  it("exits 1 when no member is healthy", async () => {
    const alarm = { health: { alarms: ["NOSPACE"] } };
    const f = await fleet({ nodes: { "etcd-a": alarm, "etcd-b": alarm, "etcd-c": { health: { reachable: false } } } });
    const health = await runHealth({ config }, f.deps);
    assert.equal(f.out.exitCode, ExitCode.failure);
    assert.deepEqual(
      health.map((h) => h.reason),
      ["alarm: NOSPACE", "alarm: NOSPACE", "etcd unreachable: no answer"],
    );
  });
});

describe("snapshot-list over a fake fleet", () => {
  it("merges every node's catalog with S3's, oldest first", async () => {
    const m = (name: string, node: string, h: number) =>
      entryOf(snapshotManifest(name, node, hoursAgo(h)), `node:${node}`);
    const f = await fleet({
      nodes: {
        "etcd-a": { snapshots: [m("new", "etcd-a", 1), m("old", "etcd-a", 5)] },
        "etcd-c": { snapshots: [m("new", "etcd-c", 1)] },
      },
    });
    await f.putS3Snapshot("mid", hoursAgo(3));
    const report = await runSnapshotList({ config }, f.deps);
    assert.deepEqual(
      report.snapshots.map((s) => [s.name, s.location, s.status]),
      [
        ["old", "node:etcd-a", "ok"],
        ["mid", "s3", "ok"],
        ["new", "node:etcd-a", "ok"],
        ["new", "node:etcd-c", "ok"],
      ],
    );
    assert.deepEqual(report.errors, []);
    assert.equal(f.out.exitCode, undefined, "no exit code set: 0");
    assert.deepEqual(f.out.results, [report]);
    assert.match(f.out.lines[0]!, /^mid +s3 +2026-11-27T07:15:02\.000Z +1000 +100 B +- +ok sha256:aaaaaaaaaaaa$/m);
  });

  it("reports S3 and a node that cannot be listed (exit 3) and still lists the rest", async () => {
    const f = await fleet({
      s3Unreachable: true,
      nodes: {
        "etcd-a": { snapshots: [entryOf(snapshotManifest("n1", "etcd-a", hoursAgo(1)), "node:etcd-a")] },
        "etcd-b": { snapshots: new RemoteError("cannot reach agent 127.0.0.3:7443: ECONNREFUSED", true) },
      },
    });
    const report = await runSnapshotList({ config }, f.deps);
    assert.equal(f.out.exitCode, ExitCode.partial);
    assert.deepEqual(
      report.snapshots.map((s) => s.name),
      ["n1"],
    );
    assert.deepEqual(report.errors.map((e) => e.location).sort(), ["node:etcd-b", "s3"]);
    assert.ok(
      f.out.notes.includes("warning: cannot list s3: S3 endpoint http://127.0.0.1:9000 did not answer (ECONNREFUSED)"),
    );
  });
});

describe("snapshot-status over a fake fleet", () => {
  const failure = {
    name: "rke_2026-11-27T09:00:00Z_etcd",
    kind: "recurring",
    result: "success",
    startedAt: "2026-11-27T09:00:00.000Z",
    finishedAt: "2026-11-27T09:00:05.000Z",
    upload: { result: "failed", reason: "AccessDenied" },
  } as unknown as NonNullable<NodeStatus["lastFailure"]>;

  it("reports every node and S3, with the newest failed upload (exit 0)", async () => {
    const f = await fleet({ nodes: { "etcd-a": { status: { lastFailure: failure } } } });
    await f.putS3Snapshot("one", hoursAgo(2), 300);
    await f.putS3Snapshot("two", hoursAgo(1), 200);
    const report = await runSnapshotStatus({ config }, f.deps);
    assert.equal(f.out.exitCode, ExitCode.ok);
    assert.deepEqual(
      report.nodes.map((n) => n.node),
      ["etcd-a", "etcd-b", "etcd-c"],
    );
    assert.deepEqual(report.s3, {
      location: S3_LOCATION,
      count: 2,
      bytes: 500,
      broken: 0,
      lastSuccess: { name: "two", createdAt: hoursAgo(1).toISOString() },
      lastFailure: { name: failure.name, node: "etcd-a", at: failure.finishedAt, reason: "AccessDenied" },
      freshness: unwatched(hoursAgo(1).toISOString()),
      log: null,
    });
    assert.match(
      f.out.lines[0]!,
      /^s3 +s3:\/\/b .* +2 +500 B +2026-11-27T09:00:05\.000Z \S+ \(etcd-a\): AccessDenied$/m,
    );
  });

  it("exits 3 when a node does not answer, and lists what needs attention", async () => {
    const session = {
      purpose: "restore" as const,
      name: "snap",
      id: "abcdefgh",
      openedAt: "2026-11-27T10:15:02.000Z",
      expiresAt: "2026-11-27T10:16:02.000Z",
    };
    const f = await fleet({
      s3: false,
      nodes: { "etcd-b": { status: new RemoteError("cannot reach agent", true) }, "etcd-c": { status: { session } } },
    });
    const report = await runSnapshotStatus({ config }, f.deps);
    assert.equal(f.out.exitCode, ExitCode.partial);
    assert.equal(report.s3, null);
    assert.deepEqual(report.nodes[1], { node: "etcd-b", error: "cannot reach agent" });
    assert.match(f.out.lines[0]!, /^etcd-b +UNREACHABLE .* cannot reach agent$/m);
    assert.deepEqual(f.out.lines.slice(1), [
      "",
      "Needs attention:",
      "  etcd-c: backups are NOT running: held by a restore of snap (session abcdefgh, expires 2026-11-27T10:16:02.000Z unless renewed)",
    ]);
  });
});

describe("snapshot-status: never silently stale", () => {
  const watched = (newestGood: Date | undefined, staleAfterMs = 2 * 3_600_000) =>
    evaluateFreshness({ newestGood, staleAfterMs, watchedSince: hoursAgo(10), now: NOW });
  const verifyFailure = {
    name: "v1",
    kind: "recurring" as const,
    result: "failure" as const,
    startedAt: hoursAgo(1).toISOString(),
    finishedAt: hoursAgo(1).toISOString(),
    reason: "revision 3 < snapshot's 9",
  };

  it("exits 0 while every watched location is within stale_after, and shows the threshold", async () => {
    const f = await fleet({ nodes: { "etcd-a": { status: { freshness: watched(hoursAgo(1)) } } } });
    await f.putS3Snapshot("recent", hoursAgo(1));
    const report = await runSnapshotStatus({ config }, f.deps);
    assert.equal(f.out.exitCode, ExitCode.ok);
    assert.deepEqual([report.stale, report.verifyFailed], [[], []]);
    assert.equal(report.s3?.freshness.state, "fresh", "S3 is watched with the agents' threshold");
    assert.equal(report.s3?.freshness.staleAfterMs, 7_200_000);
    assert.match(f.out.lines[0]!, /^etcd-a +.* fresh \(stale after 2h\) +never +/m);
  });

  it("exits 6 naming each stale location (a node, and S3 by the same rule), even with a node unreachable", async () => {
    const f = await fleet({
      nodes: {
        "etcd-a": { status: { freshness: watched(hoursAgo(3)) } },
        "etcd-b": { status: { freshness: watched(hoursAgo(1)) } },
        "etcd-c": { status: new RemoteError("cannot reach agent", true) },
      },
    });
    await f.putS3Snapshot("old", hoursAgo(5));
    const report = await runSnapshotStatus({ config }, f.deps);
    assert.equal(f.out.exitCode, ExitCode.stale);
    assert.equal(ExitCode.stale, 6);
    assert.deepEqual(report.stale, ["etcd-a", "s3"]);
    assert.match(f.out.lines[0]!, /^etcd-a +.* STALE \(after 2h\) /m);
    assert.ok(
      f.out.lines.includes(
        `  etcd-a: STALE: the newest good snapshot (taken ${hoursAgo(3).toISOString()}) is older than stale_after 2h`,
      ),
      f.out.lines.join("\n"),
    );
    assert.ok(
      f.out.lines.includes(
        `  s3: STALE: the newest good snapshot (taken ${hoursAgo(5).toISOString()}) is older than stale_after 2h`,
      ),
    );
  });

  it("exits 6 when the last scheduled verify failed, and shows the last verified restore", async () => {
    const verified = { ...verifyFailure, name: "v0", kind: "one-time" as const, result: "success" as const };
    const f = await fleet({
      s3: false,
      nodes: {
        "etcd-a": { status: { lastVerify: verifyFailure, lastVerifiedRestore: verified, verifyFailed: true } },
      },
    });
    const report = await runSnapshotStatus({ config }, f.deps);
    assert.equal(f.out.exitCode, ExitCode.stale);
    assert.deepEqual([report.stale, report.verifyFailed], [[], ["etcd-a"]]);
    assert.match(f.out.lines[0]!, new RegExp(`^etcd-a .* ${verified.finishedAt} v0 `, "m"));
    assert.ok(
      f.out.lines.includes(
        `  etcd-a: the last scheduled verify FAILED: ${verifyFailure.finishedAt} v1: revision 3 < snapshot's 9`,
      ),
    );
  });

  it("a location nobody watches is never stale: S3 follows the agents", async () => {
    const f = await fleet();
    await f.putS3Snapshot("ancient", hoursAgo(500));
    const report = await runSnapshotStatus({ config }, f.deps);
    assert.equal(f.out.exitCode, ExitCode.ok);
    assert.equal(report.s3?.freshness.state, "unwatched");
  });
});

describe("snapshot-prune and snapshot-delete over a fake fleet", () => {
  /** Three old recurring copies (outside the 2 h window), one new, and an old one-time one, on etcd-a and in S3. */
  async function withOldCopies(): Promise<FakeFleet> {
    const ages: [string, number, "recurring" | "one-time"][] = [
      ["old1", 5, "recurring"],
      ["old2", 4, "recurring"],
      ["old3", 3, "recurring"],
      ["manual", 6, "one-time"],
      ["new", 0.5, "recurring"],
    ];
    const entries = ages.map(([n, h, kind]) =>
      entryOf(snapshotManifest(n, "etcd-a", hoursAgo(h), 100, kind), "node:etcd-a"),
    );
    const f = await fleet({ nodes: { "etcd-a": { snapshots: entries } } });
    for (const [n, h, kind] of ages) await f.putS3Snapshot(n, hoursAgo(h), 100, kind);
    return f;
  }
  const s3Names = async (f: FakeFleet) =>
    (await f.bucket.list(""))
      .map((o) => o.key)
      .filter((k) => k.endsWith(".zip"))
      .sort();

  it("a dry run plans every location and removes nothing", async () => {
    const f = await withOldCopies();
    const report = await runSnapshotPrune({ config, dryRun: true }, f.deps);
    assert.equal(f.out.exitCode, ExitCode.ok);
    assert.deepEqual(
      f.nodes.map((n) => n.calls.filter((c) => c.startsWith("prune"))),
      [["prune dry"], ["prune dry"], ["prune dry"]],
    );
    assert.deepEqual(await s3Names(f), ["manual.zip", "new.zip", "old1.zip", "old2.zip", "old3.zip"]);
    assert.equal(f.node("etcd-a").snapshots.length, 5);
    const s3 = report.locations.find((l) => l.location === "s3");
    assert.deepEqual(s3?.plan?.remove.map((i) => i.name).sort(), ["old1", "old2", "old3"]);
    assert.deepEqual(s3?.plan?.keep.map((i) => i.name).sort(), ["manual", "new"]);
    assert.equal(s3?.result, undefined);
    assert.equal(f.out.lines.at(-1), "Dry run: would remove 6 snapshot copies");
  });

  it("a real run removes what retention removes, in S3 and on the nodes; the newest and one-time copies stay", async () => {
    const f = await withOldCopies();
    const report = await runSnapshotPrune({ config }, f.deps);
    assert.equal(f.out.exitCode, ExitCode.ok);
    assert.deepEqual(await s3Names(f), ["manual.zip", "new.zip"]);
    assert.deepEqual(
      f
        .node("etcd-a")
        .snapshots.map((s) => s.name)
        .sort(),
      ["manual", "new"],
    );
    assert.deepEqual(report.locations.find((l) => l.location === "s3")?.result?.removed.sort(), [
      "old1",
      "old2",
      "old3",
    ]);
    assert.equal(f.out.lines.at(-1), "Removed 6 snapshot copies");
  });

  it("a node that refuses the prune makes it partial (exit 3)", async () => {
    const f = await fleet({ s3: false, nodes: { "etcd-c": { prune: new RemoteError("cannot reach agent", true) } } });
    const report = await runSnapshotPrune({ config, dryRun: true }, f.deps);
    assert.equal(f.out.exitCode, ExitCode.partial);
    assert.deepEqual(report.locations[2], { location: "node:etcd-c", error: "cannot reach agent" });
    assert.ok(f.out.notes.includes("warning: node:etcd-c: cannot reach agent"));
  });

  it("refuses to delete a location's last good copy without --force, touching nothing", async () => {
    const f = await fleet({
      nodes: {
        "etcd-a": {
          snapshots: ["only", "other"].map((n) => entryOf(snapshotManifest(n, "etcd-a", hoursAgo(1)), "node:etcd-a")),
        },
      },
    });
    await f.putS3Snapshot("only", hoursAgo(1));
    await assert.rejects(
      runSnapshotDelete(["only"], { config }, f.deps),
      (err: unknown) =>
        err instanceof UserError &&
        err.message ===
          "nothing was deleted: only: would delete the last good snapshot of s3; add --force to delete it anyway",
    );
    assert.deepEqual(await s3Names(f), ["only.zip"]);
    assert.ok(f.nodes.every((n) => !n.calls.some((c) => c.startsWith("delete"))));
  });

  it("deletes everywhere with --force (manifest first in S3), exit 0", async () => {
    const f = await fleet({
      nodes: { "etcd-a": { snapshots: [entryOf(snapshotManifest("only", "etcd-a", hoursAgo(1)), "node:etcd-a")] } },
    });
    await f.putS3Snapshot("only", hoursAgo(1));
    const report = await runSnapshotDelete(["only"], { config, force: true }, f.deps);
    assert.equal(f.out.exitCode, ExitCode.ok);
    assert.deepEqual(
      (await f.bucket.list("")).map((o) => o.key),
      [],
    );
    assert.deepEqual(
      f.node("etcd-a").calls.filter((c) => c.startsWith("delete")),
      ["delete only"],
    );
    assert.deepEqual(report.deleted.map((d) => d.location).sort(), ["node:etcd-a", "s3"]);
    assert.deepEqual([report.failed, report.missing, report.unreachable], [[], [], []]);
    assert.equal(f.opened, 1);
  });
});

describe("schedule push over a fake fleet", () => {
  it("pushes cluster.yml's schedule to every node and reports when each runs next", async () => {
    const nextRun = { at: "2026-11-27T11:00:00.000Z", slot: "2026-11-27T11:00:00.000Z", name: "x", catchUp: false };
    const f = await fleet({ nodes: { "etcd-a": { status: { nextRun } } } });
    const report = await runSchedulePush({ config }, f.deps);
    assert.equal(f.out.exitCode, ExitCode.ok);
    assert.equal(report.s3, S3_LOCATION);
    assert.deepEqual(f.node("etcd-b").pushed[0]?.schedule?.every, { type: "interval", ms: 3_600_000 });
    assert.equal(f.node("etcd-b").pushed[0]?.staleAfterMs, 7_200_000, "stale_after: twice the interval");
    assert.deepEqual(report.nodes[0], {
      node: "etcd-a",
      ok: true,
      since: "2026-11-27T09:00:00.000Z",
      nextRun: nextRun.at,
    });
    assert.deepEqual(report.nodes[1], { node: "etcd-b", ok: true, since: "2026-11-27T09:00:00.000Z" });
    assert.equal(f.out.lines[0], `Recurring snapshots every 1h, keep 2h, uploaded once per run to ${S3_LOCATION}`);
  });

  it("exits 3 when one node refuses, and 1 when every node does", async () => {
    const refuse = () => ({ schedule: new RemoteError("agent 127.0.0.4:7443: schedule refused", false) });
    const f = await fleet({ nodes: { "etcd-c": refuse() } });
    const report = await runSchedulePush({ config }, f.deps);
    assert.equal(f.out.exitCode, ExitCode.partial);
    assert.deepEqual(report.nodes[2], { node: "etcd-c", ok: false, reason: "agent 127.0.0.4:7443: schedule refused" });
    assert.match(f.out.lines[1]!, /^etcd-c +FAILED +- +- +agent 127\.0\.0\.4:7443: schedule refused$/m);

    const all = await fleet({ nodes: { "etcd-a": refuse(), "etcd-b": refuse(), "etcd-c": refuse() } });
    const none = await runSchedulePush({ config }, all.deps);
    assert.equal(all.out.exitCode, ExitCode.failure);
    assert.equal(none.exitCode, ExitCode.failure);
  });

  it("rejects a bad --interval before anything is pushed", async () => {
    const f = await fleet();
    await assert.rejects(runSchedulePush({ config, interval: "1.5s" }, f.deps), UserError);
    assert.ok(f.nodes.every((n) => n.pushed.length === 0));
  });
});
