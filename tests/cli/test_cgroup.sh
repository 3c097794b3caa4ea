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
bin=$(realpath "${KVMLAUNCH_BIN:-build/plain/kvmlaunch}")
cd "$(dirname "$0")/../.."
guest=$(pwd)/tests/guest/out
test=$(dirname "$bin")/tests/unit/test_cgroup
[ -x "$test" ] || { echo "SKIP: $test is not built (make tests)"; exit 77; }
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (it creates cgroups)"; exit 77; }

fail=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fail=1; }

# Every cgroup directory of the cpuset hierarchies, v1 and v2, but what
# lies inside kvmlaunch/ (other tests' VMs come and go there meanwhile).
dirs() {
    awk '$3 == "cgroup2" || ($3 == "cgroup" && $4 ~ /(^|,)cpuset(,|$)/) { print $2 }' /proc/self/mounts |
        while read -r m; do find "$m" -type d 2>/dev/null; done | grep -Ev '/kvmlaunch(/|$)' | LC_ALL=C sort
}
# Where kvmlaunch/ is (v1 cpuset mount, else the v2 root); empty: none.
base=$(awk '$3 == "cgroup" && $4 ~ /(^|,)cpuset(,|$)/ { print $2; exit }' /proc/self/mounts)
[ -n "$base" ] || base=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/self/mounts)
top=$base/kvmlaunch
before=$(dirs)
tmp=$(mktemp -d)
user=klcg$$
created_user=0
sup=
sleeper=
# Safety net: whatever the test left of its own (kltest-*, klcg-$$-*) goes,
# threads first; nothing that was there before is touched.
leftovers() {
    [ -n "$sup" ] && kill -9 "$sup" 2>/dev/null
    pkill -9 -f "guest=klcg-$$-" 2>/dev/null
    [ -n "$sleeper" ] && kill -9 "$sleeper" 2>/dev/null
    sleep 0.2
    find "$top" -mindepth 1 -type d 2>/dev/null | grep -E "/kvmlaunch/(kltest-[0-9]+|klcg-$$-[a-z]+)(/[a-z0-9]+)?$" | sort -r |
        while read -r d; do
            for t in $(cat "$d/tasks" "$d/cgroup.threads" 2>/dev/null); do kill -9 "$t" 2>/dev/null; done
            sleep 0.2
            rmdir "$d" 2>/dev/null && echo "removed a leftover $d"
        done
    [ $created_user = 1 ] && userdel "$user" 2>/dev/null
    rm -rf "$tmp"
}
trap leftovers EXIT

# ---- 1. the module for real ----
"$test" --real
rc=$?
[ $rc -eq 77 ] && exit 77
[ $rc -eq 0 ] && ok "test_cgroup --real: threads placed and their cgroups removed" || bad "test_cgroup --real exited $rc"

# ---- 2. a real VM ----
wait_for() { # SECONDS CMD...: polls until CMD succeeds
    local end=$((SECONDS + $1)); shift
    while [ $SECONDS -lt $end ]; do "$@" && return 0; sleep 0.2; done
    return 1
}
finish() {
    after=$(dirs)
    [ "$before" = "$after" ] && ok "outside kvmlaunch/ the host's cgroup directories are as before" ||
        { bad "the cgroup directories changed:"; diff <(echo "$before") <(echo "$after"); }
    exit $fail
}
if [ ! -f "$guest/vmlinuz" ] || [ ! -f "$guest/initrd.img" ] || ! command -v qemu-system-x86_64 > /dev/null; then
    [ $fail = 0 ] || finish
    echo "SKIP: part 2 needs the test guest (tests/guest/build.sh) and qemu-system-x86_64"
    exit 77
fi
export KVMLAUNCH_RUNDIR=$tmp/run
useradd --system --no-create-home --shell /usr/sbin/nologin "$user" && created_user=1
name=klcg-$$-live
cat > "$tmp/live.ini" <<INI
[vm]
name = $name
memory = 128M
vcpus = 2
user = $user
kernel = $guest/vmlinuz
initrd = $guest/initrd.img
append = console=ttyS0 quiet kl.stay=1
serial = file:$tmp/live.serial
shutdown-timeout = 20s
timeout = 120s
[cpu]
pin = 1,0
[balloon]
enabled = no
INI
"$bin" "$tmp/live.ini" > "$tmp/live.out" 2>&1 &
sup=$!
if ! wait_for 60 grep -qs "KVMLAUNCH-GUEST: stay" "$tmp/live.serial"; then
    bad "the VM did not come up"; cat "$tmp/live.out"; finish
fi
# CapEff within KILL (5), NET_ADMIN (12), SYS_NICE (23).
allowed=$(( (1 << 5) | (1 << 12) | (1 << 23) ))
capeff=$(awk '/^CapEff:/ { print $2 }' "/proc/$sup/status")
if [ -n "$capeff" ] && [ $(( 0x$capeff & ~allowed )) = 0 ]; then
    ok "supervisor CapEff $capeff is within KILL|NET_ADMIN|SYS_NICE ($(printf '%016x' $allowed)) on $(stat -c %a "$base") $base"
else
    bad "supervisor CapEff $capeff has more than KILL|NET_ADMIN|SYS_NICE: $(printf '%x' $(( 0x${capeff:-0} & ~allowed )))"
fi
[ -d "$top/$name/vcpu0" ] && ok "the running VM's cgroup $top/$name/vcpu0 exists" || bad "no $top/$name/vcpu0"

# What a crashed run leaves: a VM tree with no thread in it.
dead=$top/klcg-$$-dead
mkdir -p "$dead/emulator" "$dead/vcpu0"
# And a VM of another runtime dir: a thread in it, unknown to our runtime dir.
other=$top/klcg-$$-other
mkdir -p "$other/emulator"
if [ -e "$other/emulator/cpuset.cpus" ]; then
    cat "$top/cpuset.cpus" > "$other/cpuset.cpus"; cat "$top/cpuset.mems" > "$other/cpuset.mems"
    cat "$top/cpuset.cpus" > "$other/emulator/cpuset.cpus"; cat "$top/cpuset.mems" > "$other/emulator/cpuset.mems"
fi
sleep 600 & sleeper=$!
echo $sleeper > "$other/emulator/cgroup.procs" 2>/dev/null || bad "could not move a process into $other/emulator"
"$bin" cleanup --all > "$tmp/cleanup.out" 2>&1; rc=$?
[ $rc = 0 ] && ok "cleanup --all: exit 0" || { bad "cleanup --all: exit $rc"; cat "$tmp/cleanup.out"; }
[ ! -e "$dead" ] && ok "cleanup --all removed a dead VM's cgroups: $(grep -o "klcg-$$-dead: .*" "$tmp/cleanup.out")" || bad "$dead is left: $(cat "$tmp/cleanup.out")"
[ -d "$top/$name/vcpu0" ] && ok "cleanup --all left the running VM's cgroups" || bad "cleanup --all removed the running VM's $top/$name"
[ -d "$other/emulator" ] && ok "cleanup --all left a cgroup with a live process in it" || bad "cleanup --all removed $other, where a process lives"
kill -9 $sleeper; wait $sleeper 2>/dev/null; sleeper=
"$bin" cleanup --all > "$tmp/cleanup2.out" 2>&1; rc=$?
[ $rc = 0 ] && [ ! -e "$other" ] && ok "once its process died, cleanup --all removed it too" || { bad "cleanup --all, second: exit $rc, $other $( [ -e "$other" ] && echo stays)"; cat "$tmp/cleanup2.out"; }

"$bin" stop "$name" > "$tmp/stop.out" 2>&1 || { bad "stop: $(cat "$tmp/stop.out")"; }
wait $sup; rc=$?; sup=
[ $rc = 0 ] && ok "the VM stopped: exit 0" || { bad "the VM exited $rc"; cat "$tmp/live.out"; }
grep -q "could not all be removed" "$tmp/live.out" && bad "teardown: $(grep -o 'the cgroups of.*' "$tmp/live.out")"
[ ! -e "$top/$name" ] && ok "its cgroups went with it" || bad "$top/$name is left"
[ -d "$top" ] && ok "kvmlaunch/ stays ($top)" || bad "$top went: it should stay"
finish
