#!/usr/bin/env bash
# Install what hdiov needs on a Debian 12 machine (idempotent; run as root).
# Kernel images and the 6.12 headers are NOT installed here: `hdiov vm` and
# `hdiov build --kernel` fetch them with apt-get download into a cache.
set -euo pipefail
packages=(
  qemu-system-x86 busybox-static kmod cpio xz-utils udev
  libkmod-dev libudev-dev mdevctl
  linux-source-6.1 sparse libelf-dev pahole bc make gcc perl
  # linux-source-6.12: `hdiov vm sample` (dmatest, mtty) for 6.12; pciutils: lspci in the (nested) guests
  linux-source-6.12 pciutils
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "setup: all packages present" >&2
fi

# The debug kernel (`hdiov vm run --debug-kernel`: KASAN, lockdep, kmemleak) is built from
# Debian's kernel source. Optional: without it scripts/test.sh skips the debug-kernel suite.
debug_packages=(linux-source-6.12 flex bison bc libelf-dev libssl-dev)
debug_missing=()
for p in "${debug_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || debug_missing+=("$p")
done
if [ ${#debug_missing[@]} -gt 0 ]; then
  echo "setup: installing ${debug_missing[*]} (for the debug kernel)" >&2
  { DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${debug_missing[@]}" ||
    { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${debug_missing[@]}"; }; } ||
    echo "setup: could not install ${debug_missing[*]}: the debug-kernel suite will be skipped" >&2
fi
