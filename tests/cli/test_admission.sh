#!/usr/bin/env bash
# Admission (issue 20, items 3 and 4), with real VMs on this host.
# Memory: a VM larger than this host's memory is refused by `check` (exit 1,
# a FAIL naming the figures) and by the run (exit 2) before anything is
# made, where QEMU used to die with "cannot set up guest memory" after the
# host was prepared. Disks: a raw file another running VM writes is refused
# to a second VM, writer or reader, naming that VM (QEMU would stop at its
# image lock, "Failed to get write lock", after the host was prepared);
# readers (readonly = yes, snapshot = yes) share it.
set -u
. "$(dirname "$0")/lib.sh"
need_root "VMs run as their own user; disks are opened as that user"
need_cmd qemu-system-x86_64 truncate

make_tmp --rundir
make_user kladm
vms_named kladm-$$
chmod 0755 "$tmp"
vm_preset bios
truncate -s 16M "$tmp/disk.raw"
chown "$user" "$tmp/disk.raw"
chmod 0600 "$tmp/disk.raw"
line_of() { grep -n "^$2 =" "$tmp/$1.ini" | head -1 | cut -d: -f1; }
disk_vm() { # ID READONLY SNAPSHOT
    vm_ini "$1" '[disk "d"]' "file = $tmp/disk.raw" "format = raw" "cache = writeback" "readonly = $2" "snapshot = $3"
}
start() { # ID: runs it in the background, waits until it runs
    "$bin" "$tmp/$1.ini" > "$tmp/$1.out" 2>&1 &
    pids+=($!)
    wait_for 60 vm_running "$1" || { bad "$1 did not start"; cat "$tmp/$1.out"; }
}
stop() { "$bin" stop "$(name "$1")" > /dev/null 2>&1; wait_for 30 eval '[ -z "$(leftovers '"$1"')" ]' || bad "$1 left: $(leftovers "$1")"; }
# check ID: $crc and $tmp/ID.chk; refused ID TOPIC REGEX WHAT: check exits 1
# with a FAIL line of TOPIC matching, the run exits 2 with the message and
# leaves nothing (it stopped at the checks: no runtime dir, cgroup or QEMU).
refused() {
    "$bin" check "$tmp/$1.ini" > "$tmp/$1.chk" 2>&1; local rc=$?
    if [ $rc = 1 ] && grep -qE "^FAIL  $2 +$3" "$tmp/$1.chk"; then ok "check: $4"; else bad "check $1: exit $rc"; cat "$tmp/$1.chk"; fi
    "$bin" "$tmp/$1.ini" > "$tmp/$1.run" 2>&1; rc=$?
    if [ $rc = 2 ] && grep -qE "^$3" "$tmp/$1.run" && [ -z "$(leftovers "$1")" ] && ! grep -q "QEMU did not come up" "$tmp/$1.run"; then
        ok "run: $4: exit 2 before anything was made"
    else
        bad "run $1: exit $rc, left: $(leftovers "$1")"; cat "$tmp/$1.run"
    fi
}

# 1. Memory: twice this host's RAM (at most 16T, the schema's limit).
total_gib=$(awk '/^MemTotal:/ { print int($2 / 1048576) + 1 }' /proc/meminfo)
big=$((total_gib * 2))G
vm_ini big "vm.memory=$big"
refused big memory "$tmp/big.ini:$(line_of big memory): \[vm\] memory: expected at most what this host can give, found $big: with QEMU's own 128 MiB it needs [0-9.]+ GiB, and this host can give [0-9.]+ GiB \(MemAvailable [0-9.]+ GiB, no other VM running\)" \
    "memory = $big on a host of about ${total_gib} GiB"
# The test VMs' sizes pass, with the figures.
vm_ini small
"$bin" check "$tmp/small.ini" > "$tmp/small.chk" 2>&1; rc=$?
grep -qE "^PASS  memory     64M fits: with QEMU's own 128 MiB it needs 192 MiB, and this host can give [0-9.]+ GiB \(MemAvailable" "$tmp/small.chk" \
    && ok "64M passes: $(grep -o 'this host can give [^(]*' "$tmp/small.chk")" || { bad "check small: exit $rc"; cat "$tmp/small.chk"; }

# 2. A disk another running VM writes.
disk_vm a no no
disk_vm b no no
disk_vm r1 yes no
disk_vm r2 yes no
disk_vm s no yes
start a
a_name=$(name a)
refused b disks "$tmp/b.ini:$(line_of b file): \[disk \"d\"\] file: expected a disk no other VM uses, found $tmp/disk.raw open read-write by the running VM $a_name \(QEMU pid [0-9]+\)" \
    "a second writer of a disk $a_name writes is refused, naming it"
refused r1 disks "$tmp/r1.ini:$(line_of r1 file): \[disk \"d\"\] file: expected a disk no running VM writes, found $tmp/disk.raw open read-write by the running VM $a_name" \
    "a reader (readonly = yes) of a disk $a_name writes is refused"
refused s disks "$tmp/s.ini:$(line_of s file): \[disk \"d\"\] file: expected a disk no running VM writes, found $tmp/disk.raw open read-write by the running VM $a_name" \
    "snapshot = yes on a disk $a_name writes is refused"
grep -qE "^PASS  memory .*less [0-9.]+ [MG]iB the 1 other running VM may still take: $a_name [0-9.]+ [MG]iB\)" "$tmp/b.chk" \
    && ok "the memory line counts $a_name: $(grep -o 'less [^)]*' "$tmp/b.chk")" || { bad "memory line without $a_name"; grep memory "$tmp/b.chk"; }
vm_running a && ok "$a_name still runs" || bad "$a_name is gone"
stop a

# 3. Readers share: two readonly = yes and a snapshot = yes run at once;
# a writer is refused while any of them runs.
start r1
"$bin" check "$tmp/r2.ini" > "$tmp/r2.chk" 2>&1; rc=$?
[ $rc = 0 ] && grep -q "^PASS  disks .*opens read-only" "$tmp/r2.chk" && ok "check: a second reader passes" || { bad "check r2: exit $rc"; cat "$tmp/r2.chk"; }
start r2
start s
vm_running r1 && vm_running r2 && vm_running s && ok "three readers of one raw file run at once" || bad "readers: r1 $(vm_running r1 && echo up), r2 $(vm_running r2 && echo up), s $(vm_running s && echo up)"
refused b disks "$tmp/b.ini:$(line_of b file): \[disk \"d\"\] file: expected a disk no other VM uses, found $tmp/disk.raw open read-only by the running VM $(name r1) \(QEMU pid [0-9]+\)" \
    "a writer of a disk readers hold is refused, naming the first"
stop r1
stop r2
stop s
[ -z "$(ls -A "$KVMLAUNCH_RUNDIR" 2> /dev/null | grep -v '\.state$')" ] && ok "nothing left in the run dir" || bad "run dir: $(ls -A "$KVMLAUNCH_RUNDIR")"

finish
