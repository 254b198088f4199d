#!/usr/bin/env bash
# Makes OpenSSH's server binary (/usr/sbin/sshd, Debian's openssh-server) available for the SSH tests, which start
# their own sshd on loopback with their own config, host keys and authorized_keys (test/helpers/sshd.ts).
# Idempotent: does nothing when sshd is installed. The package is installed without starting the system's sshd:
# a policy-rc.d that refuses service starts is in place during the install, and a system sshd found running
# afterwards (a host whose init ignores policy-rc.d) is stopped and disabled. /etc/ssh is not edited.
# Exits 0 when /usr/sbin/sshd is usable, 1 with a message saying what to install otherwise.
set -euo pipefail
sshd=/usr/sbin/sshd

if [ -x "$sshd" ]; then exit 0; fi
if ! command -v apt-get >/dev/null || ! command -v dpkg >/dev/null; then
  echo "ensure-sshd: $sshd is missing and apt-get is not available: install OpenSSH's server (openssh-server)" >&2
  exit 1
fi
if [ "$(id -u)" != 0 ]; then
  echo "ensure-sshd: $sshd is missing; run as root (or: sudo apt-get install openssh-server)" >&2
  exit 1
fi

policy=/usr/sbin/policy-rc.d
own_policy=""
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\n# Installed by lifeboat scripts/ensure-sshd.sh for the length of one apt-get install.\nexit 101\n' >"$policy"
  chmod 0755 "$policy"
  own_policy=1
fi
cleanup() { if [ -n "$own_policy" ]; then rm -f "$policy"; fi; }
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
apt-cache policy openssh-server 2>/dev/null | grep -q 'Candidate: [0-9]' || apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends openssh-server >/dev/null

# A system sshd that started anyway (init systems that do not ask policy-rc.d) is stopped and kept from starting.
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
  systemctl disable --now ssh.service ssh.socket >/dev/null 2>&1 || true
fi
if [ -s /run/sshd.pid ]; then
  pid=$(cat /run/sshd.pid)
  if [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$sshd" ]; then kill "$pid" || true; fi
  rm -f /run/sshd.pid
fi

if [ ! -x "$sshd" ]; then
  echo "ensure-sshd: openssh-server installed but $sshd is missing" >&2
  exit 1
fi
echo "ensure-sshd: $("$sshd" -V 2>&1 | head -1)" >&2
