#!/usr/bin/env bash
# `kvmlaunch check` on this machine (issue 6): a VM this host can run passes;
# CPU 99, a missing bridge, too few huge pages, a disk QEMU's user cannot
# open and cache=none on tmpfs each fail with the right line; a run refuses
# the same VM with exit 2 and leaves nothing. Then `pin = auto` for real:
# two VMs started at once get different CPUs, a third finds none free.
set -u
. "$(dirname "$0")/lib.sh"
need_root "disks are opened as QEMU's user"
need_guest; need_cmd qemu-system-x86_64

make_tmp --rundir
make_user klchk
vms_named klchk-$$
defer rm -f "/dev/shm/klchk-$$.img"
qemu-img create -q -f qcow2 "$tmp/disk.qcow2" 16M
chmod 0644 "$tmp/disk.qcow2"
chmod 0755 "$tmp"

vm_preset guest
vm() { # NAME [EXTRA INI TEXT]: writes $tmp/NAME.ini
    vm_ini "$1" "vm.vcpus=${VCPUS:-2}" "vm.append=console=ttyS0 quiet ${APPEND:-kl.exit=0}" vm.exit-device=yes vm.shutdown-timeout= \
        "cpu.pin=${PIN:-1,0}" '[disk "root"]' "file = ${DISK:-$tmp/disk.qcow2}" "format = qcow2" "snapshot = yes" "${@:2}"
}
line_of() { grep -n "^$2" "$tmp/$1.ini" | head -1 | cut -d: -f1; }

# 1. A VM this host can run: exit 0, no FAIL, the needs are all there.
vm good
"$bin" check "$tmp/good.ini" > "$tmp/good.out" 2>&1; rc=$?
[ $rc = 0 ] && ! grep -q '^FAIL' "$tmp/good.out" && ok "check passes on a runnable VM" || { bad "check good: exit $rc"; cat "$tmp/good.out"; }
for topic in cpus kvm user disks cache qemu cgroup host; do
    grep -qE "^(PASS|WARN)  $topic " "$tmp/good.out" || bad "no line for $topic"
done
grep -q "^PASS  cpus       vCPUs pinned to 0-1: online" "$tmp/good.out" && ok "pinned CPUs online and free" || bad "cpus line"
grep -qE "^PASS  qemu .*version [0-9]+\.[0-9]+" "$tmp/good.out" && ok "QEMU version: $(grep -o 'version [0-9.]*' "$tmp/good.out")" || bad "no QEMU version"
grep -q "^PASS  disks .*opens read-only as $user" "$tmp/good.out" && ok "the snapshot disk opens read-only as $user" || bad "disk line"
grep -q "^PASS  cache .*O_DIRECT works" "$tmp/good.out" && ok "O_DIRECT works on the disk's filesystem" || bad "cache line"
if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then grep -q "^PASS  kvm" "$tmp/good.out" && ok "kvm usable" || bad "kvm line"
else grep -q "^WARN  kvm .*TCG" "$tmp/good.out" && ok "no /dev/kvm: a WARN that says TCG" || bad "kvm warn line"; fi
grep -qE "^klchk-$$-good: [0-9]+ passed, [0-9]+ warnings, 0 failed$" "$tmp/good.out" && ok "summary line" || bad "summary"

# 2. Each FAIL names the file:line, check exits 1, a run exits 2 and leaves nothing.
fails() { # NAME TOPIC PATTERN WHAT
    "$bin" check "$tmp/$1.ini" > "$tmp/$1.out" 2>&1; local rc=$?
    if [ $rc = 1 ] && grep -qE "^FAIL  $2 +$3" "$tmp/$1.out"; then ok "check: $4"; else bad "check $1: exit $rc"; cat "$tmp/$1.out"; fi
    "$bin" "$tmp/$1.ini" > "$tmp/$1.run" 2>&1; rc=$?
    if [ $rc = 2 ] && grep -qE "^$3" "$tmp/$1.run" && [ -z "$(leftovers "$1")" ]; then ok "run refuses it (exit 2), nothing left"
    else bad "run $1: exit $rc, left: $(leftovers "$1")"; cat "$tmp/$1.run"; fi
}
PIN=99,0 vm cpu99
fails cpu99 cpus "$tmp/cpu99.ini:$(line_of cpu99 pin): \[cpu\] pin: expected CPUs this host has online \([0-9,-]+\), found CPU 99" "CPU 99"
vm nobridge "$(printf '[net "lan"]\nbridge = klnobr%s' $$)"
fails nobridge network "$tmp/nobridge.ini:$(line_of nobridge bridge): \[net \"lan\"\] bridge: expected a bridge of this host, found no interface klnobr$$" "a missing bridge"
free2m=$(cat /sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages)
if [ "$free2m" -lt 128 ]; then
    vm nohuge "$(printf '[memory]\nbacking = hugepages\nhugepage-size = 2M\nnodes = 0')"
    fails nohuge hugepages "$tmp/nohuge.ini:[0-9]+: \[memory\] [a-z-]+: expected 128 free 2M huge pages on node 0, found $free2m" "too few huge pages"
else
    skip "$free2m free 2 MiB pages here: the too-few-huge-pages case is covered by the unit tests only"
fi
cp "$tmp/disk.qcow2" "$tmp/private.qcow2"; chmod 0600 "$tmp/private.qcow2"
DISK=$tmp/private.qcow2 vm private
fails private disks "$tmp/private.ini:[0-9]+: \[disk \"root\"\] file: $user cannot open $tmp/private.qcow2 read-only: Permission denied" "a disk QEMU's user cannot read"
# tmpfs takes O_DIRECT since Linux 6.6; older kernels refuse it (EINVAL).
cp "$tmp/disk.qcow2" "/dev/shm/klchk-$$.img"; chmod 0644 "/dev/shm/klchk-$$.img"
if ! dd if="/dev/shm/klchk-$$.img" of=/dev/null bs=4096 count=1 iflag=direct 2>/dev/null; then
    DISK=/dev/shm/klchk-$$.img vm tmpfs
    fails tmpfs cache "$tmp/tmpfs.ini:[0-9]+: \[disk \"root\"\] cache: none needs O_DIRECT" "cache=none on tmpfs"
else
    skip "this kernel's tmpfs takes O_DIRECT: the cache=none refusal cannot be shown here"
fi

# 3. pin = auto for real: two VMs at once get different CPUs; a third gets none.
ncpu=$(nproc)
PIN=auto VCPUS=$((ncpu / 2)) APPEND=kl.stay=1 vm autoa
PIN=auto VCPUS=$((ncpu / 2)) APPEND=kl.stay=1 vm autob
PIN=auto VCPUS=1 vm autoc
"$bin" --dry-run "$tmp/autoa.ini" > "$tmp/autoa.dry" 2>&1
grep -q "^# \[cpu\] pin = auto: node 0 (" "$tmp/autoa.dry" && ok "dry-run shows the choice: $(grep -o 'pin = auto: .*' "$tmp/autoa.dry")" || { bad "dry-run auto"; cat "$tmp/autoa.dry"; }
"$bin" "$tmp/autoa.ini" > "$tmp/autoa.out" 2>&1 & pa=$!
"$bin" "$tmp/autob.ini" > "$tmp/autob.out" 2>&1 & pb=$!
for i in $(seq 1 150); do vm_running autoa && vm_running autob && break; sleep 0.2; done
"$bin" status "klchk-$$-autoa" --json > "$tmp/a.json" 2>&1
"$bin" status "klchk-$$-autob" --json > "$tmp/b.json" 2>&1
ca=$(jq -r '[.vcpus[].allowed_cpus] | join(",")' "$tmp/a.json" 2>/dev/null)
cb=$(jq -r '[.vcpus[].allowed_cpus] | join(",")' "$tmp/b.json" 2>/dev/null)
overlap=$(comm -12 <(tr , '\n' <<< "$ca" | sort) <(tr , '\n' <<< "$cb" | sort))
if [ -n "$ca" ] && [ -n "$cb" ] && [ -z "$overlap" ]; then ok "two auto VMs started at once: vCPUs on $ca and on $cb"
else bad "auto VMs: a on '$ca', b on '$cb'"; cat "$tmp/autoa.out" "$tmp/autob.out"; fi
grep -q "pin = auto: node 0" "$tmp/autoa.out" && ok "the run logs its choice" || bad "no choice logged"
"$bin" check "$tmp/autoc.ini" > "$tmp/autoc.out" 2>&1; rc=$?
[ $rc = 1 ] && grep -q "^FAIL  cpus .*pin: auto: no NUMA node has 1 free CPUs" "$tmp/autoc.out" && ok "a third: check FAILs with the numbers" || { bad "check autoc: $rc"; cat "$tmp/autoc.out"; }
"$bin" "$tmp/autoc.ini" > "$tmp/autoc.run" 2>&1; rc=$?
[ $rc = 2 ] && [ -z "$(leftovers autoc)" ] && ok "a third: the run refuses (exit 2), nothing left" || { bad "run autoc: $rc"; cat "$tmp/autoc.run"; }
PIN=0 VCPUS=1 vm fixed
"$bin" check "$tmp/fixed.ini" > "$tmp/fixed.out" 2>&1; rc=$?
[ $rc = 1 ] && grep -q "^FAIL  cpus .*pin: CPU 0 is pinned by the running VM klchk-$$-auto" "$tmp/fixed.out" && ok "a fixed pin on a held CPU: FAIL names the VM" || { bad "check fixed: $rc"; cat "$tmp/fixed.out"; }
"$bin" stop "klchk-$$-autoa" >/dev/null 2>&1; "$bin" stop "klchk-$$-autob" >/dev/null 2>&1
wait $pa $pb 2>/dev/null
[ -z "$(leftovers autoa)$(leftovers autob)" ] && [ ! -e "$KVMLAUNCH_RUNDIR/cpus.state" ] && ok "both stopped: nothing left, no CPU record" || bad "left: $(leftovers autoa) $(leftovers autob) $(ls "$KVMLAUNCH_RUNDIR")"

finish
