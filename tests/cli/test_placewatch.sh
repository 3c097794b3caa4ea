#!/usr/bin/env bash
# Placement that checks itself, for real (include/placewatch.h): a VM (no
# guest kernel: QEMU sits in the BIOS, its threads are there all the same)
# with vCPU 0 on CPU 1 and the emulator on CPUs 0-1. The test then
# 1. moves QEMU's main thread onto CPU 0 alone (taskset): the supervisor
#    puts it back on 0-1 within its full-check period, logs it once, counts
#    it (status --json, the human status, metrics);
# 2. does it again: put back and counted again, not logged again;
# 3. moves vCPU 0's thread into the emulator's cgroup (which also sets its
#    CPUs to the emulator's): moved back into vcpu0 and onto CPU 1, logged,
#    counted as a cgroup repair;
# 4. status shows each vCPU's run delay and involuntary switches, and
#    metrics the same per vCPU.
# 5. migrate = yes (onto node 0, this host's only one: nothing can move;
#    pages that move are shown on a fake tree, tests/unit/test_placement.c)
#    reports QEMU's pages per node before and after in status.
# Without the watch, nothing puts the threads back and every check fails.
set -u
. "$(dirname "$0")/lib.sh"
need_root "QEMU is started as another user; cgroups; taskset of another user's threads"
need_cmd qemu-system-x86_64; need_cmd jq -- make deps installs it; need_cmd taskset
[ "$(nproc)" -ge 2 ] || skip_all "needs 2 CPUs (vCPU 0 on CPU 1, the emulator on 0-1)"

make_tmp --rundir
make_user klpw
vms_named klpw-$$
wait_step=0.2
vm_preset bios

vm_ini w cpu.pin=1 cpu.emulator=0-1 vm.timeout=180s memory.nodes=0 memory.migrate=yes
"$bin" -v "$tmp/w.ini" > "$tmp/w.out" 2>&1 &
pids+=($!)
W=$(name w)
status_json() { "$bin" status "$W" --json > "$tmp/s.json" 2> "$tmp/s.err"; }
if ! wait_for 90 eval 'status_json && jq -e ".state == \"running\" and .placement_watch != null" "$tmp/s.json" > /dev/null'; then
    bad "VM w did not come up"; cat "$tmp/w.out"; finish
fi
ok "VM w runs; status has a placement_watch: $(jq -c .placement_watch "$tmp/s.json")"
q=$(qemu_of w)
allowed() { awk '/^Cpus_allowed_list:/ { print $2 }' "/proc/$q/task/$1/status"; }
repairs() { status_json && jq -r ".placement_watch.$1" "$tmp/s.json"; }
drift_lines() { grep -c "placement drift: $1" "$tmp/w.out"; }

# ---- 1. QEMU's main thread off its CPUs ----
[ "$(allowed "$q")" = 0-1 ] && ok "QEMU's main thread starts on the emulator's CPUs 0-1" || bad "main thread on $(allowed "$q"), not 0-1"
taskset -p -c 0 "$q" > /dev/null
[ "$(allowed "$q")" = 0 ] || bad "taskset did not move the main thread (on $(allowed "$q"))"
t0=$SECONDS
if wait_for 15 eval '[ "$(allowed "$q")" = 0-1 ]'; then
    ok "the supervisor put QEMU's main thread back on 0-1 after $((SECONDS - t0)) s"
else
    bad "QEMU's main thread stays on $(allowed "$q")"
fi
wait_for 5 eval '[ "$(repairs affinity_repairs)" -ge 1 ]' && ok "status counts it: affinity_repairs $(repairs affinity_repairs)" ||
    bad "status: $(jq -c .placement_watch "$tmp/s.json")"
[ "$(drift_lines "emulator thread .* (tid $q) ran on CPUs 0, not 0-1: put back")" = 1 ] && ok "logged once: $(grep "placement drift" "$tmp/w.out" | head -1)" ||
    bad "log: $(grep -i "placement\|drift" "$tmp/w.out")"
"$bin" status "$W" > "$tmp/s.txt" 2>&1
grep -Eq "^  placement: [1-9][0-9]* repairs \([1-9][0-9]* CPUs, 0 cgroup\) in [0-9]+ checks of [0-9]+ threads$" "$tmp/s.txt" &&
    ok "status says: $(grep "^  placement:" "$tmp/s.txt")" || bad "status: $(cat "$tmp/s.txt")"

# ---- 2. again: counted, not logged again ----
taskset -p -c 0 "$q" > /dev/null
if wait_for 15 eval '[ "$(allowed "$q")" = 0-1 ]' && wait_for 5 eval '[ "$(repairs affinity_repairs)" -ge 2 ]'; then
    ok "a second drift of the same thread is put back and counted ($(repairs affinity_repairs))"
else
    bad "second drift: on $(allowed "$q"), $(jq -c .placement_watch "$tmp/s.json")"
fi
[ "$(drift_lines "emulator thread .* (tid $q)")" = 1 ] && ok "and not logged again" || bad "logged $(drift_lines "emulator thread .* (tid $q)") times"

# ---- 3. vCPU 0 out of its cgroup ----
v0=$(for t in /proc/"$q"/task/*; do grep -q '^CPU 0/' "$t/comm" 2> /dev/null && basename "$t"; done)
cg=$(awk -F: '$2 ~ /(^|,)cpuset(,|$)/ || $1 == 0 { print $3; exit }' "/proc/$q/task/$v0/cgroup")
base=$(awk '$3 == "cgroup" && $4 ~ /(^|,)cpuset(,|$)/ { print $2; exit }' /proc/self/mounts)
[ -n "$base" ] || base=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/self/mounts)
if [ -z "$v0" ] || [[ $cg != */$W/vcpu0 ]]; then
    bad "vCPU 0's thread (${v0:-none}) is in ${cg:-no cgroup}, not .../$W/vcpu0"
else
    ok "vCPU 0 (tid $v0) is in $cg on CPU $(allowed "$v0")"
    emu=$base${cg%/vcpu0}/emulator
    file=tasks; [ -e "$emu/tasks" ] || file=cgroup.threads
    echo "$v0" > "$emu/$file"
    grep -q "/$W/emulator$" "/proc/$q/task/$v0/cgroup" && ok "moved it into $emu (now on CPUs $(allowed "$v0"))" ||
        bad "could not move it: $(cat "/proc/$q/task/$v0/cgroup")"
    t0=$SECONDS
    if wait_for 15 eval 'grep -q "/$W/vcpu0$" "/proc/$q/task/$v0/cgroup" && [ "$(allowed "$v0")" = 1 ]'; then
        ok "the supervisor moved vCPU 0 back into vcpu0, on CPU $(allowed "$v0"), after $((SECONDS - t0)) s"
    else
        bad "vCPU 0 stays in $(cat "/proc/$q/task/$v0/cgroup" | tr '\n' ' ') on $(allowed "$v0")"
    fi
    wait_for 5 eval '[ "$(repairs cgroup_repairs)" -ge 1 ]' && ok "counted: cgroup_repairs $(repairs cgroup_repairs)" ||
        bad "cgroup repair not counted: $(jq -c .placement_watch "$tmp/s.json")"
    [ "$(drift_lines "vcpu0 (tid $v0) was in cgroup .*/emulator, not .*/vcpu0: moved back")" = 1 ] &&
        ok "logged: $(grep "placement drift: vcpu0" "$tmp/w.out")" || bad "log: $(grep "drift" "$tmp/w.out")"
fi

# ---- 4. the cost per vCPU, and metrics ----
status_json
jq -e '.vcpus[0] | (.run_delay_ns | type == "number") and (.involuntary_switches | type == "number")' "$tmp/s.json" > /dev/null &&
    ok "status --json per vCPU: $(jq -c '.vcpus[0] | {run_delay_ns, involuntary_switches}' "$tmp/s.json")" || bad "status vcpus: $(jq -c .vcpus "$tmp/s.json")"
"$bin" status "$W" | grep -Eq "^  vcpu0  tid [0-9]+  allowed 1  last cpu [0-9-]+  run delay [0-9.]+ ms  involuntary switches [0-9]+$" &&
    ok "status: $("$bin" status "$W" | grep '^  vcpu0')" || bad "status: $("$bin" status "$W" | grep vcpu)"
"$bin" metrics > "$tmp/m.txt" 2> "$tmp/m.err"
grep -Eq "^kvmlaunch_vcpu_involuntary_switches_total\{vm=\"$W\",vcpu=\"0\"\} [0-9]+$" "$tmp/m.txt" && ok "metrics: involuntary switches per vCPU" ||
    bad "metrics: $(grep involuntary "$tmp/m.txt")"
n=$(awk -v vm="$W" 'index($0, "kvmlaunch_placement_repairs_total{vm=\"" vm "\",kind=\"cpus\"}") == 1 { print $2 }' "$tmp/m.txt")
[ "${n:-0}" -ge 2 ] && ok "metrics: kvmlaunch_placement_repairs_total{kind=\"cpus\"} $n" || bad "metrics: $(grep placement "$tmp/m.txt")"
grep -Eq "^kvmlaunch_placement_checks_total\{vm=\"$W\"\} [1-9][0-9]*$" "$tmp/m.txt" && ok "metrics: placement checks counted" || bad "metrics: no checks"

# ---- 5. migrate's report ----
jq -e '.migrate.nodes == "0" and .migrate.before["0"] > 0 and .migrate.after["0"] > 0 and .migrate.moved_bytes == 0 and .migrate.error == null' \
    "$tmp/s.json" > /dev/null && ok "status --json: migrate $(jq -c .migrate "$tmp/s.json")" || bad "status migrate: $(jq -c .migrate "$tmp/s.json")"
"$bin" status "$W" | grep -Eq "^  migrate onto node\(s\) 0: before node0 [0-9]+ MiB, after node0 [0-9]+ MiB; 0 MiB moved$" &&
    ok "status: $("$bin" status "$W" | grep '^  migrate')" || bad "status: $("$bin" status "$W")"
grep -Eq "migrate: QEMU pid $q memory by node before: node0 [0-9]+ MiB; after: node0 [0-9]+ MiB; 0 MiB moved onto node\(s\) 0$" "$tmp/w.out" &&
    ok "logged: $(grep -o 'migrate: .*' "$tmp/w.out")" || bad "no migrate line: $(grep migrate "$tmp/w.out")"

"$bin" stop "$W" > /dev/null 2>&1
wait_for 30 eval '! kill -0 ${pids[0]} 2> /dev/null' && ok "VM w stopped" || bad "VM w did not stop"
[ -z "$(leftovers w)" ] && ok "nothing of it is left" || bad "left: $(leftovers w)"
finish
