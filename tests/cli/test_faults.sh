#!/usr/bin/env bash
# Faults (issue 7, item 3). Each fault is followed by a check that nothing is
# left (no QEMU process, no runtime dir, no cgroup of the VM, no tap, the
# [host] knob back, no host state file) and that the VM starts again.
#   - kill -9 of QEMU before the QMP greeting, during placement (at the first
#     QMP query, and at cont, once its cgroups exist), while running, during
#     shutdown;
#   - kill -9 of kvmlaunch at the same phases, then `kvmlaunch cleanup`
#     (QEMU dies with it: PDEATHSIG);
#   - a QMP peer that sends garbage or a non-object, closes, exits, greets and
#     closes, never greets, or never answers (the [vm] timeout bounds the
#     wait);
#   - a sysfs write that fails half-way through the host plan (a fake tree
#     whose last knob is a read-only bind mount): what was applied goes back
#     and the error names the file;
#   - the runtime base (/run/kvmlaunch) on a read-only tmpfs, a full one, and
#     one out of inodes;
#   - EMFILE: every `ulimit -n` from 4 up until the VM starts.
# QEMU is tests/helpers/fake-qemu.sh (a bash stand-in that misbehaves on
# purpose, or execs the real one) and runs the VM's BIOS: no guest is booted,
# so each case takes about a second. The tap lives in a network namespace of
# this test; the knob is KSM's sleep_millisecs (harmless: KSM stays as it is).
# test_run.sh covers kill -9 of QEMU and kvmlaunch with a booted guest. The
# last line gives the figures: faults injected, survived, leftovers found.
set -u
. "$(dirname "$0")/lib.sh"
knob=/sys/kernel/mm/ksm/sleep_millisecs
need_root "QEMU runs as another user, taps, cgroups, mounts"
need_cmd qemu-system-x86_64 ip nsenter unshare mount
need_tun
[ -w $knob ] || skip_all "$knob is not writable here"
make_netns klflt

make_tmp --rundir
chmod 0755 "$tmp"                # QEMU runs as nobody and execs the fake below
unset KVMLAUNCH_ROOT
fq=$tmp/fq                       # the fake QEMU, its mode file and its marks
mkdir "$fq" && chmod 1777 "$fq"
cp tests/helpers/fake-qemu.sh "$fq/qemu" && chmod 0755 "$fq/qemu" && mkfifo -m 0666 "$fq/fifo"
knob_before=$(cat $knob)
keep_knob $knob
knob_want=$((knob_before + 13))
tapname=klft$$
mounts=()
umount_all() { for m in "${mounts[@]}"; do umount -l "$m"; done; }
defer umount_all
vms_named klflt-$$
faults=0 survived=0 leftovers_found=0
wait_step=0.1
now_ms() { date +%s%3N; }

vm_preset bios
vm() { # ID [TIMEOUT]: writes $tmp/ID.ini, a BIOS VM with a tap and a knob
    vm_ini "$1" vm.memory=128M vm.user=nobody "vm.qemu=$fq/qemu" vm.shutdown-timeout=3s "vm.timeout=${2:-60s}" cpu.pin=0 \
        "host.ksm-sleep-ms=$knob_want" '[net "n"]' "tap = $tapname" "queues = 1" "vhost = off" "steering = no"
}
mode() { echo "$*" > "$fq/mode"; rm -f "$fq"/at.*; }
# Stops the VM of kvmlaunch $sup, which logs to OUT: the BIOS ignores the
# power button that the first SIGTERM sends; the second one quits QEMU (it
# must come after the first was read: two pending SIGTERMs are one).
stop_vm() { # OUT
    kill -TERM $sup
    wait_for 10 grep -q "asking the guest of .* to power down" "$1"
    kill -TERM $sup 2>/dev/null
}
start() { # ID: kvmlaunch in the background, in the namespace; $sup is its pid
    # Emptied here, not by the background redirection: a restart reuses the
    # ID, and running() must not read the last run's "runs" line.
    : > "$tmp/$1.out"
    nsenter --net=/run/netns/$ns "$bin" "$tmp/$1.ini" > "$tmp/$1.out" 2>&1 &
    sup=$!; pids+=($sup)
}
running() { grep -q "klflt-$$-$1 runs" "$tmp/$1.out"; }
running_or_gone() { running "$1" || ! kill -0 $sup 2>/dev/null; }
# VM ID with the real QEMU, in its BIOS; false (and said) when it does not come up.
start_real() { # ID
    vm "$1"; mode real; start "$1"
    wait_for 30 running "$1" || { bad "$1 did not start"; cat "$tmp/$1.out"; return 1; }
}
# SIGTERM: the power button, which the BIOS ignores; until kvmlaunch asked.
power_button() { # ID
    kill -TERM $sup
    wait_for 10 grep -q "asking the guest of klflt-$$-$1 to power down" "$tmp/$1.out"
}
fault_leftovers() { # ID: prints what is left of it, one thing a line
    leftovers "$1"
    [ -e "$KVMLAUNCH_RUNDIR/host.state" ] && echo "host state file: $(tr -d ' \n' < "$KVMLAUNCH_RUNDIR/host.state")"
    ip -n $ns -o link show | grep -q "$tapname" && echo "tap $tapname"
    [ "$(cat $knob)" = "$knob_before" ] || echo "$knob is $(cat $knob), was $knob_before"
}
# Nothing left, then a start with the real QEMU that runs and stops cleanly.
check_after() { # ID WHAT
    local left; left=$(fault_leftovers "$1")
    if [ -z "$left" ]; then
        ok "$2: nothing left"
    else
        bad "$2: left behind: $(tr '\n' ';' <<<"$left")"
        leftovers_found=$((leftovers_found + $(wc -l <<<"$left")))
        return
    fi
    vm "$1"
    mode real
    start "$1"
    if wait_for 30 running "$1"; then
        [ "$(cat $knob)" = "$knob_want" ] || bad "$2: restart: the knob is $(cat $knob), not $knob_want"
        stop_vm "$tmp/$1.out"
        wait $sup; local rc=$?
        left=$(fault_leftovers "$1")
        if [ $rc = 0 ] && [ -z "$left" ]; then
            ok "$2: the VM starts again, stops with exit 0, nothing left"
            survived=$((survived + 1))
        else
            bad "$2: restart: exit $rc, left: $(tr '\n' ';' <<<"$left")"; cat "$tmp/$1.out"
        fi
    else
        bad "$2: the VM does not start again"; cat "$tmp/$1.out"; kill -9 $sup 2>/dev/null; wait $sup 2>/dev/null
    fi
}
# kvmlaunch has ended by itself: its exit code and one line of its error.
expect_exit() { # ID WHAT RC REGEX
    wait $sup; local rc=$?
    faults=$((faults + 1))
    if [ $rc = "$3" ] && grep -qE "$4" "$tmp/$1.out"; then
        ok "$2: exit $rc: $(grep -E "$4" "$tmp/$1.out" | head -1 | sed 's/^kvmlaunch: //')"
    else
        bad "$2: exit $rc (expected $3 and /$4/):"; cat "$tmp/$1.out"
    fi
}
t_start=$(now_ms)
t_section=$t_start
section() { # NAME: how long the section just ended took
    local t; t=$(now_ms)
    echo "measure: $1: $(( (t - t_section) / 1000 )).$(( (t - t_section) % 1000 / 100 )) s"
    t_section=$t
}

# 1. kill -9 of QEMU at each phase. kvmlaunch reports it, exits 1, cleans up.
# Before the greeting: the fake holds QMP open and says nothing.
vm q1; mode hold; start q1
if wait_for 30 test -e "$fq/at.hold"; then
    [ "$(cat $knob)" = "$knob_want" ] || bad "the knob was not set before QEMU started"
    kill -9 "$(qemu_of q1)"
    expect_exit q1 "kill -9 QEMU before the QMP greeting" 1 "QEMU did not come up: QMP: QEMU closed the connection"
else bad "the fake QEMU did not start"; cat "$tmp/q1.out"; fi
check_after q1 "kill -9 QEMU before the greeting"

# During placement: QEMU dies as kvmlaunch asks for the vCPU threads...
vm q2; mode serve query-cpus-fast -; start q2
expect_exit q2 "kill -9 QEMU at query-cpus-fast" 1 "query-cpus-fast failed: QMP: QEMU closed the connection"
check_after q2 "kill -9 QEMU at query-cpus-fast"
# ...and at cont, after its threads were placed in the VM's cgroups.
vm q3; mode serve cont -; start q3
expect_exit q3 "kill -9 QEMU at cont (threads placed, cgroups made)" 1 "cont failed: QMP: QEMU closed the connection"
grep -q "cgroups of klflt-$$-q3 in" "$tmp/q3.out" && ok "the cgroups were made before QEMU died" || bad "q3 made no cgroups: the fault hit too early"
check_after q3 "kill -9 QEMU at cont"

# While running (the real QEMU, in its BIOS).
if start_real q4; then
    kill -9 "$(qemu_of q4)"
    expect_exit q4 "kill -9 QEMU while running" 1 "QEMU was killed by signal 9"
fi
check_after q4 "kill -9 QEMU while running"

# During shutdown: SIGTERM sent the power button, which the BIOS ignores.
if start_real q5; then
    power_button q5
    kill -9 "$(qemu_of q5)"
    expect_exit q5 "kill -9 QEMU during shutdown" 1 "QEMU was killed by signal 9"
fi
check_after q5 "kill -9 QEMU during shutdown"
section "kill -9 QEMU, 5 phases"

# 2. kill -9 of kvmlaunch at each phase: QEMU dies with it (PDEATHSIG), what
# is left stays until `kvmlaunch cleanup NAME`, which leaves nothing.
kill_supervisor() { # ID WHAT
    local q; q=$(qemu_of "$1")
    kill -9 $sup; wait $sup 2>/dev/null
    faults=$((faults + 1))
    if wait_for 10 test -z "$(qemu_of "$1")"; then ok "$2: QEMU (pid $q) died with kvmlaunch"
    else bad "$2: QEMU outlived kvmlaunch"; kill -9 "$q"; fi
    [ "$(cat $knob)" = "$knob_want" ] && ok "$2: the knob stays set until cleanup" || bad "$2: knob $(cat $knob) before cleanup"
    "$bin" cleanup "klflt-$$-$1" > "$tmp/$1.cleanup" 2>&1; local rc=$?
    [ $rc = 0 ] && ok "$2: cleanup: $(tail -1 "$tmp/$1.cleanup" | sed 's/^kvmlaunch: //')" || { bad "$2: cleanup exit $rc"; cat "$tmp/$1.cleanup"; }
}
vm s1; mode hold; start s1
if wait_for 30 test -e "$fq/at.hold"; then kill_supervisor s1 "kill -9 kvmlaunch before the greeting"
else bad "s1: the fake QEMU did not start"; cat "$tmp/s1.out"; fi
check_after s1 "kill -9 kvmlaunch before the greeting"

vm s2; mode serve - cont; start s2
if wait_for 30 test -e "$fq/at.cont"; then
    [ -d "/sys/fs/cgroup/cpuset/kvmlaunch/klflt-$$-s2/vcpu0" ] && ok "at cont the VM's cgroups exist" || skip "no cpuset cgroups here: the VM's cgroups at cont are not looked for"
    kill_supervisor s2 "kill -9 kvmlaunch during placement (at cont)"
else bad "s2: the fake QEMU never got cont"; cat "$tmp/s2.out"; fi
check_after s2 "kill -9 kvmlaunch during placement"

start_real s3 && kill_supervisor s3 "kill -9 kvmlaunch while running"
check_after s3 "kill -9 kvmlaunch while running"

if start_real s4; then
    power_button s4
    kill_supervisor s4 "kill -9 kvmlaunch during shutdown"
fi
check_after s4 "kill -9 kvmlaunch during shutdown"
section "kill -9 kvmlaunch, 4 phases"

# 3. A QMP peer that misbehaves: a clear error, exit 1, nothing left.
qmp_case() { # ID MODE... -- RC REGEX WHAT
    local id=$1; shift
    local m=()
    while [ "$1" != -- ]; do m+=("$1"); shift; done
    shift
    vm "$id" 2s; mode "${m[@]}"
    local t0; t0=$(now_ms)
    start "$id"
    expect_exit "$id" "QMP peer: $3" "$1" "$2"
    echo "measure: $3: kvmlaunch gave up after $(( $(now_ms) - t0 )) ms"
    check_after "$id" "QMP peer: $3"
}
qmp_case m1 garbage -- 1 "QEMU did not come up: QMP: not JSON" "sends garbage"
qmp_case m2 notobject -- 1 "QEMU did not come up: QMP: expected a JSON object" "sends a JSON array"
qmp_case m3 close -- 1 "QEMU did not come up: QMP: QEMU closed the connection" "closes QMP and stays"
qmp_case m4 exit -- 1 "QEMU did not come up: QMP: QEMU closed the connection" "exits before greeting"
qmp_case m5 greet-close -- 1 "QEMU did not come up: QMP: QEMU closed the connection" "greets, then closes"
# A stall: the [vm] timeout (2 s here, counted from the start) bounds the
# wait, which is otherwise 30 s; kvmlaunch stops QEMU and exits 124.
qmp_case m6 hold -- 124 "ran past its timeout of 2s while starting" "never greets"
qmp_case m7 serve - qmp_capabilities -- 124 "ran past its timeout of 2s while starting" "greets, never answers"
qmp_case m8 serve - cont -- 124 "ran past its timeout of 2s while starting" "never answers cont"
section "QMP peers, 8 kinds"

# 4. A sysfs write that fails half-way through the host plan, on a fake tree
# (KVMLAUNCH_ROOT): four knobs, the last one read-only (a read-only bind
# mount, which stops root too, in a mount namespace of its own). The three
# written before it go back, the error names the file, the tree is as it was.
cp -a tests/hostroot/cgroup1 "$tmp/root"
cp -a tests/hostroot/cgroup1 "$tmp/root.orig"
cat > "$tmp/h.ini" <<INI
[vm]
name = klflt-$$-h
memory = 128M
vcpus = 1
user = nobody
qemu = $fq/qemu
[balloon]
enabled = no
[host]
thp = never
ksm = on
ksm-pages-to-scan = 500
ksm-sleep-ms = 77
INI
ro=/sys/kernel/mm/ksm/sleep_millisecs
# The program with the fake kernel's ops (tests/helpers/fake_kernel.h): the
# tree's list files answer a write as the kernel's do.
ftbin=$(dirname "$bin")/tests/helpers/kvmlaunch-faketree
[ -x "$ftbin" ] || ftbin=$(realpath build/plain/tests/helpers/kvmlaunch-faketree 2>/dev/null)
if [ ! -x "$ftbin" ]; then skip "sysfs write failing half-way: no kvmlaunch-faketree (make tests builds it)"; else
# Its own runtime base: the state file names knobs by their path in the tree.
KVMLAUNCH_RUNDIR=$tmp/run.fake KVMLAUNCH_ROOT=$tmp/root unshare -m sh -c "mount --bind '$tmp/root$ro' '$tmp/root$ro' && mount -o remount,bind,ro '$tmp/root$ro' && exec '$ftbin' '$tmp/h.ini'" > "$tmp/h.out" 2>&1; rc=$?
faults=$((faults + 1))
grep -q "Read-only file system" "$tmp/h.out" && grep -q " -> never" "$tmp/h.out" && ok "the plan failed at its last knob, after the others were set" || bad "h: the write did not fail where planned"
[ $rc = 1 ] && grep -q "Failed to write 77 to $ro: Read-only file system" "$tmp/h.out" &&
    ok "a sysfs write fails half-way: exit 1: $(grep -o "Failed to write 77.*" "$tmp/h.out")" || { bad "half-way write: exit $rc"; cat "$tmp/h.out"; }
grep -q "restored /sys/kernel/mm/transparent_hugepage/enabled to madvise" "$tmp/h.out" && ok "what was applied before is put back: $(grep -c '^kvmlaunch[^:]*: restored' "$tmp/h.out") knobs restored" || { bad "no restore logged"; cat "$tmp/h.out"; }
if diff -r "$tmp/root.orig" "$tmp/root" > "$tmp/h.diff" && [ -z "$(ls -A "$tmp/run.fake")" ]; then
    ok "half-way write: the fake tree is byte for byte as before, the runtime base empty"; survived=$((survived + 1))
else
    bad "half-way write: left: $(cat "$tmp/h.diff") $(ls -A "$tmp/run.fake")"; leftovers_found=$((leftovers_found + 1))
fi
# And the same VM runs on that tree once the file is writable again.
echo real > "$fq/mode"
sed -i 's/^memory = 128M/&\nserial = none\nshutdown-timeout = 3s\ntimeout = 60s/' "$tmp/h.ini"
KVMLAUNCH_RUNDIR=$tmp/run.fake KVMLAUNCH_ROOT=$tmp/root "$ftbin" "$tmp/h.ini" > "$tmp/h2.out" 2>&1 & sup=$!; pids+=($sup)
if wait_for 30 grep -q "klflt-$$-h runs" "$tmp/h2.out"; then
    grep -q "77" "$tmp/root$ro" && ok "on the fake tree the last knob is set now" || bad "h2: knob $(cat "$tmp/root$ro")"
    stop_vm "$tmp/h2.out"; wait $sup; rc=$?
    [ $rc = 0 ] && ok "half-way write: the VM starts again on the fake tree, exit 0" || { bad "h2: exit $rc"; cat "$tmp/h2.out"; }
    for k in sys/kernel/mm/transparent_hugepage/enabled sys/kernel/mm/ksm/run sys/kernel/mm/ksm/pages_to_scan sys/kernel/mm/ksm/sleep_millisecs; do
        cmp -s "$tmp/root.orig/$k" "$tmp/root/$k" || bad "h2: /$k is $(cat "$tmp/root/$k"), was $(cat "$tmp/root.orig/$k")"
    done
else
    bad "h2: the VM does not start on the fake tree"; cat "$tmp/h2.out"; kill -9 $sup 2>/dev/null
fi
pkill -9 -f "guest=klflt-$$-h," 2>/dev/null
fi
section "sysfs write failing half-way"

# 5. The runtime base (/run/kvmlaunch) read-only, or full.
rundir_case() { # ID WHAT MOUNTOPTS FILLKB REGEX
    local mnt=$tmp/mnt.$1
    mkdir "$mnt"
    mount -t tmpfs -o "$3" "kl$1" "$mnt" || { bad "$2: cannot mount a tmpfs"; return; }
    mounts+=("$mnt")
    [ "$4" != 0 ] && dd if=/dev/zero of="$mnt/fill" bs=1k count="$4" 2>/dev/null
    vm "$1"; mode real
    KVMLAUNCH_RUNDIR=$mnt/run nsenter --net=/run/netns/$ns "$bin" "$tmp/$1.ini" > "$tmp/$1.out" 2>&1 & sup=$!; pids+=($sup)
    # A VM that got through despite it: stop it (the case then shows only
    # that nothing is left).
    if wait_for 20 running_or_gone "$1" && running "$1"; then stop_vm "$tmp/$1.out"; fi
    wait $sup; local rc=$?
    faults=$((faults + 1))
    if [ $rc = 1 ] && grep -qE "$5" "$tmp/$1.out"; then ok "$2: exit 1: $(grep -E "$5" "$tmp/$1.out" | head -1 | sed 's/^kvmlaunch: //')"
    else bad "$2: exit $rc (expected 1 and /$5/)"; cat "$tmp/$1.out"; fi
    local extra; extra=$(cd "$mnt" && find . -mindepth 1 ! -name fill ! -path ./run | sort | tr '\n' ' ')
    [ -z "$extra" ] && ok "$2: the runtime base holds nothing of the VM" || { bad "$2: left in the runtime base: $extra"; leftovers_found=$((leftovers_found + 1)); }
    umount "$mnt" && mounts=("${mounts[@]/$mnt}")
    check_after "$1" "$2"
}
rundir_case r1 "runtime base on a read-only tmpfs" ro,size=1m 0 "Failed to (create|lock|open) .*Read-only file system"
# A full tmpfs: not even the pid file gets its first byte.
rundir_case r2 "runtime base on a full tmpfs" size=64k 64 "No space left on device"
# Only inodes left for a few files: the pid file but not the host state.
rundir_case r3 "runtime base on a tmpfs out of inodes" size=1m,nr_inodes=4 0 "No space left on device"
section "runtime base read-only, full, out of inodes"

# 6. EMFILE: every limit on open files from 4 up, until the VM runs. Each
# run that fails must fail cleanly: exit 1, a message, nothing left.
emfile_fail=0 emfile_runs=0 emfile_limit=
vm e1; mode real
for n in $(seq 4 64); do
    nsenter --net=/run/netns/$ns bash -c "ulimit -n $n && exec '$bin' '$tmp/e1.ini'" > "$tmp/e1.out" 2>&1 & sup=$!; pids+=($sup)
    if wait_for 20 running_or_gone e1 && running e1; then
        stop_vm "$tmp/e1.out"
        wait $sup; rc=$?
        emfile_limit=$n
        [ $rc = 0 ] || { bad "ulimit -n $n: the VM ran but exit $rc"; cat "$tmp/e1.out"; }
        break
    fi
    wait $sup; rc=$?
    emfile_runs=$((emfile_runs + 1)); faults=$((faults + 1))
    left=$(fault_leftovers e1)
    msg=$(grep -m1 -E "error|Too many open files" "$tmp/e1.out" | sed 's/^kvmlaunch: //')
    if [ $rc = 1 ] && [ -n "$msg" ] && [ -z "$left" ]; then
        ok "ulimit -n $n: exit 1: $msg"; survived=$((survived + 1))
    else
        bad "ulimit -n $n: exit $rc, left: $(tr '\n' ';' <<<"$left")"; cat "$tmp/e1.out"; emfile_fail=1
        [ -n "$left" ] && leftovers_found=$((leftovers_found + $(wc -l <<<"$left")))
    fi
done
[ -n "$emfile_limit" ] && ok "EMFILE: $emfile_runs limits failed cleanly; the VM runs from ulimit -n $emfile_limit" || bad "EMFILE: the VM never ran up to ulimit -n 64"
[ -z "$(fault_leftovers e1)" ] || bad "EMFILE: left: $(fault_leftovers e1)"
section "EMFILE sweep"

echo "measure: faults injected $faults, survived (nothing left, and the VM started again or the tree is as before) $survived, leftovers found $leftovers_found, $(( ($(now_ms) - t_start) / 1000 )) s"
[ $leftovers_found = 0 ] || bad "leftovers found: $leftovers_found"
finish
