// Type-aware lint. no-floating-promises stays on: a daemon must never drop a promise.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

/**
 * `src/<from>` must not import the folders in `banned`, except the files `allowed[folder]` names there (a folder
 * whose one public door is a single file: the CLI side reaches the agent only through its client and API types).
 */
const layer = (from, banned, allowed = {}, files = [`src/${from}/**/*.ts`], ignores = []) => ({
  files,
  ignores,
  rules: {
    "no-restricted-imports": [
      "error",
      {
        patterns: banned.map((b) => {
          const exceptions = (allowed[b] ?? []).flatMap((f) => [`!**/${b}/${f}`, `!../${b}/${f}`]);
          const only = allowed[b] ? ` except ${allowed[b].join(", ")}` : "";
          return {
            group: [`**/${b}/**`, `../${b}/*`, ...exceptions],
            message: `src/${from} must not import src/${b}${only} (layers only point down)`,
          };
        }),
      },
    ],
  },
});

/** The folders every lower layer (store, archive, retention, etcd, config, pki, util) must never import. */
const UPPER = [
  "cli",
  "fleet",
  "agent",
  "api",
  "sandbox",
  "restore",
  "snapshot",
  "schedule",
  "telemetry",
  "remote",
  "install",
];

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
  // Installing agents over SSH: cluster.yml, SSH, etcd's tools; the CLI gives it the agent folder and the agent's answers.
  layer("install", [...UPPER.filter((f) => f !== "install" && f !== "remote"), "store", "archive", "retention"]),
  layer("agent", ["cli", "fleet", "sandbox", "install"]),
  // The contract between the CLI and the agent: schemas and the route table, never either side's code.
  layer("api", ["cli", "agent", "sandbox", "restore", "fleet"]),
  layer("snapshot", ["cli", "fleet", "agent", "sandbox", "schedule", "telemetry"]),
  layer("restore", ["cli", "fleet", "agent", "sandbox", "schedule"]),
  // The scheduler runs inside the agent but never reaches into its HTTP side, nor into the CLI or its fleet.
  layer("schedule", ["cli", "fleet", "agent", "sandbox", "restore"]),
  layer("telemetry", ["cli", "fleet", "agent", "sandbox", "schedule", "restore"]),
  // The CLI's view of a cluster reaches each agent through its client (and the route table in src/api), nothing else.
  layer("fleet", ["cli", "sandbox", "agent"], { agent: ["client.js"] }),
  // Commands reach agents only through src/fleet. `lifeboat cert node` and `sandbox up` write an agent's folder
  // (agent/bundle.ts); `lifeboat agent` runs one (cli/agent.ts, below).
  layer("cli", ["agent"], { agent: ["bundle.js"] }, ["src/cli/**/*.ts"], ["src/cli/agent.ts"]),
  layer("cli", ["agent"], { agent: ["main.js"] }, ["src/cli/agent.ts"]),
);
