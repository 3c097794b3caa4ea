#!/usr/bin/env bash
# Per-VM cgroups for real on this host.
# 1. `test_cgroup --real` (tests/unit/test_cgroup.c) gives a process with
#    three threads its VM cgroups, checks from /proc/TID/cgroup and the
#    thread's affinity where each landed, that rmdir waits out live threads
#    with EBUSY, then removes the VM's cgroups (kvmlaunch/ stays), also
#    through `cleanup` after a "crash".
# 2. A real VM (the test guest): while it runs, its supervisor's CapEff is
#    within {KILL, NET_ADMIN, SYS_NICE} on this layout (on cgroup v1 the
#    base is mode 0555: kvmlaunch/ stays so that nothing needs
#    CAP_DAC_OVERRIDE); `cleanup --all` removes a dead VM's tree left in
#    kvmlaunch/, keeps the running VM's and one whose threads live (a VM of
#    another runtime dir); the VM's tree goes when it stops, kvmlaunch/ stays.
# Outside kvmlaunch/ the host's cgroup directories are as before. Skips (77)
# without root or a cpuset hierarchy, and part 2 without the test guest.
set -u
KVMLAUNCH_BIN=${KVMLAUNCH_BIN:-build/plain/kvmlaunch}
. "$(dirname "$0")/lib.sh"
test=$(dirname "$bin")/tests/unit/test_cgroup
[ -x "$test" ] || skip_all "$test is not built (make tests)"
need_root "it creates cgroups"

# Every cgroup directory of the cpuset hierarchies, v1 and v2, but what
# lies inside kvmlaunch/ (other tests' VMs come and go there meanwhile).
dirs() {
    awk '$3 == "cgroup2" || ($3 == "cgroup" && $4 ~ /(^|,)cpuset(,|$)/) { print $2 }' /proc/self/mounts |
        while read -r m; do find "$m" -type d 2>/dev/null; done | grep -Ev '/kvmlaunch(/|$)' | LC_ALL=C sort
}
# Where kvmlaunch/ is (v1 cpuset mount, else the v2 root).
base=$(awk '$3 == "cgroup" && $4 ~ /(^|,)cpuset(,|$)/ { print $2; exit }' /proc/self/mounts)
[ -n "$base" ] || base=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/self/mounts)
kltop=$base/kvmlaunch
before=$(dirs)
# Safety net: whatever the test left of its own (kltest-*, klcg-$$-*) goes,
# threads first; nothing that was there before is touched.
remove_own_cgroups() {
    find "$kltop" -mindepth 1 -type d 2>/dev/null | grep -E "/kvmlaunch/(kltest-[0-9]+|klcg-$$-[a-z]+)(/[a-z0-9]+)?$" | sort -r |
        while read -r d; do
            for t in $(cat "$d/tasks" "$d/cgroup.threads" 2>/dev/null); do kill -9 "$t" 2>/dev/null; done
            sleep 0.2
            rmdir "$d" 2>/dev/null && echo "removed a leftover $d"
        done
}
defer remove_own_cgroups
same_dirs() {
    after=$(dirs)
    [ "$before" = "$after" ] && ok "outside kvmlaunch/ the host's cgroup directories are as before" ||
        { bad "the cgroup directories changed:"; diff <(echo "$before") <(echo "$after"); }
    finish
}

# ---- 1. the module for real ----
"$test" --real
rc=$?
[ $rc -eq 77 ] && exit 77   # it said why
[ $rc -eq 0 ] && ok "test_cgroup --real: threads placed and their cgroups removed" || bad "test_cgroup --real exited $rc"

# ---- 2. a real VM ----
if [ ! -f "$guest/vmlinuz" ] || [ ! -f "$guest/initrd.img" ] || ! command -v qemu-system-x86_64 > /dev/null; then
    skip "part 2 needs the test guest (tests/guest/build.sh) and qemu-system-x86_64"
    same_dirs
fi
make_tmp --rundir
make_user klcg
vms_named klcg-$$
vm_preset guest
vm_ini live vm.memory=128M cpu.pin=1,0
name=$(name live)
"$bin" "$tmp/live.ini" > "$tmp/live.out" 2>&1 &
sup=$!
pids+=($sup)
if ! wait_for 60 grep -qs "KVMLAUNCH-GUEST: stay" "$tmp/live.serial"; then
    bad "the VM did not come up"; cat "$tmp/live.out"; same_dirs
fi
# CapEff within KILL (5), NET_ADMIN (12), SYS_NICE (23).
allowed=$(( (1 << 5) | (1 << 12) | (1 << 23) ))
capeff=$(awk '/^CapEff:/ { print $2 }' "/proc/$sup/status")
if [ -n "$capeff" ] && [ $(( 0x$capeff & ~allowed )) = 0 ]; then
    ok "supervisor CapEff $capeff is within KILL|NET_ADMIN|SYS_NICE ($(printf '%016x' $allowed)) on $(stat -c %a "$base") $base"
else
    bad "supervisor CapEff $capeff has more than KILL|NET_ADMIN|SYS_NICE: $(printf '%x' $(( 0x${capeff:-0} & ~allowed )))"
fi
[ -d "$kltop/$name/vcpu0" ] && ok "the running VM's cgroup $kltop/$name/vcpu0 exists" || bad "no $kltop/$name/vcpu0"

# What a crashed run leaves: a VM tree with no thread in it.
dead=$kltop/klcg-$$-dead
mkdir -p "$dead/emulator" "$dead/vcpu0"
# And a VM of another runtime dir: a thread in it, unknown to our runtime dir.
other=$kltop/klcg-$$-other
mkdir -p "$other/emulator"
if [ -e "$other/emulator/cpuset.cpus" ]; then
    cat "$kltop/cpuset.cpus" > "$other/cpuset.cpus"; cat "$kltop/cpuset.mems" > "$other/cpuset.mems"
    cat "$kltop/cpuset.cpus" > "$other/emulator/cpuset.cpus"; cat "$kltop/cpuset.mems" > "$other/emulator/cpuset.mems"
fi
sleep 600 & sleeper=$!
pids+=($sleeper)
echo $sleeper > "$other/emulator/cgroup.procs" 2>/dev/null || bad "could not move a process into $other/emulator"
"$bin" cleanup --all > "$tmp/cleanup.out" 2>&1; rc=$?
[ $rc = 0 ] && ok "cleanup --all: exit 0" || { bad "cleanup --all: exit $rc"; cat "$tmp/cleanup.out"; }
[ ! -e "$dead" ] && ok "cleanup --all removed a dead VM's cgroups: $(grep -o "klcg-$$-dead: .*" "$tmp/cleanup.out")" || bad "$dead is left: $(cat "$tmp/cleanup.out")"
[ -d "$kltop/$name/vcpu0" ] && ok "cleanup --all left the running VM's cgroups" || bad "cleanup --all removed the running VM's $kltop/$name"
[ -d "$other/emulator" ] && ok "cleanup --all left a cgroup with a live process in it" || bad "cleanup --all removed $other, where a process lives"
kill -9 $sleeper; wait $sleeper 2>/dev/null
"$bin" cleanup --all > "$tmp/cleanup2.out" 2>&1; rc=$?
[ $rc = 0 ] && [ ! -e "$other" ] && ok "once its process died, cleanup --all removed it too" || { bad "cleanup --all, second: exit $rc, $other $( [ -e "$other" ] && echo stays)"; cat "$tmp/cleanup2.out"; }

"$bin" stop "$name" > "$tmp/stop.out" 2>&1 || { bad "stop: $(cat "$tmp/stop.out")"; }
wait $sup; rc=$?
[ $rc = 0 ] && ok "the VM stopped: exit 0" || { bad "the VM exited $rc"; cat "$tmp/live.out"; }
grep -q "could not all be removed" "$tmp/live.out" && bad "teardown: $(grep -o 'the cgroups of.*' "$tmp/live.out")"
[ ! -e "$kltop/$name" ] && ok "its cgroups went with it" || bad "$kltop/$name is left"
[ -d "$kltop" ] && ok "kvmlaunch/ stays ($kltop)" || bad "$kltop went: it should stay"
same_dirs
