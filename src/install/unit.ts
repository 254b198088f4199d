/**
 * The systemd unit of the agent, `lifeboat-agent.service`. docs/design.md ("Installing agents over SSH") explains
 * every line; what it does not restrict is what the agent's job needs: it runs as root because it reads etcd's data
 * directory (/var/lib/etcd, owned by root or etcd's user) and runs the member's start and stop commands, which talk
 * to Docker or systemd.
 */
import { agentEnvWords } from "../util/agent-env.js";
import type { InstallLayout } from "./layout.js";

/** A word for ExecStart and the path settings: quoted when it holds anything but safe characters. */
function word(value: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(value) ? value : `"${value.replace(/(["\\])/g, "\\$1")}"`;
}

export function systemdUnit(layout: InstallLayout): string {
  return [
    "# Written by `lifeboat agent install`; replaced by the next install or upgrade. See docs/design.md.",
    "[Unit]",
    "Description=Lifeboat agent: etcd snapshots and restores for this node",
    "Wants=network-online.target",
    "After=network-online.target docker.service",
    "StartLimitIntervalSec=0",
    "",
    "[Service]",
    "Type=simple",
    `Environment=${agentEnvWords()}`,
    `ExecStart=${word(layout.program)} agent --dir ${word(layout.agentDir)}`,
    "Restart=always",
    "RestartSec=5s",
    "User=root",
    "KillMode=mixed",
    "KillSignal=SIGTERM",
    "TimeoutStopSec=75s",
    "NoNewPrivileges=yes",
    "ProtectSystem=full",
    `ReadWritePaths=${word(layout.agentDir)}`,
    "ProtectHome=read-only",
    "PrivateTmp=yes",
    "UMask=0077",
    "",
    "[Install]",
    "WantedBy=multi-user.target",
    "",
  ].join("\n");
}
