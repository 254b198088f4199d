/**
 * Installing, upgrading, removing and checking one node's agent over SSH (docs/design.md "Installing agents over
 * SSH"). Each step is ordered so that a failure leaves nothing that looks installed: checks first (root, systemd,
 * free port, free space), then the program and the agent folder, the etcd tools, the unit last, then the start;
 * every file goes to a temp name and is renamed into place; a failure removes what this run added, puts back what it
 * replaced (kept as a hard link until the run succeeds) and stops what it started.
 */
import { posix } from "node:path";
import type { EtcdNode, NodeSsh } from "../config/cluster.js";
import { ensureFreeSpace, ensurePortFree, ensureRoot, shellQuote, SshError } from "../remote/index.js";
import type { RemoteHost } from "../remote/index.js";
import { describeError } from "../util/errors.js";
import { layoutOf, type InstallLayout } from "./layout.js";
import { changedGroups, outcomeOf, parseNodeTools, parseSha256sum, planFiles, seriesOf, usableTools } from "./plan.js";
import type { FileChange, FileGroup, WantedFile } from "./plan.js";
import { agentService, type AgentService, type ServiceState } from "./service.js";
import { NodeShell } from "./shell.js";
import { nodeToolsCheck, type ToolsFinder } from "./tools.js";
import { systemdUnit } from "./unit.js";
import { sha256File, sha256Of } from "./digest.js";

/** What install needs to ask the agent once it runs (GET /v1/info, GET /v1/health over mutual TLS). */
export interface AgentProbe {
  info(): Promise<{ version: string }>;
  health(): Promise<{ reachable: boolean; hasLeader: boolean; alarms: string[]; error?: string }>;
}

export interface NodeTarget {
  node: EtcdNode;
  ssh: NodeSsh;
  agent: AgentProbe;
}

export interface InstallDeps {
  connect(ssh: NodeSsh): Promise<RemoteHost>;
  sleep(ms: number): Promise<void>;
}

export interface InstallOptions {
  /** The program file on this machine, hashed once. */
  program: { path: string; sha256: string; size: number };
  /** The agent folder's files (agentBundleFiles, for the node's agent folder). */
  agentFiles(node: EtcdNode, agentDir: string): Record<string, string>;
  tools: ToolsFinder;
  memberVersion(node: EtcdNode): Promise<string | undefined>;
  /** `agent upgrade`: refuse a node with nothing installed. */
  requireInstalled: boolean;
  /** How long the started agent may take to answer; default 60 s. */
  answerTimeoutMs?: number;
}

export interface InstallResult {
  node: string;
  ok: boolean;
  /** `installed`, `upgraded: program`, `started`, `up to date`. */
  outcome?: string;
  changed: FileGroup[];
  /** What was decided about the etcd tools. */
  tools?: string;
  version?: string;
  error?: string;
}

const MARGIN_BYTES = 16 * 1024 * 1024;
const PREVIOUS = ".lifeboat-previous";

/** Installs (or upgrades) the agent on one node. Never throws: a failure is the result's `error`. */
export async function installNode(
  target: NodeTarget,
  options: InstallOptions,
  deps: InstallDeps,
): Promise<InstallResult> {
  const { node } = target;
  const result: InstallResult = { node: node.memberName, ok: false, changed: [] };
  let host: RemoteHost | undefined;
  let shell: NodeShell | undefined;
  try {
    host = await deps.connect(target.ssh);
    shell = new NodeShell(host, await ensureRoot(host));
    await install(shell, target, options, deps, result);
    result.ok = true;
  } catch (err) {
    result.error = describeError(err);
  } finally {
    await shell?.close().catch(() => undefined);
    await host?.close();
  }
  return result;
}

async function install(
  shell: NodeShell,
  target: NodeTarget,
  options: InstallOptions,
  deps: InstallDeps,
  result: InstallResult,
): Promise<void> {
  const { node } = target;
  const layout = layoutOf(node);
  const service = agentService(node.install.mode, shell, layout);
  if (service.mode === "systemd") await ensureSystemd(shell, node);
  const before = await service.state();
  const wasRunning = before.kind === "running";
  const wanted = await wantedFiles(shell, target, options, layout, result);
  const remote = parseSha256sum(
    (await shell.exec(`sha256sum -- ${wanted.map((f) => shellQuote(f.path)).join(" ")} 2>/dev/null; exit 0`)).stdout,
  );
  const wasInstalled = remote.has(layout.program);
  if (options.requireInstalled && !wasInstalled) {
    throw new SshError(shell.target, `no agent installed at ${layout.program}: run lifeboat agent install first`);
  }
  const changes = planFiles(wanted, remote);
  if (!wasRunning) await ensurePortFree(shell.host, node.agent.port, { address: node.agent.host });
  const bytes = changes.reduce((sum, c) => sum + c.file.size, 0);
  if (bytes > 0) await ensureFreeSpace(shell.host, layout.binDir, bytes + MARGIN_BYTES);

  const journal = new Journal(shell);
  let started = false;
  try {
    await journal.makeDirs(layout);
    for (const change of changes) await journal.put(change);
    result.version = await programVersion(shell, layout);
    if (changes.length > 0 || !wasRunning) {
      await service.start();
      started = true;
    }
    await waitForAgent(target, service, shell.target, result.version, options.answerTimeoutMs ?? 60_000, deps);
    await journal.commit();
  } catch (err) {
    await undo(service, journal, { started, wasRunning, before });
    throw err;
  }
  result.changed = changedGroups(changes);
  result.outcome = outcomeOf({ wasInstalled, wasRunning, changes });
}

/** systemd mode needs a node that runs systemd (`/run/systemd/system` exists only then). */
async function ensureSystemd(shell: NodeShell, node: EtcdNode): Promise<void> {
  const check = await shell.exec("command -v systemctl >/dev/null && [ -d /run/systemd/system ]");
  if (check.code !== 0) {
    throw new SshError(
      shell.target,
      `nodes[${node.index}].lifeboat.install.mode is systemd, but the node does not run systemd; ` +
        `set install.mode: plain for a host without it`,
    );
  }
}

/** The program, the agent folder, the etcd tools when the node lacks its member's, and the unit (last). */
async function wantedFiles(
  shell: NodeShell,
  target: NodeTarget,
  options: InstallOptions,
  layout: InstallLayout,
  result: InstallResult,
): Promise<WantedFile[]> {
  const { node } = target;
  const { program } = options;
  const files: WantedFile[] = [
    {
      path: layout.program,
      mode: 0o755,
      group: "program",
      sha256: program.sha256,
      size: program.size,
      source: program.path,
    },
  ];
  for (const [name, text] of Object.entries(options.agentFiles(node, layout.agentDir))) {
    files.push(bytesFile(posix.join(layout.agentDir, name), 0o600, "agent folder", text));
  }
  files.push(...(await toolFiles(shell, node, options, layout, result)));
  if (node.install.mode === "systemd") files.push(bytesFile(layout.unit, 0o644, "unit", systemdUnit(layout)));
  return files;
}

function bytesFile(path: string, mode: number, group: FileGroup, text: string): WantedFile {
  const data = Buffer.from(text, "utf8");
  return { path, mode, group, sha256: sha256Of(data), size: data.length, source: data };
}

/**
 * The etcd tools to copy: none when the node already has tools of its member's release line (in tools_dir, the
 * tools directory beside the program, or on PATH); otherwise those the finder has for that line.
 */
async function toolFiles(
  shell: NodeShell,
  node: EtcdNode,
  options: InstallOptions,
  layout: InstallLayout,
  result: InstallResult,
): Promise<WantedFile[]> {
  const version = await options.memberVersion(node);
  const dirs = [...(node.etcd.toolsDir ? [node.etcd.toolsDir] : []), layout.toolsDir];
  const found = parseNodeTools(await shell.run(nodeToolsCheck(dirs), "looking for etcd tools"));
  const usable = usableTools(found, version);
  const member = version ? `member ${version}` : "member version unknown";
  if (usable && usable.dir !== layout.toolsDir) {
    result.tools = `the node has etcd ${usable.version} in ${usable.dir} (${member})`;
    return [];
  }
  // The tools beside the program are ours: kept up to date like the program (below) when a source matches.
  const series = version ? seriesOf(version) : usable ? seriesOf(usable.version) : undefined;
  const source = series ? await options.tools(series) : undefined;
  if (!source) {
    if (usable) {
      result.tools = `etcd ${usable.version} in ${usable.dir} (${member})`;
      return [];
    }
    const wanted = series ? `etcd ${series}` : "etcd (the member's version is unknown)";
    throw new SshError(
      shell.target,
      `the node has no ${wanted} tools and none were found here: give --etcd-tools etcd-vX.Y.Z-linux-amd64.tar.gz ` +
        `(or a directory), or put etcd, etcdctl and etcdutl on this machine's PATH`,
    );
  }
  result.tools = `etcd ${source.version} from ${source.describe} in ${layout.toolsDir} (${member})`;
  const files: WantedFile[] = [];
  for (const tool of source.files) {
    const digest = await sha256File(tool.path);
    files.push({
      path: posix.join(layout.toolsDir, tool.name),
      mode: 0o755,
      group: "etcd tools",
      ...digest,
      source: tool.path,
    });
  }
  return files;
}

/** The installed program's own `--version`: it runs on the node, and the agent must report the same. */
async function programVersion(shell: NodeShell, layout: InstallLayout): Promise<string> {
  const out = await shell.run(`${shellQuote(layout.program)} --version`, `running ${layout.program} --version`, 60_000);
  return out.trim();
}

/** Until the agent answers GET /v1/info with `version` and then GET /v1/health, over mutual TLS. */
async function waitForAgent(
  target: NodeTarget,
  service: AgentService,
  label: string,
  version: string,
  timeoutMs: number,
  deps: InstallDeps,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "no answer yet";
  for (let attempt = 1; ; attempt++) {
    try {
      const info = await target.agent.info();
      if (info.version === version) {
        await target.agent.health();
        return;
      }
      last = `it reports version ${info.version}, not ${version}`;
    } catch (err) {
      last = describeError(err);
    }
    if (attempt % 6 === 0 && (await service.state()).kind !== "running") {
      throw new SshError(label, `the agent exited after it started; its log ends:\n${await service.logTail()}`);
    }
    if (Date.now() > deadline) {
      throw new SshError(
        label,
        `the agent did not answer over mutual TLS at ${target.node.agent.endpoint} within ${timeoutMs / 1000} s ` +
          `(${last}); its log ends:\n${await service.logTail()}`,
      );
    }
    await deps.sleep(500);
  }
}

/** Puts the node back as this run found it, as far as it can; errors here are secondary to the one being thrown. */
async function undo(
  service: AgentService,
  journal: Journal,
  o: { started: boolean; wasRunning: boolean; before: ServiceState },
): Promise<void> {
  const quietly = (p: Promise<unknown>) => p.catch(() => undefined);
  if (o.started) await quietly(service.stop());
  if (o.before.kind === "absent") await quietly(service.remove());
  await quietly(journal.rollback());
  if (o.started && o.wasRunning) await quietly(service.start());
}

/** What one run changed on the node, to undo it on failure or to forget it on success. */
class Journal {
  private readonly added: string[] = [];
  private readonly replaced: string[] = [];
  private readonly dirs: string[] = [];

  constructor(private readonly shell: NodeShell) {}

  /** Makes the layout's missing directories (the agent folder and the state directory 0700), remembering them. */
  async makeDirs(layout: InstallLayout): Promise<void> {
    const missing = await this.shell.run(
      layout.dirs.map((d) => `[ -d ${shellQuote(d)} ] || echo ${shellQuote(d)}`).join("; ") + "; exit 0",
      "checking the install directories",
    );
    const made = missing.split("\n").filter((d) => d !== "");
    const mode = (d: string) => (d === layout.agentDir || d === layout.stateDir ? "0700" : "0755");
    for (const dir of made) {
      await this.shell.run(
        `mkdir -p ${shellQuote(posix.dirname(dir))} && mkdir -m ${mode(dir)} ${shellQuote(dir)}`,
        `making ${dir}`,
      );
      this.dirs.push(dir);
    }
    await this.shell.run(`chmod 0700 ${shellQuote(layout.agentDir)}`, `securing ${layout.agentDir}`);
  }

  /** Writes one file atomically; a file it replaces is kept as a hard link until commit. */
  async put(change: FileChange): Promise<void> {
    const { path, mode, source } = change.file;
    if (change.action === "replace") {
      await this.shell.run(`ln -f -- ${shellQuote(path)} ${shellQuote(path + PREVIOUS)}`, `keeping ${path}`);
      this.replaced.push(path);
    } else {
      this.added.push(path);
    }
    await this.shell.put(source, path, mode);
  }

  async commit(): Promise<void> {
    if (this.replaced.length === 0) return;
    await this.shell.run(`rm -f -- ${this.replaced.map((p) => shellQuote(p + PREVIOUS)).join(" ")}`, "cleaning up");
  }

  async rollback(): Promise<void> {
    const q = shellQuote;
    const commands = [
      ...this.replaced.map((p) => `mv -f -- ${q(p + PREVIOUS)} ${q(p)}`),
      ...(this.added.length ? [`rm -f -- ${this.added.map(q).join(" ")}`] : []),
      ...[...this.dirs].reverse().map((d) => `rmdir -- ${q(d)} 2>/dev/null`),
    ];
    if (commands.length) await this.shell.exec(commands.join("; ") + "; exit 0");
  }
}
