// Builds the single executable for linux-x64: the compiled CLI (dist/src/cli/bin.js) bundled by esbuild into one
// CommonJS script, with the version and etcd's .proto definitions inlined, made into a Node single executable
// application (https://nodejs.org/docs/latest-v20.x/api/single-executable-applications.html) from the Node binary
// running this script. The result needs no Node.js, no npm, no network and no file beside it.
// Run after `npm run build` (`npm run package` does both). Writes dist/package/lifeboat-<version>-linux-x64 and its
// .sha256 (sha256sum's format), and prints the path and size. `--out DIR` writes them to DIR instead.
import { createHash } from "node:crypto";
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  copyFileSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { basename, join } from "node:path";
import esbuild from "esbuild";
import { inject } from "postject";
import { buildVersion } from "./build-info.mjs";
import { commonOptions } from "./bundle.mjs";

// `--out DIR` writes elsewhere (a test that packages while another test uses dist/package).
const outFlag = process.argv.indexOf("--out");
const OUT_DIR = outFlag > 0 && process.argv[outFlag + 1] ? process.argv[outFlag + 1] : "dist/package";
const WORK_DIR = join(OUT_DIR, "work");
// The fuse Node's SEA looks for (the docs' postject command line).
const SEA_FUSE = "NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2";

/** One CommonJS script with no runtime file reads: the version and the proto definitions are constants in it. */
async function bundle(version, out) {
  const common = commonOptions(version);
  const result = await esbuild.build({
    ...common,
    format: "cjs",
    outfile: out,
    write: false,
    define: {
      ...common.define,
      // What is left using it (the dev paths in src/cli/version.ts and src/etcd/wire.ts) is never reached in the
      // bundle; if it ever were, it fails at once instead of looking for files beside the executable.
      "import.meta.url": "undefined",
    },
  });
  const [file] = result.outputFiles;
  // The SEA runs the script inside a function wrapper, where bin.js's "#!" line is a syntax error.
  const code = file.text.replace(/^#!.*\n/, "");
  writeFileSync(out, code);
}

function run(command, args) {
  const result = spawnSync(command, args, { stdio: "inherit" });
  if (result.status !== 0) throw new Error(`${command} ${args.join(" ")} failed (exit ${result.status})`);
}

async function main() {
  if (process.platform !== "linux" || process.arch !== "x64") {
    throw new Error(
      `the executable is built from this Node binary, which is ${process.platform}-${process.arch}, not linux-x64`,
    );
  }
  const version = buildVersion();
  const exe = join(OUT_DIR, `lifeboat-${version}-linux-x64`);
  rmSync(WORK_DIR, { recursive: true, force: true });
  mkdirSync(WORK_DIR, { recursive: true });
  for (const old of readdirSync(OUT_DIR)) if (old.startsWith("lifeboat-")) rmSync(join(OUT_DIR, old));

  const script = join(WORK_DIR, "lifeboat.cjs");
  await bundle(version, script);
  const blob = join(WORK_DIR, "sea-prep.blob");
  const config = join(WORK_DIR, "sea-config.json");
  // No useCodeCache: measured, it did not start the program any faster, and V8 flags in NODE_OPTIONS (such as
  // --max-old-space-size) make V8 reject the cache with a warning on every start.
  writeFileSync(config, JSON.stringify({ main: script, output: blob, disableExperimentalSEAWarning: true }));
  run(process.execPath, ["--experimental-sea-config", config]);

  copyFileSync(process.execPath, exe);
  chmodSync(exe, 0o755);
  await inject(exe, "NODE_SEA_BLOB", readFileSync(blob), { sentinelFuse: SEA_FUSE });
  const digest = createHash("sha256").update(readFileSync(exe)).digest("hex");
  writeFileSync(`${exe}.sha256`, `${digest}  ${basename(exe)}\n`);
  rmSync(WORK_DIR, { recursive: true, force: true });
  const mib = (statSync(exe).size / 1024 / 1024).toFixed(1);
  console.log(`${exe} (${mib} MiB, node ${process.version}), sha256 ${digest}`);
}

await main();
