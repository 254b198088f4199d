#!/usr/bin/env bash
# Makes Prometheus' promtool available for test/deploy-monitoring.test.ts (`promtool check rules`, `promtool test
# rules` on deploy/prometheus) without changing the system: Debian's prometheus package (about 19 MB) is downloaded
# with apt-get and only usr/bin/promtool is kept, in $LIFEBOAT_CACHE/promtool/promtool (default ~/.cache/lifeboat).
# Idempotent: does nothing when promtool is on PATH or already in the cache. Never fails: without promtool the test
# checks the rules' structure only, and says so.
set -uo pipefail
cache="${LIFEBOAT_CACHE:-$HOME/.cache/lifeboat}/promtool"

if command -v promtool >/dev/null || [ -x "$cache/promtool" ]; then exit 0; fi
if ! command -v apt-get >/dev/null || ! command -v dpkg >/dev/null; then
  echo "ensure-promtool: no promtool and no apt-get: the rules are checked for structure only" >&2
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if ! (cd "$work" && apt-get download prometheus >/dev/null 2>"$work/err"); then
  apt-get update -qq >/dev/null 2>&1 || true
  if ! (cd "$work" && apt-get download prometheus >/dev/null 2>"$work/err"); then
    echo "ensure-promtool: could not download Debian's prometheus package: $(tail -1 "$work/err")" >&2
    exit 0
  fi
fi
dpkg -x "$work"/prometheus_*.deb "$work/root"
mkdir -p "$cache"
cp "$work/root/usr/bin/promtool" "$cache/promtool.tmp" && mv "$cache/promtool.tmp" "$cache/promtool"
echo "promtool: $("$cache/promtool" --version 2>&1 | head -1)" >&2
