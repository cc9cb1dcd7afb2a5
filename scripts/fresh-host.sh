#!/usr/bin/env bash
# Runs a command against a view of this machine that looks freshly installed, as a new user's
# would: in a private mount namespace, /lib/modules (that is /usr/lib/modules) is hidden by an
# overlay whiteout whether or not it exists, and HOME is an empty directory (so every cache
# under it is empty). Nothing on the host is changed; the namespace and its mounts end with the
# command. As root:
#
#   bash scripts/fresh-host.sh bash scripts/demo.sh
#
# The command runs in the current directory with HOME, XDG_CACHE_HOME and HDIOV_CACHE reset.
set -euo pipefail
if [ "${1:-}" = --inside ]; then
  shift
  scratch=$1
  shift
  lib=$(readlink -f /lib/modules 2>/dev/null || echo /usr/lib/modules)
  libdir=$(dirname "$lib")
  mkdir -p "$scratch/upper" "$scratch/work" "$scratch/home"
  # A whiteout (a 0:0 character device) in the upper layer hides "modules" in the lower one.
  mknod "$scratch/upper/$(basename "$lib")" c 0 0
  mount -t overlay -o "lowerdir=$libdir,upperdir=$scratch/upper,workdir=$scratch/work" hdiov-fresh "$libdir"
  if [ -e /lib/modules ] || [ -e /usr/lib/modules ]; then
    echo "fresh-host: /lib/modules is still visible" >&2
    exit 2
  fi
  echo "fresh-host: no /lib/modules; HOME=$scratch/home (empty)" >&2
  unset XDG_CACHE_HOME HDIOV_CACHE
  export HOME=$scratch/home
  exec "$@"
fi
[ $# -gt 0 ] || { echo "usage: $0 COMMAND [ARG...]" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "fresh-host: must run as root (mount namespace)" >&2; exit 2; }
scratch=$(mktemp -d /var/tmp/hdiov-fresh.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
status=0
unshare --mount --propagation private bash "$(readlink -f "$0")" --inside "$scratch" "$@" || status=$?
exit "$status"
