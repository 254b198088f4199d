// Copies non-TypeScript assets (etcd's .proto files) next to the compiled code.
import { cpSync, existsSync } from "node:fs";

if (existsSync("src/etcd/proto")) cpSync("src/etcd/proto", "dist/src/etcd/proto", { recursive: true });
