/**
 * Remote access to cluster nodes over SSH, by RKE's rules (see docs/design.md "Remote access (SSH)"):
 * `connectNode(node, options)` gives a `RemoteHost` to run commands on and upload files to.
 * Imports only config/ and util/.
 */
export { connectNode } from "./connect.js";
export type { ConnectOptions } from "./connect.js";
export { RemoteHost } from "./host.js";
export type { ExecOptions, ExecResult } from "./host.js";
export { shellCommand, shellQuote } from "../util/shell.js";
export { asRoot, ensureFreeSpace, ensurePortFree, ensureRoot } from "./checks.js";
export type { RootAccess } from "./checks.js";
export * from "./errors.js";
