/**
 * The lineage in the state file (`lifeboat.lineage`) and on its way to the agents: what a restore records (the
 * cluster ID before it, also when no member answered), what `schedule push` sends, and how an agent's stored
 * schedule takes a new lineage without losing what was pushed.
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { ScheduleSpec, withLineage, type ScheduleDocument } from "../src/schedule/spec.js";
import { recordRestore } from "../src/restore/state.js";
import { buildSchedulePush } from "../src/fleet/schedule.js";
import { parseClusterConfig } from "../src/config/cluster.js";
import { extendLineage, lineageOf, previousClusterId, type ClusterState } from "../src/config/state.js";

const dirs: string[] = [];
after(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

async function statePath(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "lifeboat-lineage-"));
  dirs.push(dir);
  return join(dir, "cluster.rkestate");
}

async function restoreOnto(
  local: ClusterState,
  ids: { clusterId: string; previousClusterId?: string; snapshotClusterId?: string },
): Promise<{ state: ClusterState; notes: string[] }> {
  const path = await statePath();
  const record = { snapshot: "snap", at: "2026-11-26T12:00:00.000Z", ...ids };
  const notes = await recordRestore({ statePath: path, local, archived: undefined, record });
  return { state: JSON.parse(await readFile(path, "utf8")) as ClusterState, notes };
}

void describe("the lineage a restore records", () => {
  it("records the members' cluster ID before the restore, and both IDs in lifeboat.lineage", async () => {
    const { state, notes } = await restoreOnto(
      {},
      { clusterId: "c2", previousClusterId: "c1", snapshotClusterId: "c1" },
    );
    assert.deepEqual(state.lifeboat?.lineage, ["c1", "c2"]);
    assert.equal(state.lifeboat?.restores?.[0]?.previousClusterId, "c1");
    assert.equal(state.lifeboat?.restores?.[0]?.clusterId, "c2");
    assert.deepEqual(notes, []);
  });

  it("extends an existing lineage on every restore, the newest restore's ID last", async () => {
    const local: ClusterState = { lifeboat: { lineage: ["c1", "c2"], restores: [{ clusterId: "c2" }] } };
    const { state } = await restoreOnto(local, { clusterId: "c3", previousClusterId: "c2" });
    assert.deepEqual(state.lifeboat?.lineage, ["c1", "c2", "c3"]);
    assert.equal(state.lifeboat?.restores?.length, 2);
  });

  it("when no member answers, takes the newest recorded cluster ID, and says so", async () => {
    const local: ClusterState = { lifeboat: { lineage: ["c1", "c2"] } };
    const { state, notes } = await restoreOnto(local, { clusterId: "c3", snapshotClusterId: "c1" });
    assert.deepEqual(state.lifeboat?.lineage, ["c1", "c2", "c3"]);
    assert.equal(state.lifeboat?.restores?.[0]?.previousClusterId, "c2");
    assert.match(notes.join("\n"), /no member reported a cluster ID before the restore: recorded c2/);
  });

  it("on a first restore of a cluster that no longer answers, takes the restored snapshot's cluster ID", async () => {
    const { state, notes } = await restoreOnto({}, { clusterId: "c2", snapshotClusterId: "c1" });
    assert.deepEqual(state.lifeboat?.lineage, ["c1", "c2"]);
    assert.match(notes.join("\n"), /recorded c1 as the previous one/);
  });

  it("with nothing to go by, records only the new ID and tells the operator what is left alone", async () => {
    const { state, notes } = await restoreOnto({}, { clusterId: "c2" });
    assert.deepEqual(state.lifeboat?.lineage, ["c2"]);
    assert.equal(state.lifeboat?.restores?.[0]?.previousClusterId, undefined);
    assert.match(
      notes.join("\n"),
      /retention keeps the snapshots taken before it as another cluster's \(add that cluster ID to lifeboat\.lineage/,
    );
  });

  it("reads state files from before lineage existed from their restore records", () => {
    const legacy: ClusterState = { lifeboat: { restores: [{ clusterId: "c2" }, { clusterId: "c3" }, {}] } };
    assert.deepEqual(lineageOf(legacy), ["c2", "c3"]);
    assert.deepEqual(lineageOf(undefined), []);
    assert.deepEqual(lineageOf({ lifeboat: { lineage: ["a"], restores: [{ clusterId: "b" }] } }), ["a"]);
  });

  it("orders its sources: the members, then the record, then the snapshot", () => {
    const ids = { clusterId: "new", previousClusterId: "members", snapshotClusterId: "snap" };
    assert.equal(previousClusterId(["recorded"], ids), "members");
    assert.equal(previousClusterId(["recorded"], { ...ids, previousClusterId: undefined }), "recorded");
    assert.equal(previousClusterId([], { ...ids, previousClusterId: undefined }), "snap");
    assert.deepEqual(extendLineage(["a", "b"], "a", "c"), ["a", "b", "c"], "an ID already known keeps its place");
  });
});

void describe("the lineage on its way to the agents", () => {
  const config = parseClusterConfig(
    "nodes:\n  - address: 10.0.0.1\n    role: [etcd]\nservices:\n  etcd:\n    backup_config:\n      interval_hours: 6\n",
    "cluster.yml",
  ).config;

  it("schedule push sends the state file's lineage with the retention policy", () => {
    const push = buildSchedulePush(config, undefined, {}, ["c1", "c2"]);
    assert.deepEqual(push.schedule?.retention, { type: "window", windowMs: 36 * 3_600_000, lineage: ["c1", "c2"] });
    assert.equal(ScheduleSpec.safeParse(push.schedule).success, true, "the agent accepts it");
    assert.equal(buildSchedulePush(config, undefined, {}).schedule?.retention.lineage, undefined);
  });

  it("a stored schedule takes a new lineage and keeps everything else as pushed", () => {
    const pushed = buildSchedulePush(config, undefined, { interval: "30s", jitter: "0s" }, ["c1"]);
    const doc: ScheduleDocument = {
      version: 1,
      since: "2026-11-20T00:00:00.000Z",
      updatedAt: "2026-11-20T00:00:00.000Z",
      ...pushed,
    };
    const now = new Date("2026-11-26T12:00:00Z");
    const next = withLineage(doc, ["c1", "c2"], now);
    assert.deepEqual(next?.schedule?.retention.lineage, ["c1", "c2"]);
    assert.deepEqual(next?.schedule?.every, { type: "interval", ms: 30_000 }, "the operator's --interval stays");
    assert.equal(next?.since, doc.since, "the timer is not reset");
    assert.equal(next?.updatedAt, now.toISOString());
    assert.equal(withLineage(doc, [], now)?.schedule?.retention.lineage, undefined);
    assert.equal(withLineage({ ...doc, schedule: null }, ["c1"], now), undefined, "no schedule, nothing to update");
    assert.equal(withLineage(undefined, ["c1"], now), undefined);
  });
});
