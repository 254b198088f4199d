import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { formatDuration, parseDuration, parseGoDuration } from "../src/util/duration.js";

void describe("operator durations", () => {
  const durations: [number, string][] = [
    [72 * 3_600_000, "72h"],
    [90 * 60_000, "1h30m"],
    [14 * 86_400_000, "14d"],
    [8 * 86_400_000 + 3_600_000, "8d1h"],
    [45_000, "45s"],
    [1500, "1s500ms"],
    [0, "0s"],
  ];
  for (const [ms, text] of durations) {
    void it(`${ms} ms reads ${text} and parses back`, () => {
      assert.equal(formatDuration(ms), text);
      assert.equal(parseDuration(text), ms);
    });
  }

  void it("parses fractional and week durations and rejects everything else", () => {
    assert.equal(parseDuration("0.5h"), 30 * 60_000);
    assert.equal(parseDuration("2w"), 14 * 86_400_000);
    for (const bad of ["", "72", "h", "3 days", "-1h", "1y", "1h 30m"])
      assert.equal(parseDuration(bad), undefined, bad);
  });

  void it("keeps its stricter numbers although it shares Go's reader: no sign, no 0, no 1. or .5, no ns", () => {
    for (const bad of ["+1h", "0", "1.h", ".5h", "1H", "1hm", "5ns", "2us", " 1h"]) {
      assert.equal(parseDuration(bad), undefined, bad);
    }
    for (const good of ["+1h", "0", "1.h", ".5h", "5ns", " 1h"]) assert.ok(parseGoDuration(good).ok, good);
    assert.ok(!parseGoDuration("1w").ok, "Go has no weeks");
  });
});

void describe("Go durations", () => {
  void it("parses Go syntax and rejects the rest", () => {
    const ok: [string, number][] = [
      ["5m0s", 300_000],
      ["1h30m", 5_400_000],
      ["24h", 86_400_000],
      ["1.5h", 5_400_000],
      ["300ms", 300],
      ["1h0m0s", 3_600_000],
      ["0", 0],
      ["-2s", -2000],
      ["1us", 0.001],
    ];
    for (const [text, ms] of ok) assert.deepEqual(parseGoDuration(text), { ok: true, ms }, text);
    for (const bad of ["3d", "12", "h", "1 h", "", "1hour", "1H"]) {
      const parsed = parseGoDuration(bad);
      assert.equal(parsed.ok, false, bad);
    }
    const days = parseGoDuration("3d");
    assert.ok(!days.ok && days.message.includes("3d is 72h"));
  });
});
