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
  { files: ["**/*.js", "**/*.mjs"], ...tseslint.configs.disableTypeChecked },
  { files: ["**/*.js", "**/*.mjs"], languageOptions: { globals: { process: "readonly", console: "readonly" } } },
  layer("store", ["etcd", "cli", "agent", "restore", "snapshot", "sandbox"]),
  layer("archive", ["etcd", "cli", "agent", "store", "restore", "snapshot", "sandbox"]),
  layer("retention", ["etcd", "cli", "agent", "store", "restore", "snapshot", "sandbox", "archive"]),
  layer("etcd", ["cli", "agent", "store", "restore", "snapshot", "sandbox"]),
  layer("config", ["cli", "agent", "store", "restore", "snapshot", "sandbox", "etcd"]),
  layer("pki", ["cli", "agent", "store", "restore", "snapshot", "sandbox", "etcd", "config"]),
  layer("util", [
    "cli",
    "agent",
    "store",
    "restore",
    "snapshot",
    "sandbox",
    "etcd",
    "config",
    "archive",
    "pki",
    "retention",
  ]),
  layer("agent", ["cli", "sandbox"]),
  layer("snapshot", ["cli", "agent", "sandbox"]),
  layer("restore", ["cli", "agent", "sandbox"]),
);
