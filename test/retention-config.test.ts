import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConfigError } from "../src/util/errors.js";
import { retentionPolicyFromConfig } from "../src/retention/index.js";
import type { RetentionConfig } from "../src/retention/index.js";

const HOUR = 3_600_000;

void describe("retentionPolicyFromConfig", () => {
  const cases: [string, RetentionConfig, unknown][] = [
    ["nothing set: RKE's default window of 72h", {}, { type: "window", windowMs: 72 * HOUR }],
    [
      "backup_config: retention × interval_hours",
      { intervalHours: 1, retentionCount: 24 },
      { type: "window", windowMs: 24 * HOUR },
    ],
    [
      "backup_config with only interval_hours: retention defaults to 6",
      { intervalHours: 2 },
      { type: "window", windowMs: 12 * HOUR },
    ],
    [
      "backup_config with only retention: interval defaults to 12h",
      { retentionCount: 3 },
      { type: "window", windowMs: 36 * HOUR },
    ],
    ["legacy retention window", { retentionWindowMs: 48 * HOUR }, { type: "window", windowMs: 48 * HOUR }],
    [
      "backup_config wins over the legacy window, as in RKE",
      { intervalHours: 6, retentionCount: 4, retentionWindowMs: 5 * HOUR },
      { type: "window", windowMs: 24 * HOUR },
    ],
    [
      "an explicit window without a length gets RKE's",
      { intervalHours: 6, retentionCount: 4, policy: { type: "window" } },
      { type: "window", windowMs: 24 * HOUR },
    ],
    [
      "an explicit window as text",
      { policy: { type: "window", windowMs: "1h30m" } },
      { type: "window", windowMs: 90 * 60_000 },
    ],
    ["count", { intervalHours: 6, policy: { type: "count", keep: 10 } }, { type: "count", keep: 10 }],
    [
      "tiered with a textual within",
      { policy: { type: "tiered", daily: 7, weekly: 4, within: "2d12h" } },
      { type: "tiered", daily: 7, weekly: 4, within: 60 * HOUR },
    ],
    [
      "scope is carried onto any policy",
      { clusterId: "c-1", includeOneTime: true, policy: { type: "count", keep: 2 } },
      { type: "count", keep: 2, clusterId: "c-1", includeOneTime: true },
    ],
    [
      "scope on the default window",
      { clusterId: "c-1", includeOneTime: false },
      { type: "window", windowMs: 72 * HOUR, clusterId: "c-1", includeOneTime: false },
    ],
  ];
  for (const [label, config, expected] of cases) {
    void it(label, () => assert.deepEqual(retentionPolicyFromConfig(config), expected));
  }

  const invalid: [string, unknown, string, RegExp][] = [
    ["interval 0 (RKE would start a dead container)", { intervalHours: 0 }, "intervalHours", />=1/],
    ["a fractional retention count", { retentionCount: 1.5 }, "retentionCount", /int/i],
    ["a negative legacy window", { retentionWindowMs: -1 }, "retentionWindowMs", />0/],
    ["count 0", { policy: { type: "count", keep: 0 } }, "policy.keep", />=1/],
    ["a misspelt option", { policy: { type: "tiered", keep_daily: 7 } }, "policy", /keep_daily/],
    ["an unknown top-level key", { retention: 6 }, "", /retention/],
    ["a tiered policy without tiers", { policy: { type: "tiered", daily: 0 } }, "policy", /at least one/],
    ["an unreadable duration", { policy: { type: "tiered", within: "3 days" } }, "policy.within", /"3 days"/],
    ["a zero duration", { policy: { type: "window", windowMs: "0h" } }, "policy.windowMs", /"0h"/],
    ["an unknown policy type", { policy: { type: "gfs" } }, "policy.type", /window/],
  ];
  for (const [label, config, path, message] of invalid) {
    void it(`rejects ${label} with a ConfigError at ${path || "the top level"}`, () => {
      assert.throws(
        () => retentionPolicyFromConfig(config as RetentionConfig),
        (err: unknown) =>
          err instanceof ConfigError && err.issues.some((i) => i.path === path && message.test(i.message)),
      );
    });
  }
});
