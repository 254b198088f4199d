// Runs every compiled test file (dist/test/**/*.test.js) with node's test runner.
// TEST_FILTER=substring narrows the files; LIFEBOAT_TEST_CONCURRENCY sets how many files run at once.
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";

function find(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? find(join(dir, e.name)) : e.name.endsWith(".test.js") ? [join(dir, e.name)] : [],
  );
}

const filter = process.env.TEST_FILTER ?? "";
const files = find("dist/test")
  .filter((f) => f.includes(filter))
  .sort();
if (files.length === 0) {
  console.error(`run-tests: no test files match '${filter}'`);
  process.exit(1);
}
const concurrency = process.env.LIFEBOAT_TEST_CONCURRENCY ?? "2";
// Every agent a test starts checks each answer against its route's schema before sending it (src/agent/http.ts).
const result = spawnSync(process.execPath, ["--test", `--test-concurrency=${concurrency}`, ...files], {
  stdio: "inherit",
  env: { ...process.env, LIFEBOAT_CHECK_RESPONSES: "1" },
});
process.exit(result.status ?? 1);
