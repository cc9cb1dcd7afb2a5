#!/usr/bin/env bash
# Runs inside the embedded machine as root, against its real kernel.
set -euo pipefail
hdiov=$1
ko=$2
step() { printf '\n$ %s\n' "$*"; "$@"; }
step modprobe -a vfio_iommu_type1 mdev
step insmod "$ko"
step "$hdiov" parents
step "$hdiov" types --parent hdiov0
a=$("$hdiov" create --parent hdiov0 --type 4qp)
b=$("$hdiov" create --parent hdiov0 --type flex --qps 8 --weight 50)
c=$("$hdiov" create --parent hdiov1 --type 16qp)
printf '\ncreated %s %s %s\n' "$a" "$b" "$c"
step "$hdiov" list
step "$hdiov" list --json
step mdevctl list
step "$hdiov" qemu-args "$a"
step "$hdiov" parents
step "$hdiov" remove "$a"
step "$hdiov" remove "$b"
step "$hdiov" remove "$c"
step rmmod "$(basename "$ko" .ko)"
echo
echo "demo finished: module loaded, VDEVs created, listed and removed on $(uname -r)"
