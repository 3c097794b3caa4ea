# The passthrough test's part inside the nested host (tests/nested/): run
# by the guest's init from /nested (busybox sh, as root). Each result is a
# line "NESTED: ok|FAIL WHAT" on the console; the last is "NESTED: done".
# The host's test (test_passthrough.sh) reads them.
bb=/nested/bin/busybox
mkdir -p /tmp/bb && $bb --install -s /tmp/bb
export PATH=/tmp/bb:/bin
kl=/nested/bin/kvmlaunch
say() { echo "NESTED: $*"; }
ok() { say "ok $*"; }
bad() { say "FAIL $*"; }
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > /etc/passwd
printf 'root:x:0:\nnogroup:x:65534:\n' > /etc/group
mkdir -p /run /tmp/state
export KVMLAUNCH_STATEDIR=/tmp/state

# The spare device: the virtio-net behind its own root port (1af4:1041).
dev=
for d in /sys/bus/pci/devices/*; do
    [ "$(cat "$d/vendor"):$(cat "$d/device")" = 0x1af4:0x1041 ] && dev=${d##*/}
done
drv_of() { basename "$(readlink "/sys/bus/pci/devices/$1/driver" 2>/dev/null)" 2>/dev/null; }
orig=$(drv_of "$dev")
group=$(basename "$(readlink "/sys/bus/pci/devices/$dev/iommu_group")")
say "device $dev on $orig, IOMMU group $group"
[ -n "$dev" ] && [ "$orig" = virtio-pci ] || bad "no spare virtio-net device on its driver"

vm() { # FILE ADDRESS
    cat > "$1" <<INI
[vm]
name = inner
memory = 64M
vcpus = 1
user = nobody
qemu = /nested/qemu/qemu
accel = tcg
serial = none
shutdown-timeout = 2s
timeout = 240s

[balloon]
enabled = no

[hostdev "nic"]
address = $2
INI
}
vm /tmp/vm.ini "$dev"

$kl check /tmp/vm.ini > /tmp/check.out 2>&1
sed 's/^/NESTED: check: /' /tmp/check.out
grep -q "^PASS  hostdev    IOMMU on; interrupt remapping on" /tmp/check.out && ok "check: IOMMU on, interrupt remapping on" || bad "check: IOMMU line"
grep -q "^PASS  hostdev    \[hostdev \"nic\"\] $dev, IOMMU group $group: $dev (virtio-pci)" /tmp/check.out \
    && ok "check: the group and its driver" || bad "check: the device line"

running() { $kl qmp inner query-status > /dev/null 2>&1; }
wait_running() { i=0; while [ $i -lt 240 ]; do running && return 0; sleep 0.5; i=$((i + 1)); done; return 1; }
qemu_pid() { $kl list 2>/dev/null | awk '$1 == "inner" { print $3 }'; }

# 1. A run: the device in the inner QEMU, only its group's node, QEMU as nobody.
$kl /tmp/vm.ini > /tmp/run1.out 2>&1 &
klpid=$!
if wait_running; then
    ok "the inner VM runs with [hostdev]"
    $kl qmp inner query-pci > /tmp/pci.json 2>&1
    grep -q '"vendor": *6900' /tmp/pci.json && grep -q '"device": *4161' /tmp/pci.json \
        && ok "query-pci in the inner QEMU shows 1af4:1041" || { bad "query-pci: no 1af4:1041"; cat /tmp/pci.json; }
    [ "$(drv_of "$dev")" = vfio-pci ] && ok "$dev is on vfio-pci while the VM runs" || bad "$dev is on $(drv_of "$dev")"
    q=$(qemu_pid)
    uid=$(awk '/^Uid:/ { print $2 }' "/proc/$q/status")
    [ "$uid" = 65534 ] && ok "QEMU runs as nobody (uid 65534)" || bad "QEMU's uid is $uid"
    nodes=$(ls -l "/proc/$q/fd" 2>/dev/null | grep -o '/dev/vfio/[^ ]*' | sort -u | tr '\n' ' ')
    [ "$nodes" = "/dev/vfio/$group /dev/vfio/vfio " ] && ok "QEMU holds /dev/vfio/$group and /dev/vfio/vfio only" || bad "QEMU's vfio nodes: $nodes"
    owner=$(ls -ln "/dev/vfio/$group" | awk '{ print $3 " " $1 }')
    [ "$owner" = "65534 crw-------" ] && ok "/dev/vfio/$group is nobody's, mode 0600" || bad "/dev/vfio/$group: $owner"
    others=$(ls -ln /dev/vfio | awk '$3 == 65534 { print $NF }' | tr '\n' ' ')
    [ "$others" = "$group " ] && ok "no other vfio node is nobody's" || bad "nobody's vfio nodes: $others"
    $kl stop inner > /dev/null 2>&1
    wait $klpid; rc=$?
    say "run 1 ended, exit $rc"
else
    bad "the inner VM did not start"; sed 's/^/NESTED: run1: /' /tmp/run1.out
fi
[ "$(drv_of "$dev")" = virtio-pci ] && ok "after the stop $dev is back on virtio-pci" || bad "after the stop $dev is on $(drv_of "$dev")"
[ "$(cat "/sys/bus/pci/devices/$dev/driver_override")" = "(null)" ] && ok "its driver_override is as it was" || bad "driver_override: $(cat "/sys/bus/pci/devices/$dev/driver_override")"
[ ! -e "/dev/vfio/$group" ] && ok "/dev/vfio/$group is gone" || bad "/dev/vfio/$group stays"
ls /sys/class/net | grep -q eth0 && ok "the guest's eth0 is back" || bad "no eth0 after the stop"

# 2. kill -9 of kvmlaunch: QEMU goes, the device stays on vfio-pci until cleanup.
$kl /tmp/vm.ini > /tmp/run2.out 2>&1 &
klpid=$!
if wait_running; then
    kill -9 $klpid
    wait $klpid 2>/dev/null
    i=0; while [ -n "$(qemu_pid)" ] && [ $i -lt 40 ]; do sleep 0.5; i=$((i + 1)); done
    ps | grep -v grep | grep -q qemu-system && bad "QEMU outlived kill -9 of kvmlaunch" || ok "QEMU died with kvmlaunch"
    say "after kill -9 the device is on $(drv_of "$dev")"
    $kl cleanup inner > /tmp/cleanup.out 2>&1; rc=$?
    [ $rc = 0 ] && [ "$(drv_of "$dev")" = virtio-pci ] && ok "kill -9, then cleanup: $dev back on virtio-pci" \
        || { bad "cleanup: exit $rc, $dev on $(drv_of "$dev")"; sed 's/^/NESTED: cleanup: /' /tmp/cleanup.out; }
else
    bad "the second inner VM did not start"; sed 's/^/NESTED: run2: /' /tmp/run2.out
fi

# 3. Refused with exit 2, nothing touched: a missing device; a group the
# host uses (the disk /nested is mounted from; the NIC once it carries an
# address).
refused() { # ADDRESS REGEX WHAT
    vm /tmp/bad.ini "$1"
    $kl /tmp/bad.ini > /tmp/bad.out 2>&1; rc=$?
    if [ $rc = 2 ] && grep -q "$2" /tmp/bad.out && [ ! -e /run/kvmlaunch/inner ] && [ "$(drv_of "$dev")" = virtio-pci ]; then ok "refused, exit 2: $3"
    else bad "$3: exit $rc"; sed 's/^/NESTED: bad: /' /tmp/bad.out; fi
}
refused 0000:05:00.0 "expected a PCI device of this host, found no /sys/bus/pci/devices/0000:05:00.0" "a missing device"
blk=$(for d in /sys/bus/pci/devices/*; do [ "$(cat "$d/vendor"):$(cat "$d/device")" = 0x1af4:0x1001 ] && echo "${d##*/}"; done)
refused "$blk" "disk vda is mounted (/dev/vda on /nested)" "the disk controller of a mounted disk"
ip link set eth0 up && ip addr add 10.0.2.15/24 dev eth0
refused "$dev" "NIC eth0 carries the host's own traffic" "a NIC carrying the host's address"
ip addr del 10.0.2.15/24 dev eth0
say done
