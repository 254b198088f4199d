/**
 * The import-cycle check of `npm run check` (.dependency-cruiser.cjs), run on tiny folders: it must fail on a cycle,
 * a cycle made only of type imports included, and pass on the same files without one.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";

const root = resolve(fileURLToPath(import.meta.url), "../../..");
const cruiser = join(root, "node_modules/dependency-cruiser/bin/dependency-cruise.mjs");

async function cruise(files: Record<string, string>): Promise<{ status: number | null; output: string }> {
  const dir = await mkdtemp(join(tmpdir(), "lifeboat-deps-"));
  try {
    for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
    const run = spawnSync(process.execPath, [cruiser, "--config", join(root, ".dependency-cruiser.cjs"), dir], {
      cwd: root,
      encoding: "utf8",
    });
    return { status: run.status, output: run.stdout + run.stderr };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe("the import-cycle check", () => {
  it("fails on a cycle of value imports, naming the files", async () => {
    const { status, output } = await cruise({
      "a.ts": 'import { b } from "./b.js";\nexport const a = () => b;\n',
      "b.ts": 'import { a } from "./a.js";\nexport const b = () => a;\n',
    });
    assert.notEqual(status, 0);
    assert.match(output, /no-circular/);
    assert.match(output, /a\.ts/);
  });

  it("fails on a cycle made only of type imports", async () => {
    const { status, output } = await cruise({
      "a.ts": 'import type { B } from "./b.js";\nexport interface A { b?: B }\n',
      "b.ts": 'import type { A } from "./a.js";\nexport interface B { a?: A }\n',
    });
    assert.notEqual(status, 0);
    assert.match(output, /no-circular/);
  });

  it("passes when the imports point one way", async () => {
    const { status, output } = await cruise({
      "a.ts": 'import type { B } from "./b.js";\nexport interface A { b?: B }\n',
      "b.ts": "export interface B { n: number }\n",
    });
    assert.equal(status, 0, output);
  });
});
