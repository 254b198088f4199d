import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { formatInstant, parseRfc3339, periodKey, snapshotTime, timeFromRkeName } from "../src/retention/index.js";

const iso = (d: Date | undefined): string | undefined => d?.toISOString();

void describe("creation time from RKE names", () => {
  const cases: [string, string | undefined][] = [
    ["2020-10-15T14:53:26Z_etcd", "2020-10-15T14:53:26.000Z"],
    ["2020-10-15T14:53:26Z_etcd.zip", "2020-10-15T14:53:26.000Z"],
    ["backups/cluster-a/2020-10-15T14:53:26Z_etcd.zip", "2020-10-15T14:53:26.000Z"],
    ["2020-10-15T16:53:26+02:00_etcd", "2020-10-15T14:53:26.000Z"],
    ["2020-10-15T14:53:26.250Z_etcd", "2020-10-15T14:53:26.250Z"],
    ["rke_etcd_snapshot_2020-10-15T14:53:26Z", undefined],
    ["c-abcde-rl-xyz12_2020-10-15T14:53:26Z", undefined],
    ["pki.bundle.tar.gz", undefined],
    ["2020-10-15T14:53:26Z", undefined],
    ["_etcd", undefined],
    ["2020-02-30T00:00:00Z_etcd", undefined],
    ["2020-10-15T24:00:00Z_etcd", undefined],
    ["2020-10-15 14:53:26Z_etcd", undefined],
    ["2020-10-15T14:53:26_etcd", undefined],
    ["2020-10-15T14-53-26Z_etcd", undefined],
  ];
  for (const [name, expected] of cases) {
    void it(`${name} → ${expected ?? "none"}`, () => assert.equal(iso(timeFromRkeName(name)), expected));
  }

  void it("accepts leap days and rejects non-leap ones", () => {
    assert.equal(iso(parseRfc3339("2024-02-29T00:00:00Z")), "2024-02-29T00:00:00.000Z");
    assert.equal(parseRfc3339("2026-02-29T00:00:00Z"), undefined);
  });

  void it("prefers the manifest's time and ignores an invalid one", () => {
    const base = { name: "2020-10-15T14:53:26Z_etcd", location: "s3", kind: "recurring", verified: true } as const;
    assert.equal(iso(snapshotTime({ ...base, created: new Date("2026-01-01T00:00:00Z") })), "2026-01-01T00:00:00.000Z");
    assert.equal(iso(snapshotTime({ ...base, created: new Date(Number.NaN) })), "2020-10-15T14:53:26.000Z");
    assert.equal(snapshotTime({ ...base, name: "manual" }), undefined);
  });
});

void describe("formatting", () => {
  void it("writes instants in UTC, with milliseconds only when present", () => {
    assert.equal(formatInstant(new Date("2026-11-26T10:00:00+02:00")), "2026-11-26T08:00:00Z");
    assert.equal(formatInstant(new Date("2026-11-26T10:00:00.5Z")), "2026-11-26T10:00:00.500Z");
  });
});

void describe("UTC periods", () => {
  const d = new Date("2026-11-26T23:59:59.999Z");
  void it("names hours, days, months and years", () => {
    assert.equal(periodKey("hourly", d), "2026-11-26T23");
    assert.equal(periodKey("daily", d), "2026-11-26");
    assert.equal(periodKey("monthly", d), "2026-11");
    assert.equal(periodKey("yearly", d), "2026");
  });

  const weeks: [string, string][] = [
    ["2026-11-26T00:00:00Z", "2026-W48"],
    ["2026-11-23T00:00:00Z", "2026-W48"], // Monday starts the week
    ["2026-11-22T23:59:59Z", "2026-W47"], // Sunday ends the previous one
    ["2024-12-30T00:00:00Z", "2025-W01"],
    ["2021-01-03T00:00:00Z", "2020-W53"],
    ["2027-01-01T00:00:00Z", "2026-W53"],
    ["2027-01-04T00:00:00Z", "2027-W01"],
  ];
  for (const [at, key] of weeks) {
    void it(`${at} is in ISO week ${key}`, () => assert.equal(periodKey("weekly", new Date(at)), key));
  }
});
