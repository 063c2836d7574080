#!/usr/bin/env bash
# Installs every Debian 12 package Moat needs to build, test and run its demo lab.
# Idempotent: packages already present are left alone. Run as root.
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config clang llvm lld
  libclang-rt-14-dev # -fsanitize=fuzzer (libFuzzer), for tests/fuzz/; clang only recommends it
  libbpf-dev libxdp-dev xdp-tools bpftool libelf-dev zlib1g-dev
  libuv1-dev protobuf-c-compiler libprotobuf-c-dev
  libnl-3-dev libnl-route-3-dev libcmocka-dev libssl-dev libsystemd-dev
  iproute2 ethtool iputils-ping iperf3 nftables tcpdump netcat-openbsd
  python3 python3-scapy python3-prometheus-client procps psmisc kmod bc util-linux
  lintian dpkg-dev fakeroot man-db curl linux-perf
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PKGS[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
