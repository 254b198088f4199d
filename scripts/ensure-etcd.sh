#!/usr/bin/env bash
# Makes etcd 3.4 (Debian bookworm) and 3.5 (Debian sid) available without changing the system:
# the .deb files are downloaded with apt-get and unpacked with dpkg -x into a cache folder.
#   $LIFEBOAT_CACHE/etcd/3.4/usr/bin/{etcd,etcdctl}
#   $LIFEBOAT_CACHE/etcd/3.5/usr/bin/{etcd,etcdctl,etcdutl}
# LIFEBOAT_CACHE defaults to ~/.cache/lifeboat. Exits 0 when at least one etcd is usable
# (the cache or etcd on PATH), 1 with a message saying what to install otherwise.
set -euo pipefail
cache="${LIFEBOAT_CACHE:-$HOME/.cache/lifeboat}/etcd"
mkdir -p "$cache"

have() { [ -x "$cache/$1/usr/bin/etcd" ]; }

fetch() { # series, extra apt options...
  local series=$1; shift
  local work; work=$(mktemp -d)
  (cd "$work" && apt-get "$@" download etcd-server etcd-client >/dev/null 2>"$work/err") || { cat "$work/err" >&2; rm -rf "$work"; return 1; }
  mkdir -p "$cache/$series.tmp"
  for deb in "$work"/*.deb; do dpkg -x "$deb" "$cache/$series.tmp"; done
  rm -rf "$cache/$series" && mv "$cache/$series.tmp" "$cache/$series"
  rm -rf "$work"
  echo "etcd $series: $("$cache/$series/usr/bin/etcd" --version | head -1)" >&2
}

if command -v apt-get >/dev/null && command -v dpkg >/dev/null; then
  if ! have 3.4; then
    apt-cache policy etcd-server 2>/dev/null | grep -q 'Candidate: 3\.4' || apt-get update -qq >/dev/null 2>&1 || true
    fetch 3.4 || echo "ensure-etcd: could not fetch etcd 3.4 from the Debian archive" >&2
  fi
  if ! have 3.5; then
    sid="$cache/apt-sid"
    mkdir -p "$sid/lists/partial" "$sid/cache/archives/partial"
    echo "deb http://deb.debian.org/debian sid main" >"$sid/sources.list"
    opts=(-o "Dir::Etc::SourceList=$sid/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
      -o "Dir::State::Lists=$sid/lists" -o "Dir::Cache=$sid/cache" -o "APT::Sandbox::User=root")
    apt-get "${opts[@]}" update -qq >/dev/null 2>&1 || true
    fetch 3.5 "${opts[@]}" || echo "ensure-etcd: could not fetch etcd 3.5 from Debian sid" >&2
  fi
fi

if have 3.4 || have 3.5 || command -v etcd >/dev/null; then exit 0; fi
echo "ensure-etcd: no etcd found. Install etcd 3.4+ (etcd, etcdctl, etcdutl) on PATH, or run as root on Debian." >&2
exit 1
