/**
 * The revision log's format without a cluster: segment files round-trip and refuse anything but the manifest's
 * revisions in order; the reader's rule (L2) follows `previous` links, takes the longest of two overlapping writers'
 * segments and reports what lies beyond a gap; keys under `.lifeboat-log/` are recognised only in Lifeboat's layout;
 * retention (L4) removes only segments no kept base needs, and whole chains without a base.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LocalStore } from "../src/store/local.js";
import { listChains } from "../src/pitr/catalog.js";
import { gzipSync } from "node:zlib";
import { describe, test } from "node:test";
import type { CatalogEntry } from "../src/snapshot/catalog.js";
import type { ChainView } from "../src/pitr/catalog.js";
import {
  chainKey,
  classifyLogKey,
  prunedKey,
  segmentFileKey,
  segmentManifestKey,
  decodeSegment,
  encodeSegment,
  followChain,
  SegmentFormatError,
  SegmentManifest,
  segmentFile,
  type LoggedRevision,
} from "../src/pitr/format.js";
import { planLogPrune } from "../src/pitr/prune.js";

function rev(revision: number, keys: string[], lease = "0"): LoggedRevision {
  return {
    at: new Date(1_764_590_000_000 + revision * 1000).toISOString(),
    group: {
      revision,
      events: keys.map((k, i) =>
        i % 3 === 2
          ? {
              type: "delete" as const,
              key: Buffer.from(k),
              value: Buffer.alloc(0),
              createRevision: 0,
              modRevision: revision,
              version: 0,
              lease: "0",
            }
          : {
              type: "put" as const,
              key: Buffer.from(k),
              value: Buffer.from([0, 255, i, revision & 0xff]),
              createRevision: revision - 1,
              modRevision: revision,
              version: 2,
              lease,
            },
      ),
    },
    ...(lease !== "0" ? { leases: { [lease]: 60 } } : {}),
  };
}

const chainOf = (clusterId: string, start: number, segments: [number, number][]): ChainView => ({
  chain: `${clusterId}-${String(start).padStart(16, "0")}`,
  doc: {
    formatVersion: 1,
    kind: "lifeboat-log-chain",
    chain: `${clusterId}-${String(start).padStart(16, "0")}`,
    clusterId,
    start,
    startedAt: "2026-12-01T00:00:00.000Z",
    reason: "first",
    base: { name: "b", revision: start - 1 },
    previous: null,
    writer: "etcd-1",
  },
  path: segments.map(([first, last]) => ({ first, last, manifestKey: `m-${first}` })),
  reached: segments.at(-1)?.[1] ?? start - 1,
  unreachable: [],
});

describe("segment files", () => {
  test("round-trip every event field, binary values and lease TTLs included", () => {
    const revisions = [rev(10, ["/a", "/b", "/c"]), rev(11, ["/d"], "7587873440470219012"), rev(12, ["/a"])];
    const back = decodeSegment(encodeSegment(revisions), { first: 10, last: 12, file: "x" });
    assert.deepEqual(back, revisions);
  });

  test("refuse a gap, a repeat, an event of another revision, and a short file", () => {
    const encode = (lines: object[]) => gzipSync(Buffer.from(lines.map((l) => JSON.stringify(l)).join("\n")));
    const line = (r: number, mod = r) => ({
      rev: r,
      at: "2026-12-01T00:00:00.000Z",
      events: [{ type: "delete", key: "L2E=", mod }],
    });
    const m = { first: 5, last: 7, file: "s" };
    assert.throws(() => decodeSegment(encode([line(5), line(7)]), m), /holds revision 7, expected 6/);
    assert.throws(() => decodeSegment(encode([line(5), line(5)]), m), /holds revision 5, expected 6/);
    assert.throws(() => decodeSegment(encode([line(5), line(6, 9), line(7)]), m), /mod revision differs/);
    assert.throws(() => decodeSegment(encode([line(5), line(6)]), m), /ends at revision 6, not 7/);
    assert.throws(() => decodeSegment(encode([{ rev: 5 }]), m), SegmentFormatError);
  });

  test("a manifest must name its own file and cover exactly first to last", () => {
    const good = {
      formatVersion: 1,
      kind: "lifeboat-log-segment",
      chain: "cdf818194e3a8c32-0000000000000100",
      first: 100,
      last: 109,
      previous: 99,
      firstAt: "2026-12-01T00:00:00.000Z",
      lastAt: "2026-12-01T00:00:09.000Z",
      revisions: 10,
      events: 12,
      file: segmentFile(100, 109, false),
      size: 10,
      sha256: "0".repeat(64),
      encryption: null,
      writer: "etcd-1",
      writtenAt: "2026-12-01T00:00:10.000Z",
    };
    assert.ok(SegmentManifest.safeParse(good).success);
    for (const bad of [{ previous: 98 }, { revisions: 9 }, { file: segmentFile(100, 109, true) }, { last: 99 }])
      assert.equal(SegmentManifest.safeParse({ ...good, ...bad }).success, false, JSON.stringify(bad));
  });
});

describe("the reader's rule", () => {
  const seg = (first: number, last: number) => ({ first, last, previous: first - 1 });
  test("follows previous links from the start, the longest of two overlapping segments winning", () => {
    const { path, reached, unreachable } = followChain(100, [
      seg(100, 109),
      seg(110, 119),
      seg(110, 125),
      seg(126, 130),
    ]);
    assert.deepEqual(
      path.map((s) => [s.first, s.last]),
      [
        [100, 109],
        [110, 125],
        [126, 130],
      ],
    );
    assert.equal(reached, 130);
    assert.deepEqual(unreachable, []);
  });

  test("ends at a gap and reports the segments beyond it", () => {
    const { reached, unreachable } = followChain(100, [seg(100, 109), seg(115, 120)]);
    assert.equal(reached, 109);
    assert.deepEqual(unreachable, [seg(115, 120)]);
    assert.equal(followChain(100, []).reached, 99, "no segment yet: the base's revision");
  });

  test("only Lifeboat's names under .lifeboat-log/ are recognised", () => {
    const chain = "cdf818194e3a8c32-0000000000000100";
    assert.deepEqual(classifyLogKey(`.lifeboat-log/${chain}/chain.json`), { chain, what: "chain" });
    assert.deepEqual(classifyLogKey(`.lifeboat-log/${chain}/0000000000000100-0000000000000109.seg.gz.age`), {
      chain,
      what: "file",
      first: 100,
      last: 109,
    });
    for (const key of [
      `.lifeboat-log/${chain}/../chain.json`,
      `.lifeboat-log/x/chain.json`,
      `.lifeboat-log/${chain}/sub/chain.json`,
      `.lifeboat-log/${chain}/100-109.json`,
      `${chain}/chain.json`,
    ])
      assert.equal(classifyLogKey(key), undefined, key);
  });
});

describe("retention of the log", () => {
  const snapshot = (clusterId: string, revision: number, status: CatalogEntry["status"] = "ok") =>
    ({
      name: `s${revision}`,
      status,
      manifest: { clusterId, etcd: { revision }, createdAt: "2026-12-01T00:00:00.000Z" },
    }) as unknown as CatalogEntry;

  test("segments below every kept base go; those a kept base needs stay", () => {
    const chain = chainOf("aa", 100, [
      [100, 149],
      [150, 199],
      [200, 249],
    ]);
    const plan = planLogPrune([chain], [snapshot("aa", 160), snapshot("aa", 230)]);
    assert.deepEqual(plan.chains, []);
    assert.deepEqual(plan.through, [{ chain: chain.chain, revision: 160, at: "2026-12-01T00:00:00.000Z" }]);
    assert.deepEqual(
      plan.segments.map((s) => [s.first, s.last]),
      [[100, 149]],
      "150-199 holds revisions after the base at 160",
    );
  });

  test("a chain with no kept base goes whole; broken copies and other clusters are no base", () => {
    const chain = chainOf("aa", 100, [[100, 149]]);
    const plan = planLogPrune([chain], [snapshot("aa", 120, "broken"), snapshot("bb", 130), snapshot("aa", 50)]);
    assert.deepEqual(
      plan.chains.map((c) => c.chain),
      [chain.chain],
    );
    assert.deepEqual(planLogPrune([chain], [snapshot("aa", 99)]).chains, [], "the chain's own base keeps it");
    assert.deepEqual(
      planLogPrune([chain], [snapshot("aa", 500)]).chains.map((c) => c.chain),
      [chain.chain],
      "a snapshot past the chain's end belongs to a later chain",
    );
  });
});

describe("a pruned chain, read back from a store", () => {
  test("the walk begins at the segment holding the revision after pruned.json's, and so does the window", async () => {
    const dir = await mkdtemp(join(tmpdir(), "lifeboat-pitr-format-"));
    const store = new LocalStore(dir);
    try {
      const chain = "aa-0000000000000100";
      const put = (key: string, doc: unknown) => store.put(key, Buffer.from(JSON.stringify(doc)));
      await put(chainKey(chain), { ...chainOf("aa", 100, []).doc });
      for (const [first, last] of [
        [150, 199],
        [200, 249],
      ] as const) {
        const revisions = Array.from({ length: last - first + 1 }, (_, i) => rev(first + i, ["/k"]));
        const file = encodeSegment(revisions);
        await store.put(segmentFileKey(chain, segmentFile(first, last, false)), file);
        await put(segmentManifestKey(chain, first, last), {
          formatVersion: 1,
          kind: "lifeboat-log-segment",
          chain,
          first,
          last,
          previous: first - 1,
          firstAt: revisions[0]!.at,
          lastAt: revisions.at(-1)!.at,
          revisions: revisions.length,
          events: revisions.length,
          file: segmentFile(first, last, false),
          size: file.length,
          sha256: createHash("sha256").update(file).digest("hex"),
          encryption: null,
          writer: "etcd-1",
          writtenAt: revisions.at(-1)!.at,
        });
      }
      const broken = (await listChains(store))[0]!;
      assert.equal(broken.reached, 99, "without pruned.json the missing beginning is a gap");
      assert.equal(broken.unreachable.length, 2);
      await put(prunedKey(chain), {
        formatVersion: 1,
        chain,
        through: 160,
        throughAt: broken.doc!.startedAt,
        at: broken.doc!.startedAt,
      });
      const view = (await listChains(store))[0]!;
      assert.equal(view.reached, 249);
      assert.deepEqual(view.unreachable, []);
      assert.deepEqual([view.window?.firstRevision, view.window?.lastRevision], [160, 249]);
    } finally {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
