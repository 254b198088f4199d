import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
/** Lifeboat's version, from package.json (dist/src/cli -> ../../../package.json). */
export const VERSION: string = (require("../../../package.json") as { version: string }).version;
