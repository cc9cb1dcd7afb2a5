#!/usr/bin/env bash
# The main job on a fresh machine: install what is needed, generate the module
# from specs/default.yaml, build it for Debian's kernel, boot that kernel in the
# embedded QEMU machine, load the module, create VDEVs and show them.
# KERNEL=6.12 bash scripts/demo.sh picks the other kernel.
set -euo pipefail
cd "$(dirname "$0")/.."
kernel=${KERNEL:-6.1}
bash scripts/setup.sh
echo "== swift build" >&2
swift build --product hdiov >&2
swift build --product hdiov-ktest >&2
hdiov=$PWD/.build/debug/hdiov
echo "== hdiov generate (specs/default.yaml -> kmod/)" >&2
"$hdiov" generate --out "$PWD/kmod"
echo "== hdiov build --kernel $kernel" >&2
ko=$("$hdiov" build --kernel "$kernel")
echo "== hdiov vm run --kernel $kernel (Debian's kernel under QEMU; the host's root read-only under a RAM layer)" >&2
exec "$hdiov" vm run --kernel "$kernel" -- bash "$PWD/scripts/demo-guest.sh" "$hdiov" "$ko"
