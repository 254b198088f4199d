// Copies non-TypeScript assets (etcd's .proto files) next to the compiled code, and writes dist/src/build-info.json:
// the version with its git commit that `lifeboat --version` and the agent report (src/cli/version.ts).
import { cpSync, existsSync, writeFileSync } from "node:fs";
import { buildVersion } from "./build-info.mjs";

if (existsSync("src/etcd/proto")) cpSync("src/etcd/proto", "dist/src/etcd/proto", { recursive: true });
writeFileSync("dist/src/build-info.json", `${JSON.stringify({ version: buildVersion() })}\n`);
