// Type-aware lint. no-floating-promises stays on: a daemon must never drop a promise.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

const layer = (from, banned) => ({
  files: [`src/${from}/**/*.ts`],
  rules: {
    "no-restricted-imports": [
      "error",
      {
        patterns: banned.map((b) => ({
          group: [`**/${b}/**`, `../${b}/*`],
          message: `src/${from} must not import src/${b} (layers only point down)`,
        })),
      },
    ],
  },
});

/** The folders every lower layer (store, archive, retention, etcd, config, pki, util) must never import. */
const UPPER = ["cli", "agent", "sandbox", "restore", "snapshot", "schedule", "telemetry", "remote"];

export default tseslint.config(
  { ignores: ["dist/", "node_modules/", ".cache/", "bench/results/"] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    linterOptions: { reportUnusedDisableDirectives: "error" },
    rules: {
      "@typescript-eslint/no-floating-promises": [
        "error",
        // node:test collects these itself; awaiting them would serialize suites.
        {
          allowForKnownSafeCalls: [
            { from: "package", package: "node:test", name: ["test", "describe", "it", "suite"] },
          ],
        },
      ],
      // Route handlers and command actions share async signatures whether or not a given one awaits.
      "@typescript-eslint/require-await": "off",
      "@typescript-eslint/consistent-type-imports": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
    },
  },
  { files: ["**/*.js", "**/*.mjs", "**/*.cjs"], ...tseslint.configs.disableTypeChecked },
  { files: ["**/*.js", "**/*.mjs"], languageOptions: { globals: { process: "readonly", console: "readonly" } } },
  { files: ["**/*.cjs"], languageOptions: { sourceType: "commonjs", globals: { module: "writable" } } },
  // Import cycles are checked by dependency-cruiser (.dependency-cruiser.cjs); these rules say which way layers point.
  layer("store", [...UPPER, "etcd"]),
  layer("archive", [...UPPER, "etcd", "store"]),
  layer("retention", [...UPPER, "etcd", "store", "archive"]),
  layer("etcd", [...UPPER, "store"]),
  layer("config", [...UPPER, "store", "etcd"]),
  layer("pki", [...UPPER, "store", "etcd", "config"]),
  layer("util", [...UPPER, "store", "etcd", "config", "archive", "pki", "retention"]),
  // SSH to the nodes stands on cluster.yml and the utilities only.
  layer("remote", [...UPPER.filter((f) => f !== "remote"), "store", "etcd", "archive", "pki", "retention"]),
  layer("agent", ["cli", "sandbox"]),
  layer("snapshot", ["cli", "agent", "sandbox", "schedule", "telemetry"]),
  layer("restore", ["cli", "agent", "sandbox", "schedule"]),
  // The scheduler runs inside the agent but never reaches into its HTTP side, nor into the CLI.
  layer("schedule", ["cli", "agent", "sandbox", "restore"]),
  layer("telemetry", ["cli", "agent", "sandbox", "schedule", "restore"]),
);
