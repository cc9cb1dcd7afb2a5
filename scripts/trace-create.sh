#!/bin/sh
# Where does create time go as VDEVs accumulate? function_graph durations of the
# create path at 0 and at 3800 live VDEVs. Run in the embedded machine:
#   hdiov vm run --kernel 6.1 -- sh scripts/trace-create.sh "$(hdiov build --kernel 6.1 --quiet)"
set -e
modprobe -a vfio_iommu_type1 mdev libcrc32c; insmod "$1"
mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || true
T=/sys/kernel/tracing
mk() { # parent count
  t=/sys/class/mdev_bus/$1/mdev_supported_types/hdiov-1qp/create
  for i in $(seq $2); do cat /proc/sys/kernel/random/uuid > $t; done
}
trace() {
  echo 0 > $T/tracing_on; echo > $T/trace
  echo function_graph > $T/current_tracer
  echo 'mdev_device_create hdiov_mdev_probe hdiov_vdev_init vfio_register_emulated_iommu_dev device_add iommu_group_alloc mdev_create_sysfs_files device_driver_attach' > $T/set_ftrace_filter
  echo 1 > $T/tracing_on
  mk $1 100
  echo 0 > $T/tracing_on
  awk '/\|/ && /us/ { for (i=1;i<=NF;i++) if ($i ~ /^[0-9.]+$/ && $(i+1)=="us") d=$i; n=$NF; if (n ~ /^\[/) n=$(NF-1) n; gsub(/[();{}]/,"",n); if (n!="") {s[n]+=d; c[n]++} } END { for (k in s) printf "%-36s %8.1f us avg (%d)\n", k, s[k]/c[k], c[k] }' $T/trace | sort
  echo nop > $T/current_tracer
}
echo "== at 0 live"; trace hdiov0
mk hdiov0 1900; mk hdiov1 1900
echo "== at $(ls /sys/bus/mdev/devices | wc -l) live"; trace hdiov1
