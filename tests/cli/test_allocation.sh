#!/usr/bin/env bash
# Issue 22: kvmlaunch stays inside the CPUs, memory nodes and cgroup it is
# given.
# 1. taskset: `taskset -c LAST kvmlaunch --dry-run` with pin = auto puts the
#    vCPU and the emulator on LAST, never on CPU 0 (today's code chose 0);
#    check shows the allocation; pin = 0 is a FAIL in check naming the
#    allowed set and sched_getaffinity, and the run exits 2 with nothing left.
# 2. A cpuset cgroup the test makes (v1: under the cpuset mount; v2: under
#    the root with cpuset enabled), holding CPU LAST, kvmlaunch started in
#    it: the dry run chooses LAST and puts the tree under that cgroup, says
#    why; pin = 0 fails naming the cgroup and its effective file; with the
#    test guest, a real run: QEMU's threads are in the cgroup's kvmlaunch/
#    while it runs, on LAST, and the guest's exit code comes back; the
#    `kvmlaunch pin` from outside the cgroup finds the tree; the
#    cgroup has no child left after it (so whoever made it can remove it),
#    and cgroups.state has no record.
# Needs root and two CPUs (skips, 77, without them).
set -u
KVMLAUNCH_BIN=${KVMLAUNCH_BIN:-build/plain/kvmlaunch}
. "$(dirname "$0")/lib.sh"
need_root "it makes a cpuset cgroup"
need_cmd taskset
last=$(taskset -cp $$ | sed 's/.*: //' | tr ',' '\n' | sed 's/.*-//' | sort -n | tail -1)
[ "${last:-0}" -ge 1 ] || skip_all "this machine gives the test one CPU; the allocation test needs two"
make_tmp --rundir
vms_named klal-$$
vm_defaults=(vm.memory=64M vm.vcpus=1 vm.user=nobody vm.serial=none balloon.enabled=no cpu.pin=auto)
vm_ini auto
vm_ini pin0 cpu.pin=0

# ---- 1. taskset ----
out=$(taskset -c "$last" "$bin" --dry-run "$tmp/auto.ini" 2>&1)
line=$(grep -m1 'pin = auto' <<< "$out")
if grep -q "vCPUs on $last (.*emulator on $last$" <<< "$line"; then
    ok "taskset -c $last, pin = auto: $line"
else
    bad "taskset -c $last, pin = auto chose outside CPU $last: ${line:-$out}"
fi
grep -Eq "vCPUs on 0[ ,(]|emulator on 0" <<< "$line" && bad "CPU 0 chosen under taskset -c $last"
out=$(taskset -c "$last" "$bin" check "$tmp/auto.ini" 2>&1)
grep -q "allocation: CPUs $last (kvmlaunch's affinity (sched_getaffinity: $last)" <<< "$out" &&
    ok "check shows the allocation: $(grep -o 'allocation: .*' <<< "$out")" || bad "check shows no allocation: $out"
out=$(taskset -c "$last" "$bin" check "$tmp/pin0.ini" 2>&1)
want="pin0.ini:[0-9]*: \[cpu\] pin: expected CPUs kvmlaunch may use ($last: kvmlaunch's affinity (sched_getaffinity: $last)"
grep -q "^FAIL.*$want.*found CPU 0" <<< "$out" && ok "check, pin = 0 under taskset: $(grep -o 'pin0.ini:.*' <<< "$out" | head -1)" ||
    bad "check does not fail pin = 0 under taskset -c $last: $out"
taskset -c "$last" "$bin" "$tmp/pin0.ini" > "$tmp/pin0.out" 2>&1; rc=$?
[ $rc = 2 ] && grep -q "$want" "$tmp/pin0.out" && ok "the run refuses it: exit 2, the same message" ||
    { bad "the run under taskset with pin = 0: exit $rc"; cat "$tmp/pin0.out"; }
[ -z "$(leftovers pin0)" ] && ok "nothing left of the refused run" || bad "left: $(leftovers pin0)"

# ---- 2. a cpuset cgroup the test makes ----
v1=$(awk '$3 == "cgroup" && $4 ~ /(^|,)cpuset(,|$)/ { print $2; exit }' /proc/self/mounts)
v2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/self/mounts)
mem0=0
if [ -n "$v1" ]; then
    cg=$v1/klal-$$ fc=cpuset.effective_cpus
    mkdir "$cg" || skip_all "cannot make $cg"
    defer rmdir "$cg"
    mem0=$(sed 's/[-,].*//' "$v1/cpuset.mems")
    echo "$mem0" > "$cg/cpuset.mems" && echo "$last" > "$cg/cpuset.cpus" || skip_all "cannot give $cg CPU $last"
elif [ -n "$v2" ] && grep -qw cpuset "$v2/cgroup.controllers"; then
    cg=$v2/klal-$$ fc=cpuset.cpus.effective
    if ! grep -qw cpuset "$v2/cgroup.subtree_control"; then
        echo +cpuset > "$v2/cgroup.subtree_control" || skip_all "cannot enable cpuset in $v2"
        defer sh -c "echo -cpuset > $v2/cgroup.subtree_control"
    fi
    mkdir "$cg" || skip_all "cannot make $cg"
    defer rmdir "$cg"
    echo "$last" > "$cg/cpuset.cpus" || skip_all "cannot give $cg CPU $last"
    # Delegated, as systemd marks a Delegate=yes unit's cgroup.
    setfattr -n trusted.delegate -v 1 "$cg" 2> /dev/null || skip_all "cannot mark $cg delegated (setfattr, attr)"
else
    skip "part 2: no cpuset hierarchy on this host"
    finish
fi
# In the cgroup: a shell that moves itself there, then runs kvmlaunch.
in_cg() { sh -c 'echo $$ > "$0"; exec "$@"' "$cg/$( [ -n "$v1" ] && echo tasks || echo cgroup.procs)" "$@"; }
out=$(in_cg "$bin" --dry-run "$tmp/auto.ini" 2>&1)
line=$(grep -m1 'pin = auto' <<< "$out")
grep -q "vCPUs on $last (.*emulator on $last$" <<< "$line" && ok "in $cg, pin = auto: $line" ||
    bad "in $cg, pin = auto chose outside CPU $last: ${line:-$out}"
grep -q "VMs under $cg/kvmlaunch (" <<< "$out" && ok "--dry-run: $(grep -o "VMs under $cg/kvmlaunch (.*" <<< "$out")" ||
    bad "--dry-run does not put the tree under $cg: $(grep cgroups <<< "$out")"
grep -q "^#   mkdir $cg/kvmlaunch/$(name auto)$" <<< "$out" && ok "the VM's dir is $cg/kvmlaunch/$(name auto)" ||
    bad "no mkdir of $cg/kvmlaunch/$(name auto) in the dry run"
out=$(in_cg "$bin" check "$tmp/pin0.ini" 2>&1)
grep -q "expected CPUs kvmlaunch may use ($last: .*its cpuset cgroup $cg ($fc: $last)), found CPU 0" <<< "$out" &&
    ok "check, pin = 0 in $cg: names the cgroup and $fc" || bad "check in $cg: $out"

if [ ! -f "$guest/vmlinuz" ] || [ ! -f "$guest/initrd.img" ] || ! command -v qemu-system-x86_64 > /dev/null; then
    skip "the real run in $cg needs the test guest (tests/guest/build.sh) and qemu-system-x86_64"
    finish
fi
make_user klal
chown "$user" "$tmp" && chmod go+x "$tmp"
vm_ini live vm.memory=128M "vm.user=$user" "vm.kernel=$guest/vmlinuz" "vm.initrd=$guest/initrd.img" \
    "vm.append=console=ttyS0 quiet kl.stay=1" "vm.serial=file:$tmp/live.serial" vm.shutdown-timeout=20s vm.timeout=180s
in_cg "$bin" "$tmp/live.ini" > "$tmp/live.out" 2>&1 &
sup=$!
pids+=($sup)
if wait_for 120 grep -qs "KVMLAUNCH-GUEST: stay" "$tmp/live.serial"; then
    qemu=$(qemu_of live)
    outside=
    for t in /proc/$qemu/task/*; do
        if [ -n "$v1" ]; then c=$(awk -F: '$2 ~ /(^|,)cpuset(,|$)/ { print $3 }' "$t/cgroup"); else c=$(awk -F: '$1 == 0 { print $3 }' "$t/cgroup"); fi
        case $c in "/klal-$$/kvmlaunch/"*) ;; *) outside+=" ${t##*/}=$c" ;; esac
        aff=$(taskset -cp "${t##*/}" 2> /dev/null | sed 's/.*: //')
        [ "$aff" = "$last" ] || outside+=" ${t##*/}:cpus=$aff"
    done
    [ -n "$qemu" ] && [ -z "$outside" ] && ok "every QEMU thread is in $cg/kvmlaunch/ and on CPU $last" ||
        bad "QEMU ($qemu) threads outside $cg/kvmlaunch or CPU $last:$outside"
    grep -q "\"dir\": *\"$cg/kvmlaunch/$(name live)\"" "$KVMLAUNCH_RUNDIR/cgroups.state" 2> /dev/null &&
        ok "cgroups.state records where the tree is" || bad "cgroups.state: $(cat "$KVMLAUNCH_RUNDIR/cgroups.state" 2>&1)"
    # From outside the cgroup (this shell's): pin finds the nested tree.
    "$bin" pin "$(name live)" "vcpu.0=$last" > "$tmp/pin.out" 2>&1 && ok "kvmlaunch pin from another cgroup finds the tree: $(head -1 "$tmp/pin.out")" ||
        bad "kvmlaunch pin from another cgroup: $(cat "$tmp/pin.out")"
    "$bin" stop "$(name live)" > /dev/null 2>&1
else
    bad "the VM in $cg did not come up"; cat "$tmp/live.out"
fi
wait $sup; rc=$?
[ $rc = 0 ] && ok "the VM in $cg ended: exit 0" || { bad "the VM in $cg exited $rc"; cat "$tmp/live.out"; }
left=$(find "$cg" -mindepth 1 -type d)
[ -z "$left" ] && ok "$cg has no child left (kvmlaunch/ went with the last VM)" || bad "left in $cg: $left"
[ ! -s "$KVMLAUNCH_RUNDIR/cgroups.state" ] && ok "no cgroup record left" || bad "cgroups.state: $(cat "$KVMLAUNCH_RUNDIR/cgroups.state")"
finish
