import { createRequire } from "node:module";

/**
 * Inlined by the single-executable build (scripts/package.mjs, esbuild `define`); undeclared, so `typeof` is
 * "undefined", everywhere else.
 */
declare const LIFEBOAT_BUILD_VERSION: string | undefined;

/**
 * Lifeboat's version: package.json's version plus the git commit it was built from, `0.1.0+1a2b3c4` (`-dirty` when
 * the tree had uncommitted changes). The build computes it, never a node: `npm run build` writes
 * dist/src/build-info.json (scripts/copy-assets.mjs) and the single executable carries it inlined. A build without
 * git (no build-info.json) reports package.json's bare version.
 */
export const VERSION: string = typeof LIFEBOAT_BUILD_VERSION === "string" ? LIFEBOAT_BUILD_VERSION : fromDist();

function fromDist(): string {
  // Relative to dist/src/cli; only read when not inlined, so the single executable never resolves these paths.
  const require = createRequire(import.meta.url);
  try {
    return (require("../build-info.json") as { version: string }).version;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "MODULE_NOT_FOUND") throw err;
    return (require("../../../package.json") as { version: string }).version;
  }
}
