/**
 * Golden cases: each test/fixtures/retention/*.json holds snapshots, a policy and `now`, and the expected
 * keep/remove lists with every reason. Run with UPDATE_GOLDEN=1 to rewrite `expected` from the current code,
 * then review the diff: a changed reason is a changed promise to operators.
 */
import assert from "node:assert/strict";
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { applyRetention } from "../src/retention/index.js";
import type { RetentionDecision, RetentionEntry, RetentionInput, RetentionPolicy } from "../src/retention/index.js";

const DIR = fileURLToPath(new URL("../../test/fixtures/retention/", import.meta.url));
const UPDATE = process.env.UPDATE_GOLDEN === "1";

const entry = z.strictObject({ location: z.string(), name: z.string(), reasons: z.array(z.string()) });
const fixtureSchema = z.strictObject({
  description: z.string().min(1),
  now: z.iso.datetime({ offset: true }),
  policy: z.record(z.string(), z.unknown()),
  snapshots: z.array(
    z.strictObject({
      name: z.string(),
      location: z.string(),
      clusterId: z.string().optional(),
      kind: z.enum(["one-time", "recurring"]),
      created: z.string().optional(),
      verified: z.boolean(),
    }),
  ),
  expected: z.strictObject({ keep: z.array(entry), remove: z.array(entry) }).optional(),
});
type Fixture = z.infer<typeof fixtureSchema>;

function toInput(s: Fixture["snapshots"][number]): RetentionInput {
  const { created, clusterId, ...rest } = s;
  return {
    ...rest,
    ...(clusterId === undefined ? {} : { clusterId }),
    ...(created === undefined ? {} : { created: new Date(created) }),
  };
}

const summarize = (entries: readonly RetentionEntry[]): z.infer<typeof entry>[] =>
  entries.map((e) => ({ location: e.input.location, name: e.input.name, reasons: [...e.reasons] }));
const expectedOf = (d: RetentionDecision): NonNullable<Fixture["expected"]> => ({
  keep: summarize(d.keep),
  remove: summarize(d.remove),
});

/** Writes the fixture back the way `prettier --check` wants it, so updates never leave formatting noise. */
async function rewrite(file: string, fixture: Fixture): Promise<void> {
  const prettier = await import("prettier");
  const options = (await prettier.resolveConfig(file)) ?? {};
  writeFileSync(file, await prettier.format(JSON.stringify(fixture), { ...options, filepath: file }));
}

void describe("retention golden files", () => {
  const files = readdirSync(DIR)
    .filter((f) => f.endsWith(".json"))
    .sort();

  void it("finds the golden files", () => assert.ok(files.length >= 10, `only ${files.length} files in ${DIR}`));

  for (const file of files) {
    void it(file, async () => {
      const path = join(DIR, file);
      const fixture = fixtureSchema.parse(JSON.parse(readFileSync(path, "utf8")));
      const inputs = fixture.snapshots.map(toInput);
      const keys = new Set(inputs.map((i) => `${i.location} ${i.name}`));
      assert.equal(keys.size, inputs.length, "each (location, name) appears once, so entries are unambiguous");
      const decision = applyRetention(inputs, fixture.policy as unknown as RetentionPolicy, new Date(fixture.now));
      const actual = expectedOf(decision);
      if (UPDATE) return rewrite(path, { ...fixture, expected: actual });
      assert.ok(fixture.expected, `${file} has no expected decision: run with UPDATE_GOLDEN=1 and review it`);
      assert.deepEqual(actual, fixture.expected);
    });
  }
});
