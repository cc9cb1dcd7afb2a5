#!/usr/bin/env bash
# Installs hdiov with its resources under PREFIX (default /usr/local):
#   PREFIX/bin/hdiov
#   PREFIX/share/hdiov/Templates/kmod/*.mustache   what the spec changes
#   PREFIX/share/hdiov/kmod/                       the hand-written module sources (+ the default module)
#   PREFIX/share/hdiov/specs/*.yaml                the example specs (default.yaml is the default)
#   PREFIX/share/doc/hdiov/                        the device contract and the CLI docs
# The binary finds its resources from its own path (PREFIX/bin -> PREFIX/share/hdiov), so it
# works without this checkout. Usage: scripts/install.sh [--binary PATH] [PREFIX]
# (default binary: a release build, made here if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
binary=
if [ "${1:-}" = --binary ]; then binary=$2; shift 2; fi
prefix=${1:-/usr/local}
if [ -z "$binary" ]; then
  swift build -c release --product hdiov >&2
  binary=.build/release/hdiov
fi
share=$prefix/share/hdiov
install -D -m 0755 "$binary" "$prefix/bin/hdiov"
install -d "$share/Templates/kmod/guest" "$share/kmod/guest" "$share/specs" "$prefix/share/doc/hdiov"
# Host module at the top, the guest driver in guest/ (templates and sources alike).
for dir in "" guest/; do
  install -m 0644 Templates/kmod/$dir*.mustache "$share/Templates/kmod/$dir"
  for f in kmod/$dir*; do
    case "$f" in *.o|*.ko|*.mod|*.mod.c|*.cmd|*.order|*.symvers|*.a) continue ;; esac
    [ -f "$f" ] && install -m 0644 "$f" "$share/kmod/$dir"
  done
done
install -m 0644 specs/*.yaml "$share/specs/"
install -m 0644 docs/hdiov-device.md docs/cli-json.md docs/cli-exit-codes.md docs/device-manager.md "$prefix/share/doc/hdiov/"
echo "installed $prefix/bin/hdiov and its resources in $share" >&2
