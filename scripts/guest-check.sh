#!/bin/sh
# Runs in a nested guest (hdiov vm run --nested): binds the guest driver to the VDEV(s),
# waits for the kernel's crc32c self-test of crc32c-<module>, runs Linux's dmatest (memcpy,
# then memset) on every channel, exercises the transform with tcrypt, and checks interrupts
# and dmesg. Prints `guest-check: ok` and exits 0 when everything held.
# Usage: guest-check.sh GUEST_KO DMATEST_KO [ITERATIONS]
set -u
guest_ko=$1 dmatest_ko=$2 iterations=${3:-2000}
name=$(modinfo -F name "$guest_ko")
module=${name%_guest}
fail() { echo "guest-check: FAIL: $*"; dmesg | tail -30; exit 1; }
# Kernel messages since mark N (a line count): `since N`.
mark() { dmesg | wc -l; }
since() { dmesg | tail -n +$(($1 + 1)); }
start=$(mark)
say() { echo "guest-check: $*"; }

# The VDEVs are there, as PCI functions of the spec's ids.
ids=$(modinfo -F alias "$guest_ko" | sed -n 's/^pci:v0000\(....\)d0000\(....\).*/\1:\2/p' | tr 'A-F' 'a-f')
n=0
for d in /sys/bus/pci/devices/*; do
	[ "$(sed 's/0x//' "$d/vendor"):$(sed 's/0x//' "$d/device")" = "$ids" ] && n=$((n + 1))
done
[ "$n" -ge 1 ] || fail "no PCI function $ids in the guest"
say "$n VDEV(s) ($ids)"

irqs() { grep "$name-qp" /proc/interrupts | awk '{ s = 0; for (i = 2; i <= NF; i++) if ($i ~ /^[0-9]+$/) s += $i; else break; t += s } END { print t + 0 }'; }
t0=$(date +%s%N)
insmod "$guest_ko" || fail "insmod $guest_ko"
bound=$(ls -d /sys/bus/pci/drivers/"$name"/0000:* 2>/dev/null | wc -l)
[ "$bound" = "$n" ] || fail "$name bound $bound of $n functions"
chans=$(ls /sys/class/dma | wc -l)
[ "$chans" -ge 1 ] || fail "no DMA channels"
say "bound to $bound function(s); $chans DMA channel(s): $(ls /sys/class/dma | tr '\n' ' ')"

# The crypto self-test runs when the transform registers.
i=0
while ! awk -v d="crc32c-$module" '$1 == "driver" { drv = $3 } $1 == "selftest" && drv == d { print $3; exit }' /proc/crypto | grep -q passed; do
	i=$((i + 1)); [ $i -le 120 ] || fail "crc32c-$module: no 'selftest : passed' in /proc/crypto after 60 s"
	sleep 0.5
done
say "crc32c-$module: selftest passed ($(awk -v d="crc32c-$module" '$1 == "driver" { drv = $3 } $1 == "priority" && drv == d { print "priority " $3; exit }' /proc/crypto))"

before=$(irqs)
insmod "$dmatest_ko" iterations="$iterations" timeout=20000 || fail "insmod $dmatest_ko"
for kind in 0:memcpy 1:memset; do
	echo "${kind%%:*}" > /sys/module/dmatest/parameters/dmatest
	echo "" > /sys/module/dmatest/parameters/channel
	m=$(mark)
	echo 1 > /sys/module/dmatest/parameters/run
	cat /sys/module/dmatest/parameters/wait >/dev/null
	summary=$(since "$m" | grep "summary")
	echo "$summary" | sed 's/^\[[^]]*\] /  /'
	runs=$(echo "$summary" | grep -c " $iterations tests, 0 failures")
	[ "$runs" = "$chans" ] || fail "dmatest ${kind#*:}: $runs of $chans channels passed $iterations tests with 0 failures"
	say "dmatest ${kind#*:}: $chans channel(s) x $iterations tests, 0 failures"
done
rmmod dmatest
after=$(irqs)
[ "$after" -gt "$before" ] || fail "completion interrupts did not grow ($before -> $after)"
say "completion interrupts: $before -> $after"
grep "$name" /proc/interrupts | sed 's/^/  /'

# tcrypt: the transform through the ahash API (tcrypt always ends with EAGAIN).
m=$(mark)
modprobe tcrypt mode=400 alg="crc32c-$module" sec=0 2>/dev/null
ops=$(since "$m" | grep -c "cycles/operation")
[ "$ops" -ge 1 ] || fail "tcrypt did not exercise crc32c-$module: $(since "$m" | tail -5)"
say "tcrypt: $ops ahash speed tests on crc32c-$module"

# Removal under load: the function goes away while dmatest runs on it (what the guest sees
# when the host removes the VDEV: QEMU unplugs it); then it comes back and works again.
dev=$(ls -d /sys/bus/pci/drivers/"$name"/0000:* | head -1)
bdf=${dev##*/}
m=$(mark)
insmod "$dmatest_ko" iterations=0 timeout=2000 || fail "insmod $dmatest_ko"
echo 0 > /sys/module/dmatest/parameters/dmatest
echo "" > /sys/module/dmatest/parameters/channel
echo 1 > /sys/module/dmatest/parameters/run
sleep 3
echo 1 > "/sys/bus/pci/devices/$bdf/remove" || fail "removing $bdf"
say "removed $bdf while dmatest ran on it"
echo 0 > /sys/module/dmatest/parameters/run
rmmod dmatest || fail "rmmod dmatest after the removal"
echo 1 > /sys/bus/pci/rescan
[ -e "/sys/bus/pci/drivers/$name/$bdf" ] || fail "$bdf not bound again after rescan"
chans=$(ls /sys/class/dma | wc -l)
insmod "$dmatest_ko" iterations=100 timeout=20000 run=1 || fail "insmod $dmatest_ko after rescan"
cat /sys/module/dmatest/parameters/wait >/dev/null
runs=$(since "$m" | grep "summary" | grep -c " 100 tests, 0 failures")
[ "$runs" -ge "$chans" ] || fail "after rescan: $runs of $chans channels passed 100 tests"
rmmod dmatest
say "bound again after rescan: $chans channel(s) x 100 tests, 0 failures"

rmmod "$name" || fail "rmmod $name"
t1=$(date +%s%N)
# (Loading an unsigned out-of-tree module logs "module verification failed": not a finding.)
bad=$(since "$start" | grep -v "module verification failed" |
	grep -E "WARNING|BUG|Oops|general protection|Call Trace|$name.*(error|failed)")
[ -z "$bad" ] || fail "dmesg: $bad"
say "dmesg clean; $(( (t1 - t0) / 1000000 )) ms from insmod to rmmod"
say ok
