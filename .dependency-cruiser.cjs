// Import cycles fail `npm run check` (docs/design.md "Layout"). Type-only imports count: a cycle through types
// still ties two modules together. The layer rules (which folder may import which) live in eslint.config.js; the
// rule for src/remote is kept here as well.
module.exports = {
  forbidden: [
    {
      name: "no-circular",
      severity: "error",
      comment: "modules must not import each other, directly or through others (type-only imports included)",
      from: {},
      to: { circular: true },
    },
    {
      name: "api-is-the-contract",
      severity: "error",
      comment: "src/api (schemas and the route table) is shared by the CLI and the agent: it imports neither side",
      from: { path: "^src/api/" },
      to: { path: "^src/(agent|cli|restore|fleet|sandbox)/" },
    },
    {
      name: "remote-imports-config-util",
      severity: "error",
      comment: "src/remote (SSH to the nodes) stands on src/config and src/util only (docs/design.md)",
      from: { path: "^src/remote/" },
      to: { path: "^src/", pathNot: "^src/(remote|config|util)/" },
    },
  ],
  options: {
    tsPreCompilationDeps: true,
    doNotFollow: { path: "node_modules" },
    exclude: { path: "^(dist|node_modules)/" },
  },
};
