#!/usr/bin/env bash
# Makes this host ready for the test suite: the Debian tools the tests drive, what the ebpf engine
# builds with (npm test builds it next), and a cgroup v2 mount.
# As root it installs what is missing; otherwise it says exactly what is missing and how to fix it.
set -euo pipefail

# program -> Debian package
declare -A PACKAGES=(
  [ss]=iproute2
  [ip]=iproute2
  [prometheus]=prometheus
  [promtool]=prometheus
  [setpriv]=util-linux
  [nft]=nftables
  [iperf3]=iperf3
  [python3]=python3
  [clang]=clang
  [llvm-strip]=llvm
  [cc]=gcc
  [nethogs]=nethogs
  [tmux]=tmux
  [curl]=curl
  [openssl]=openssl
)

# header -> Debian package: the ebpf engine's build (src/sources/ebpf/build.sh)
declare -A HEADERS=(
  [/usr/include/bpf/libbpf.h]=libbpf-dev
  [/usr/include/libelf.h]=libelf-dev
  [/usr/include/zlib.h]=zlib1g-dev
)

missing=()
for tool in "${!PACKAGES[@]}"; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("${PACKAGES[$tool]}")
done
for header in "${!HEADERS[@]}"; do
  [[ -f $header ]] || missing+=("${HEADERS[$header]}")
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

# The ebpf engine's counters variant attaches cgroup_skb programs to the root of cgroup v2; on a
# hybrid (v1) host no cgroup2 hierarchy may be mounted. The loader finds it in mountinfo.
if ! grep -qw cgroup2 /proc/self/mounts; then
  if [[ $(id -u) -eq 0 ]]; then
    mkdir -p /sys/fs/cgroup/unified &&
      mount -t cgroup2 none /sys/fs/cgroup/unified && echo "prepare-host: mounted cgroup2 at /sys/fs/cgroup/unified" ||
      echo "prepare-host: could not mount cgroup2 at /sys/fs/cgroup/unified" >&2
  else
    echo "prepare-host: no cgroup2 mount; fix: sudo mkdir -p /sys/fs/cgroup/unified && sudo mount -t cgroup2 none /sys/fs/cgroup/unified" >&2
  fi
fi
exit 0
