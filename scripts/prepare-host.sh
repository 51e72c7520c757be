#!/usr/bin/env bash
# Makes this host ready for the test suite: the Debian tools the tests drive, and tracefs.
# As root it installs what is missing; otherwise it says exactly what is missing and how to fix it.
set -euo pipefail

# program -> Debian package
declare -A PACKAGES=(
  [ss]=iproute2
  [ip]=iproute2
  [prometheus]=prometheus
  [promtool]=prometheus
  [setpriv]=util-linux
  [bpftrace]=bpftrace
  [nethogs]=nethogs
  [tmux]=tmux
  [curl]=curl
  [openssl]=openssl
)

missing=()
for tool in "${!PACKAGES[@]}"; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("${PACKAGES[$tool]}")
done
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u | sed '/^$/d')

if ((${#missing[@]} > 0)); then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    echo "prepare-host: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "prepare-host: MISSING Debian packages: ${missing[*]}" >&2
    echo "prepare-host: fix: sudo apt-get install -y ${missing[*]}   (tests that need them will skip, or fail under CI=true)" >&2
  fi
fi

# bpftrace needs tracefs; a fresh machine may not have it mounted.
if [[ ! -e /sys/kernel/tracing/events && ! -e /sys/kernel/debug/tracing/events ]]; then
  if [[ $(id -u) -eq 0 ]]; then
    mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null && echo "prepare-host: mounted tracefs at /sys/kernel/tracing" ||
      echo "prepare-host: could not mount tracefs at /sys/kernel/tracing" >&2
  else
    echo "prepare-host: tracefs is not mounted; fix: sudo mount -t tracefs nodev /sys/kernel/tracing" >&2
  fi
fi
exit 0
