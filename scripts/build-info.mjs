// The version every build reports: package.json's version plus the git commit it was built from, "0.1.0+1a2b3c4",
// with "-dirty" when tracked files have uncommitted changes (as `git describe --dirty`). Outside a git checkout (or
// without git), the bare version. Computed when building, so that a node never runs git.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";

function git(args) {
  const run = spawnSync("git", args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
  return run.status === 0 ? run.stdout.trim() : undefined;
}

export function buildVersion() {
  const { version } = JSON.parse(readFileSync("package.json", "utf8"));
  const commit = git(["rev-parse", "--short", "HEAD"]);
  if (commit === undefined) return version;
  // Refreshes the index first, so that a file only touched (same content) does not count as a change.
  git(["update-index", "-q", "--refresh"]);
  const dirty = git(["diff-index", "--quiet", "HEAD", "--"]) === undefined;
  return `${version}+${commit}${dirty ? "-dirty" : ""}`;
}
