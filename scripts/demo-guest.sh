#!/usr/bin/env bash
# Runs inside the embedded machine as root, against its real kernel.
set -euo pipefail
hdiov=$1
ko=$2
step() { printf '\n$ %s\n' "$*"; "$@"; }
step "$hdiov" load --module "$ko"
step "$hdiov" status
step "$hdiov" parents
step "$hdiov" types --parent hdiov0
a=$("$hdiov" create --parent hdiov0 --type 4qp --wait)
b=$("$hdiov" create --parent hdiov0 --type flex --qps 8 --weight 50)
c=$("$hdiov" create --parent hdiov1 --type 16qp)
printf '\ncreated %s %s %s\n' "$a" "$b" "$c"
step "$hdiov" list
step "$hdiov" list --json
step mdevctl list
step "$hdiov" qemu-args "$a"
# Real work through the fast path: 8 MiB of random bytes copied by the device's
# engine (DMA into the VDEV's own IOVA space), checked by CRC32C on the device.
head -c 8388608 /dev/urandom > /tmp/demo.bin
step "$hdiov" io "$a" --copy /tmp/demo.bin
step cat "/sys/bus/mdev/devices/$a/hdiov/stats"
step "$hdiov" parents
step "$hdiov" remove "$b"
step "$hdiov" remove "$c"
step "$hdiov" unload --force
echo
echo "demo finished: module loaded, VDEVs created, data moved through one, all removed, on $(uname -r)"
