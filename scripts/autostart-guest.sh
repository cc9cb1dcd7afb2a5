#!/usr/bin/env bash
# In the embedded machine with systemd-udevd running (`hdiov vm run --udev`): definitions
# with start=auto come up when the module's parents register (MDEV_STATE=registered, through
# the udev rule hdiov installs); a manual one does not. Prints ok/FAIL lines.
set -u
hdiov=$1
ko=$2
label=${3:-}
export HDIOV_CONFIG_DIR=/tmp/hdiov-defs
a=11111111-2222-4333-8444-555555555501
b=11111111-2222-4333-8444-555555555502
m=11111111-2222-4333-8444-555555555503
check() { # name, test
  if eval "$2"; then echo "ok   [$label] autostart: $1"; else echo "FAIL [$label] autostart: $1"; fi
}
"$hdiov" define --parent hdiov0 --type 1qp --uuid "$a" --start auto >/dev/null
"$hdiov" define --parent hdiov1 --type flex --qps 6 --weight 30 --uuid "$b" --start auto >/dev/null
"$hdiov" define --parent hdiov0 --type 4qp --uuid "$m" --start manual >/dev/null
"$hdiov" udev-rule --install /run/udev/rules.d >/dev/null
udevadm control --reload
"$hdiov" load --module "$ko" >/dev/null
udevadm settle --timeout=60
dev=/sys/bus/mdev/devices
for _ in $(seq 120); do
  [ -e "$dev/$a" ] && [ -e "$dev/$b" ] && break
  sleep 0.5
done
check "auto 1qp definition started on hdiov0" "[ -e $dev/$a ]"
check "auto flex definition started with 6 queue pairs and weight 30" \
  "[ \"\$(cat $dev/$b/hdiov/queue_pairs 2>/dev/null)\" = 6 ] && [ \"\$(cat $dev/$b/hdiov/weight 2>/dev/null)\" = 30 ]"
check "manual definition not started" "[ ! -e $dev/$m ]"
check "list --defined shows both auto definitions active" \
  "[ \"\$(\"$hdiov\" list --defined --json | grep -c '\"active\" : true')\" = 2 ]"
"$hdiov" unload --force >/dev/null
check "unload --force removes them and the module" "[ ! -e /sys/class/mdev_bus/hdiov0 ]"
