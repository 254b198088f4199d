/**
 * The operator's workflow across a restore, on a real sandbox (2 members with TLS, agents, S3): snapshots of the
 * running cluster, a schedule pushed, a restore (etcd gets a new cluster ID), then more snapshots and pruning. The
 * copies taken before the restore belong to this cluster's lineage: the agents' recurring pruning (with no push after
 * the restore) and `snapshot-prune` remove them by the policy on every node and in S3, while another cluster's copies
 * and one-time snapshots stay. Old copies are real archives planted under old times (nobody waits 72 hours).
 * LIFEBOAT_TEST_ETCD_SERIES=3.4 runs it on etcd 3.4.
 */
import assert from "node:assert/strict";
import { routes } from "../src/api/routes.js";
import { access, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { AgentClient } from "../src/agent/client.js";
import { cliTls } from "../src/fleet/open.js";
import type { PruneReport } from "../src/cli/snapshot-prune.js";
import { statePathFor } from "../src/config/cluster.js";
import { readState, type ClusterState } from "../src/config/state.js";
import { formatInstant } from "../src/retention/index.js";
import { listCatalog, type CatalogEntry } from "../src/snapshot/catalog.js";
import { parseManifest, serializeManifest, type Manifest } from "../src/snapshot/manifest.js";
import type { Store } from "../src/store/store.js";
import { jsonOf, type CliRun } from "./helpers/cli.js";
import { sandboxS3, startTestSandbox, waitFor, type TestSandbox } from "./helpers/sandbox.js";

const HOUR = 3_600_000;
const SLOT_MS = 30_000;
const FOREIGN = "0badc0ffee";
const NODES = [1, 2];
const LOCATIONS = ["node:etcd-node1", "node:etcd-node2", "s3"];

let sb: TestSandbox;
let s3: Store;
let agents: AgentClient[];
/** The cluster ID before the restore, and after it. */
let before1 = "";
let after1 = "";

const ago = (hours: number) => new Date(Math.floor((Date.now() - hours * HOUR) / 1000) * 1000);
const rke = (d: Date) => `${formatInstant(d)}_etcd`;
const snapDir = (i: number) => join(sb.dir, "nodes", `node${i}`, "snapshots");
const state = async (): Promise<ClusterState> => (await readState(statePathFor(sb.config))) ?? assert.fail("no state");

async function lifeboat(args: string[], expectCode = 0): Promise<CliRun> {
  const run = await sb.cli(["--output", "json", ...args, "--config", sb.config]);
  assert.equal(run.code, expectCode, `lifeboat ${args.join(" ")}:\n${run.stdout}\n${run.stderr}`);
  return run;
}

/** A copy of `base` under another name, time and cluster, on every node and in S3: as if taken long ago. */
async function plant(name: string, createdAt: Date, clusterId: string): Promise<void> {
  const zip = await readFile(join(snapDir(1), "base.zip"));
  const parsed = parseManifest(await readFile(join(snapDir(1), "base.manifest.json"), "utf8"));
  assert.ok(parsed.ok);
  const manifest: Manifest = {
    ...parsed.manifest,
    name,
    kind: "recurring",
    clusterId,
    createdAt: createdAt.toISOString(),
    archive: { ...parsed.manifest.archive, file: `${name}.zip` },
  };
  const text = serializeManifest(manifest);
  for (const i of NODES) {
    await writeFile(join(snapDir(i), `${name}.zip`), zip, { mode: 0o600 });
    await writeFile(join(snapDir(i), `${name}.manifest.json`), text, { mode: 0o600 });
  }
  await s3.put(`${name}.zip`, zip);
  await s3.put(`${name}.manifest.json`, Buffer.from(text));
}

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

/** Of `names`, those with a complete copy (manifest and archive) in each location. */
async function present(names: readonly string[]): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const i of NODES) {
    const here: string[] = [];
    for (const name of names) {
      const files = await Promise.all([`${name}.zip`, `${name}.manifest.json`].map((f) => exists(join(snapDir(i), f))));
      assert.equal(files[0], files[1], `node${i} ${name}: manifest and archive go together`);
      if (files[0]) here.push(name);
    }
    out[`node:etcd-node${i}`] = here.sort();
  }
  const inS3 = new Set((await listCatalog(s3, "s3")).filter((e) => e.status === "ok").map((e) => e.name));
  out.s3 = names.filter((n) => inS3.has(n)).sort();
  return out;
}
const everywhere = (names: readonly string[]) => Object.fromEntries(LOCATIONS.map((l) => [l, [...names].sort()]));

async function catalogOf(i: number): Promise<CatalogEntry[]> {
  return (await agents[i]!.call(routes.listSnapshots)).snapshots;
}
const schedules = () => Promise.all(agents.map((a) => a.call(routes.schedule)));

/** Pushes `interval` a second after a slot boundary, so that the next run is a whole slot away. */
async function pushAligned(interval: string): Promise<void> {
  await sleep((SLOT_MS + 1000 - (Date.now() % SLOT_MS)) % SLOT_MS);
  await lifeboat(["etcd", "schedule", "push", "--interval", interval, "--jitter", "0s"]);
}

before(async () => {
  sb = await startTestSandbox({ nodes: 2 });
  const doc = parseYaml(await readFile(sb.config, "utf8")) as { lifeboat: Record<string, unknown> };
  doc.lifeboat.snapshot = { retries: 0, retry_pause_seconds: 0 };
  await writeFile(sb.config, stringifyYaml(doc), { mode: 0o600 });
  s3 = sandboxS3(sb.info);
  const tls = cliTls(await state());
  agents = sb.info.nodes.map((n) => new AgentClient({ endpoint: `${n.host}:7443`, tls }));
  await lifeboat(["etcd", "snapshot-save", "--name", "base"]);
  const base = (await catalogOf(0)).find((e) => e.name === "base");
  assert.ok(base?.manifest);
  before1 = base.manifest.clusterId;
});

after(async () => {
  agents?.forEach((a) => a.close());
  await s3?.close();
  await sb?.down();
});

describe("retention across a restore: the lineage", { concurrency: false }, () => {
  const expired80 = rke(ago(80));
  const expired73 = rke(ago(73));
  const foreign = rke(ago(100));
  const first = ["base", expired80, expired73, foreign];

  test("a restore records the cluster ID before it and the lineage, and every agent's schedule gets it", async () => {
    await plant(expired80, ago(80), before1);
    await plant(expired73, ago(73), before1);
    await plant(foreign, ago(100), FOREIGN);
    assert.equal((await state()).lifeboat?.lineage, undefined, "no restore yet, no lineage");
    await pushAligned(`${SLOT_MS / 1000}s`);
    for (const view of await schedules()) assert.equal(view.schedule?.retention.lineage, undefined);

    const run = await lifeboat(["etcd", "snapshot-restore", "--name", "base", "--yes", "--timeout", "60"]);
    after1 = jsonOf<{ result: { clusterId: string } }>(run).result.clusterId;
    assert.notEqual(after1, before1, "a restore gives etcd a new cluster ID");

    const lifeboatState = (await state()).lifeboat;
    assert.deepEqual(lifeboatState?.lineage, [before1, after1]);
    const record = lifeboatState?.restores?.at(-1);
    assert.equal(record?.snapshot, "base");
    assert.equal(record?.previousClusterId, before1);
    assert.equal(record?.clusterId, after1);
    for (const view of await schedules()) {
      assert.deepEqual(view.schedule?.retention.lineage, [before1, after1], "sent by the restore itself");
      assert.deepEqual(view.schedule?.every, { type: "interval", ms: SLOT_MS }, "the pushed --interval stays");
    }
    assert.deepEqual(await present(first), everywhere(first), "a restore prunes nothing");
  });

  test("the agents' next recurring snapshot prunes the lineage's expired copies on every node and in S3", async () => {
    const recurringOfNew = (c: CatalogEntry[]) =>
      c.filter((e) => e.manifest?.kind === "recurring" && e.manifest.clusterId === after1);
    await waitFor(
      "a recurring snapshot of the restored cluster on every node and in S3, and the expired copies gone",
      async () => {
        const nodes = await Promise.all([0, 1].map(catalogOf));
        const inS3 = await listCatalog(s3, "s3");
        const left = await present([expired80, expired73]);
        return (
          nodes.every((c) => recurringOfNew(c).length > 0) &&
          recurringOfNew(inS3).length > 0 &&
          Object.values(left).every((names) => names.length === 0)
        );
      },
      4 * SLOT_MS + 60_000,
    );
    assert.deepEqual(await present(first), everywhere(["base", foreign]), "other clusters and one-time stay");
    for (const agent of agents) {
      // The run is recorded after its prunes (the S3 one includes the revision log's): wait for the record.
      const status = await waitFor("the recurring run's record", async () => {
        const s = await agent.call(routes.status);
        return s.lastRun?.kind === "recurring" ? s : undefined;
      });
      const pruned = status.lastRun?.pruned?.local;
      assert.ok(pruned && pruned.failed === 0 && !pruned.error, `${status.node}: ${JSON.stringify(status.lastRun)}`);
    }
    // No more runs from here on: the next slot of a yearly interval is months away.
    await lifeboat(["etcd", "schedule", "push", "--interval", "8760h"]);
    await waitFor("every node idle", async () => {
      const all = await Promise.all(agents.map((a) => a.call(routes.status)));
      return all.every((s) => s.saving === null);
    });
  });

  test("after more snapshots, snapshot-prune removes by policy across the lineage, and a dry run nothing", async () => {
    await lifeboat(["etcd", "snapshot-save", "--name", "after-restore"]);
    const expired90 = rke(ago(90));
    const expiredNew = rke(ago(75));
    const recentOld = rke(ago(2));
    await plant(expired90, ago(90), before1);
    await plant(expiredNew, ago(75), after1);
    await plant(recentOld, ago(2), before1);
    const all = ["base", "after-restore", foreign, expired90, expiredNew, recentOld];
    const stateBefore = await readFile(statePathFor(sb.config), "utf8");

    const dry = jsonOf<PruneReport>(await lifeboat(["etcd", "snapshot-prune", "--dry-run"]));
    assert.deepEqual(dry.policy.lineage, [before1, after1]);
    assert.deepEqual(dry.locations.map((l) => l.location).sort(), LOCATIONS);
    for (const l of dry.locations) {
      assert.equal(l.error, undefined, l.location);
      assert.deepEqual(l.plan?.remove.map((i) => i.name).sort(), [expired90, expiredNew].sort(), l.location);
      const why = (name: string) => l.plan?.keep.find((i) => i.name === name)?.reasons.join("; ") ?? "";
      assert.match(why(recentOld), new RegExp(`within 72h window.*cluster ${before1} is in this cluster's lineage`));
      assert.match(why(foreign), new RegExp(`other cluster \\(snapshot: ${FOREIGN}; policy: ${after1}; lineage: `));
      assert.match(why("base"), /one-time snapshot/);
    }
    assert.deepEqual(await present(all), everywhere(all), "a dry run removes nothing");

    const report = jsonOf<PruneReport>(await lifeboat(["etcd", "snapshot-prune"]));
    for (const l of report.locations)
      assert.deepEqual([...(l.result?.removed ?? [])].sort(), [expired90, expiredNew].sort(), l.location);
    const left = all.filter((n) => n !== expired90 && n !== expiredNew);
    assert.deepEqual(await present(all), everywhere(left));
    assert.equal(await readFile(statePathFor(sb.config), "utf8"), stateBefore, "pruning leaves the state file alone");
  });
});
