/**
 * Running the installed agent, one of two ways (`lifeboat.install.mode`):
 *
 * - systemd: the unit `lifeboat-agent.service` (unit.ts), enabled and started with systemctl;
 * - plain, for hosts without systemd: the program started detached in a session of its own (`setsid`), its pid in
 *   `<root>/var/lib/lifeboat/agent.pid` and its output appended to `agent.log` beside it. The pid file names the
 *   agent only while that pid runs this program (a recycled pid is "stale"). Nothing restarts a plain-mode agent
 *   that dies: that is what systemd mode is for.
 */
import { shellQuote } from "../remote/index.js";
import { agentEnvWords } from "../util/agent-env.js";
import type { InstallLayout } from "./layout.js";
import { UNIT_NAME } from "./layout.js";
import type { NodeShell } from "./shell.js";

export type ServiceState =
  | { kind: "running"; pid?: number; detail: string }
  | { kind: "stopped"; detail: string }
  | { kind: "absent"; detail: string };

export interface AgentService {
  readonly mode: "systemd" | "plain";
  state(): Promise<ServiceState>;
  /** Starts the agent, or restarts it when it runs (systemd: also reloads and enables the unit). */
  start(): Promise<void>;
  /** Stops it and waits until it has exited (it may take up to a minute to finish a save cleanly). */
  stop(): Promise<void>;
  /** After stop: removes what says the agent is installed as a service (the unit, or the pid file). */
  remove(): Promise<void>;
  /** The last lines the agent logged, for a failure message. */
  logTail(): Promise<string>;
}

/** The agent's own grace is 60 s; then it is killed. */
const STOP_TIMEOUT_MS = 90_000;

export function agentService(mode: "systemd" | "plain", shell: NodeShell, layout: InstallLayout): AgentService {
  return mode === "systemd" ? systemdService(shell, layout) : plainService(shell, layout);
}

function plainService(shell: NodeShell, layout: InstallLayout): AgentService {
  const q = shellQuote;
  const pidFile = q(layout.pidFile);
  // The pid in the file, when that process is alive and runs this program (argv[0]).
  const ours =
    `pid=$(cat ${pidFile} 2>/dev/null); case "$pid" in ''|*[!0-9]*) pid=;; esac; ` +
    `alive() { [ -n "$1" ] && [ -r /proc/$1/stat ] && ! grep -q ') Z ' /proc/$1/stat; }; ` +
    `if alive "$pid" && [ "$(tr '\\0' '\\n' < /proc/$pid/cmdline 2>/dev/null | head -n 1)" = ${q(layout.program)} ]; ` +
    `then :; else pid=; fi`;
  return {
    mode: "plain",
    async state() {
      const out = await shell.run(
        `${ours}; if [ -n "$pid" ]; then echo "running $pid"; elif [ -e ${pidFile} ]; then echo stale; else echo absent; fi`,
        "reading the agent's pid file",
      );
      const [word, pid] = out.trim().split(" ");
      if (word === "running") return { kind: "running", pid: Number(pid), detail: `running (pid ${pid})` };
      if (word === "stale") return { kind: "stopped", detail: `stopped (stale pid file ${layout.pidFile})` };
      return { kind: "absent", detail: "not running (no pid file)" };
    },
    async start() {
      await this.stop();
      const script = `echo $$ > "$1.new" && mv -f "$1.new" "$1" && exec env ${agentEnvWords()} "$2" agent --dir "$3"`;
      await shell.run(
        [
          `command -v setsid >/dev/null || { echo "setsid is missing (util-linux)" >&2; exit 1; }`,
          `mkdir -p ${q(layout.stateDir)} || exit 1`,
          "cd / && umask 077",
          `setsid sh -c ${q(script)} lifeboat-agent ${pidFile} ${q(layout.program)} ${q(layout.agentDir)} ` +
            `>> ${q(layout.logFile)} 2>&1 < /dev/null &`,
        ].join("\n"),
        "starting the agent",
      );
    },
    async stop() {
      await shell.run(
        `${ours}; [ -z "$pid" ] && exit 0; kill -TERM "$pid"; i=0; ` +
          `while alive "$pid"; do i=$((i+1)); [ $i -eq 375 ] && kill -KILL "$pid"; sleep 0.2; done; rm -f ${pidFile}`,
        "stopping the agent",
        STOP_TIMEOUT_MS,
      );
    },
    async remove() {
      await shell.run(`rm -f ${pidFile} ${q(`${layout.pidFile}.new`)}`, "removing the pid file");
    },
    async logTail() {
      return (await shell.exec(`tail -n 8 ${q(layout.logFile)} 2>/dev/null`)).stdout;
    },
  };
}

function systemdService(shell: NodeShell, layout: InstallLayout): AgentService {
  return {
    mode: "systemd",
    async state() {
      const out = await shell.exec(
        `[ -e ${shellQuote(layout.unit)} ] || { echo absent; exit 0; }; systemctl is-active ${UNIT_NAME}; ` +
          `systemctl show -p MainPID --value ${UNIT_NAME}`,
      );
      const [active = "", pid = ""] = out.stdout.trim().split("\n");
      if (active === "absent") return { kind: "absent", detail: `no unit ${layout.unit}` };
      if (["active", "activating", "reloading"].includes(active)) {
        return { kind: "running", ...(Number(pid) > 0 ? { pid: Number(pid) } : {}), detail: `unit ${active}` };
      }
      return { kind: "stopped", detail: `unit ${active || "unknown"}` };
    },
    async start() {
      await shell.run(
        `systemctl daemon-reload && systemctl enable --quiet ${UNIT_NAME} && systemctl restart ${UNIT_NAME}`,
        `starting ${UNIT_NAME}`,
        STOP_TIMEOUT_MS,
      );
    },
    async stop() {
      await shell.run(
        `[ -e ${shellQuote(layout.unit)} ] || exit 0; systemctl stop ${UNIT_NAME}`,
        `stopping ${UNIT_NAME}`,
        STOP_TIMEOUT_MS,
      );
    },
    async remove() {
      await shell.run(
        `systemctl disable --quiet ${UNIT_NAME} 2>/dev/null; rm -f ${shellQuote(layout.unit)} && systemctl daemon-reload`,
        `removing ${UNIT_NAME}`,
      );
    },
    async logTail() {
      return (await shell.exec(`journalctl -u ${UNIT_NAME} -n 8 --no-pager 2>/dev/null`)).stdout;
    },
  };
}
