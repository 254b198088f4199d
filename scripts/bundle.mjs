// Bundles the compiled CLI (dist/src/cli/bin.js) with esbuild, as `npm run build`'s last step: dist/bundle/cli/bin.js
// is the `lifeboat` that package.json's bin, the README, the tests and the bench run. ES modules with code splitting,
// so that each command still loads only what it uses (the lazy `import()`s of src/cli/commands.ts become chunks),
// while a start no longer resolves, reads and links some 120 separate files (zod alone is 95): measured on
// `snapshot-list`, its first S3 request leaves about 95 ms earlier. The single executable (scripts/package.mjs)
// bundles the same entry with the same inlined constants as one CommonJS script.
import { createRequire } from "node:module";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { rmSync } from "node:fs";
import esbuild from "esbuild";
import { buildVersion } from "./build-info.mjs";

const ENTRY = "dist/src/cli/bin.js";
const PROTO = "dist/src/etcd/proto/rpc.proto";
/** Two levels below dist, as dist/src/cli is: src/cli/agent-install.ts finds dist/package at the same "../../package". */
const OUT_DIR = "dist/bundle/cli";

/**
 * etcd's .proto files as protobufjs JSON, parsed the way src/etcd/wire.ts loads them (keepCase), by the protobufjs
 * that @grpc/proto-loader itself uses, so that `fromJSON` at run time builds the same definitions.
 */
function etcdProtoJson() {
  const fromLoader = createRequire(createRequire(import.meta.url).resolve("@grpc/proto-loader"));
  const protobuf = fromLoader("protobufjs");
  const root = new protobuf.Root().loadSync(resolve(PROTO), { keepCase: true });
  root.resolveAll();
  return root.toJSON();
}

/** What both bundles share: the entry, Node 20, and constants inlined so that the bundle reads no files of dist/src. */
export function commonOptions(version) {
  return {
    entryPoints: [ENTRY],
    bundle: true,
    platform: "node",
    target: "node20",
    logLevel: "warning",
    // ssh2's optional native addons (its sshcrypto binding and cpu-features), which it loads inside try/catch: left
    // out, require refuses them and ssh2 uses Node's own crypto.
    external: ["*.node"],
    define: {
      LIFEBOAT_BUILD_VERSION: JSON.stringify(version),
      LIFEBOAT_ETCD_PROTO: JSON.stringify(etcdProtoJson()),
    },
  };
}

async function main() {
  rmSync(OUT_DIR, { recursive: true, force: true });
  const common = commonOptions(buildVersion());
  await esbuild.build({
    ...common,
    format: "esm",
    splitting: true,
    outdir: OUT_DIR,
    // The CommonJS packages inside (the AWS SDK, gRPC, ssh2) call require for Node's own modules, and ssh2's
    // poly1305 reads __dirname. Not minified: a crash prints its source line, which stays one line of code.
    banner: {
      js: [
        "import { createRequire as __lifeboatCreateRequire } from 'node:module';",
        "import { fileURLToPath as __lifeboatFileURLToPath } from 'node:url';",
        "import { dirname as __lifeboatDirname } from 'node:path';",
        "const require = __lifeboatCreateRequire(import.meta.url);",
        "const __filename = __lifeboatFileURLToPath(import.meta.url);",
        "const __dirname = __lifeboatDirname(__filename);",
      ].join(" "),
    },
  });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) await main();
