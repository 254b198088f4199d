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

// The files that take minutes (measured on 2 cores, 2026-12-04: 75-225 s each), started first so that none of
// them starts last and runs alone while the other lanes are idle. A file not named here runs in name order after
// them; a name here that no longer exists is ignored.
const LONGEST_FIRST = [
  "workflow-external-etcd35",
  "workflow-etcd34",
  "workflow-etcd35",
  "pitr-restore",
  "schedule-verify",
  "restore-etcd35",
  "restore-etcd34",
  "agent-install",
  "pitr-failover",
  "workflow-restore-prune",
  "stale-sandbox",
  "archive-zip64",
  "snapshot-save",
  "schedule-sandbox",
];
const rank = (f) => {
  const i = LONGEST_FIRST.findIndex((name) => f.endsWith(`/${name}.test.js`));
  return i < 0 ? LONGEST_FIRST.length : i;
};

const filter = process.env.TEST_FILTER ?? "";
const files = find("dist/test")
  .filter((f) => f.includes(filter))
  .sort()
  .sort((a, b) => rank(a) - rank(b));
if (files.length === 0) {
  console.error(`run-tests: no test files match '${filter}'`);
  process.exit(1);
}
// Three files at once: most of a test's time is waiting on etcd, agents and S3 (CPU averaged 0.9 of 2 cores with
// two at once), and the suite must stay well inside CI's time.
const concurrency = process.env.LIFEBOAT_TEST_CONCURRENCY ?? "3";
// Every agent a test starts checks each answer against its route's schema before sending it (src/agent/http.ts).
const result = spawnSync(process.execPath, ["--test", `--test-concurrency=${concurrency}`, ...files], {
  stdio: "inherit",
  env: { ...process.env, LIFEBOAT_CHECK_RESPONSES: "1" },
});
process.exit(result.status ?? 1);
