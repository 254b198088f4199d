/**
 * Putting agents on the etcd nodes over SSH (`lifeboat agent install|upgrade|uninstall|status`): the layout on a
 * node, the systemd unit, the pure plan (what differs by sha256, what an outcome is called), and the steps over a
 * RemoteHost. See docs/design.md "Installing agents over SSH".
 */
export { installNode } from "./install.js";
export type { AgentProbe, InstallDeps, InstallOptions, InstallResult, NodeTarget } from "./install.js";
export { uninstallNode } from "./uninstall.js";
export type { UninstallResult } from "./uninstall.js";
export { statusNode } from "./status.js";
export type { StatusResult } from "./status.js";
export { installLayout, layoutOf, UNIT_NAME } from "./layout.js";
export type { InstallLayout } from "./layout.js";
export { systemdUnit } from "./unit.js";
export { memberVersion, toolsFinder, toolsFromFlag } from "./tools.js";
export type { ToolsFinder, ToolsSource } from "./tools.js";
export { sha256File } from "./digest.js";
