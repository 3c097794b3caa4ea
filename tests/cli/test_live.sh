#!/usr/bin/env bash
# Living with a running VM, for real (the test guest under QEMU, TCG here):
# `kvmlaunch qmp` (one command, a session on stdin, errors, status working
# meanwhile, a second client told busy), `kvmlaunch balloon` (256M -> 128M:
# QEMU, status and the guest's own view agree; refusals) and `kvmlaunch pin`
# (vCPU 0 from CPU 1 to 0 and back: Cpus_allowed_list, the cgroup, status,
# the tap's steering, which the supervisor then keeps; bad input and a CPU
# another running VM holds: exit 2, nothing changed; a failure half way:
# everything put back). Prints the time to re-pin one vCPU and the time for
# the balloon to reach 128M.
set -u
. "$(dirname "$0")/lib.sh"
need_root "QEMU is started as another user; cgroups"
need_guest; need_cmd qemu-system-x86_64; need_cmd jq -- make deps installs it
[ "$(nproc)" -ge 2 ] || skip_all "needs 2 CPUs (vCPU 0 moves between CPU 0 and 1)"

make_tmp --rundir
make_user kllive
vms_named kllive-$$
wait_step=0.2
vm_preset guest

# A bridge in a namespace of this test, when the host lets us: the tap's
# steering is checked then, else said skipped.
net=() run_in=()
if [ -c /dev/net/tun ] && ns=kllive$$ && ip netns add "$ns" 2> /dev/null; then
    defer ip netns del "$ns"
    in_ns ip link set lo up && in_ns ip link add br0 type bridge && in_ns ip link set br0 up
    tap=kl-lv$$
    net=('[net "lan"]' "bridge = br0
queues = 2
tap = $tap")
    # ip netns exec mounts a sysfs of the namespace over /sys, which hides
    # the cgroup mounts: the cpuset hierarchy is mounted again in there.
    if [ -d /sys/fs/cgroup/cpuset ]; then
        cgmount='mount -t tmpfs kl /sys/fs/cgroup && mkdir /sys/fs/cgroup/cpuset && mount -t cgroup -o cpuset kl /sys/fs/cgroup/cpuset'
    else
        cgmount='mount -t cgroup2 kl /sys/fs/cgroup'
    fi
    run_in=(ip netns exec "$ns" sh -c "$cgmount && exec \"\$@\"" sh)
fi

# VM a: vCPU 0 on CPU 1, vCPU 1 on CPU 0; a balloon without deflate-on-oom
# (so the guest's MemTotal shrinks with it) and guest stats every second.
vm_ini a vm.vcpus=2 cpu.pin=1,0 vm.timeout=240s balloon.enabled=yes balloon.deflate-on-oom=no balloon.stats-period=1s "${net[@]}"
"${run_in[@]}" "$bin" "$tmp/a.ini" > "$tmp/a.out" 2>&1 &
pids+=($!); sup_a=$!
A=$(name a)
jqa() { jq -e "$2" "$tmp/$1.json" > /dev/null; }
status_json() { "$bin" status "$(name "$1")" --json > "$tmp/$1.json" 2> "$tmp/$1.err"; }
if ! wait_for 120 grep -qs "KVMLAUNCH-GUEST: stay" "$tmp/a.serial" || ! wait_for 30 eval 'status_json a && jqa a ".state == \"running\""'; then
    bad "VM a did not come up"; cat "$tmp/a.out"; finish
fi
ok "VM a runs"
q=$(qemu_of a)
# Where its cgroups are: looked for only now, since on a fresh host the
# shared kvmlaunch/ is made by this first start.
cg=$(for c in "${cgroup_bases[@]}"; do [ -d "$c/$A" ] && echo "$c"; done | head -1)

# ---- qmp ----
out=$("$bin" qmp "$A" query-status 2> "$tmp/e"); rc=$?
[ $rc = 0 ] && [ "$(jq -r .status <<< "$out")" = running ] && ok "qmp query-status: $(jq -c . <<< "$out")" || bad "qmp query-status: rc $rc, $out $(cat "$tmp/e")"
out=$("$bin" qmp "$A" qom-get '{"path": "/machine/peripheral/balloon0", "property": "guest-stats-polling-interval"}' 2> "$tmp/e"); rc=$?
[ $rc = 0 ] && [ "$out" = 1 ] && ok "qmp with ARGS-JSON: qom-get says $out" || bad "qmp qom-get: rc $rc, $out $(cat "$tmp/e")"
"$bin" qmp "$A" query-nothing > "$tmp/o" 2> "$tmp/e"; rc=$?
[ $rc = 1 ] && grep -q "CommandNotFound: The command query-nothing has not been found" "$tmp/e" && [ ! -s "$tmp/o" ] &&
    ok "a QMP error: exit 1 with class and description" || bad "QMP error: rc $rc, $(cat "$tmp/o" "$tmp/e")"
bad_usage() { # WHAT ARGS...
    local what=$1; shift
    "$bin" qmp "$@" > /dev/null 2> "$tmp/e"; rc=$?
    [ $rc = 2 ] && ok "bad usage, $what: exit 2 ($(head -1 "$tmp/e"))" || bad "bad usage, $what: rc $rc"
}
bad_usage "ARGS-JSON no object" "$A" query-status '[1]'
bad_usage "ARGS-JSON cut short" "$A" balloon '{"value":'
bad_usage "ARGS-JSON with trailing bytes" "$A" balloon '{"value": 1} x'
bad_usage "a command name with ;" "$A" 'query;status'
bad_usage "no NAME"
bad_usage "too many words" "$A" query-status '{}' more
bad_usage "an unknown option" --bogus "$A"
bad_usage "a bad NAME" ../x query-status
"$bin" qmp "kllive-$$-none" query-status > /dev/null 2> "$tmp/e"; rc=$?
[ $rc = 1 ] && grep -q "is not running" "$tmp/e" && ok "a VM that is not running: exit 1" || bad "not running: rc $rc"
printf '%s\n' query-status '# a comment' '' '{"execute": "query-name"}' 'query-nothing' 'qom-get {"path": "/machine", "property": "type"}' |
    "$bin" qmp "$A" > "$tmp/o" 2> "$tmp/e"; rc=$?
[ $rc = 1 ] && [ "$(wc -l < "$tmp/o")" = 4 ] && [ "$(sed -n 1p "$tmp/o" | jq -r .return.status)" = running ] &&
    [ "$(sed -n 2p "$tmp/o" | jq -r .return.name)" = "$A" ] && [ "$(sed -n 3p "$tmp/o" | jq -r .error.class)" = CommandNotFound ] &&
    [ "$(sed -n 4p "$tmp/o" | jq -r .return)" = pc-q35-7.2-machine ] &&
    ok "stdin: one reply a line, the error in its place, exit 1" || { bad "stdin session: rc $rc"; cat "$tmp/o" "$tmp/e"; }
printf '%s\n' query-status 'query-status {x' query-name | "$bin" qmp "$A" > "$tmp/o" 2> "$tmp/e"; rc=$?
[ $rc = 2 ] && [ "$(wc -l < "$tmp/o")" = 1 ] && grep -q "stdin:2:" "$tmp/e" && ok "stdin: a bad line stops it with exit 2 and its number" || bad "stdin bad line: rc $rc, $(cat "$tmp/o" "$tmp/e")"
# A session stays open: status still answers, a second client is told busy.
(sleep 6 | "$bin" qmp "$A" > /dev/null 2>&1) &
held=$!
wait_for 5 eval '! flock -n "$KVMLAUNCH_RUNDIR/$A/control.lock" true'
status_json a && jqa a '.state == "running" and .balloon.actual_bytes == 268435456' && ok "status works while a qmp session is open" || bad "status during qmp: $(cat "$tmp/a.err")"
t0=$(date +%s%N)
"$bin" qmp "$A" query-status > /dev/null 2> "$tmp/e"; rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
[ $rc = 1 ] && grep -q "control monitor is busy" "$tmp/e" && [ $ms -lt 5000 ] && ok "a second client: exit 1, busy, after $ms ms" || bad "second client: rc $rc in $ms ms: $(cat "$tmp/e")"
wait $held

# Only root reaches the control monitor: the runtime dir is root's, 0700.
connect='import socket, sys
s = socket.socket(socket.AF_UNIX)
try: s.connect(sys.argv[1]); print("connected")
except OSError as e: print(e.strerror)'
sock=$KVMLAUNCH_RUNDIR/$A/control.sock
[ "$(/usr/bin/python3 -c "$connect" "$sock")" = connected ] || bad "root cannot connect to $sock: the probe is wrong"
got=$(setpriv --reuid "$user" --regid "$(id -g "$user")" --clear-groups /usr/bin/python3 -c "$connect" "$sock")
[ "$got" = "Permission denied" ] && ok "QEMU's user cannot connect to the control monitor's socket: $got" || bad "QEMU's user and $sock: $got"

# ---- balloon ----
jqa a '.balloon.target_bytes == null' && ok "no balloon target before one is set" || bad "target before: $(jq -c .balloon "$tmp/a.json")"
wait_for 30 eval 'status_json a && jqa a ".balloon.stats.total_bytes > 0"'
total0=$(jq .balloon.stats.total_bytes "$tmp/a.json")
for size in 512M 64M 12X 0; do
    "$bin" balloon "$A" $size > /dev/null 2> "$tmp/e"; rc=$?
    [ $rc = 2 ] && ok "balloon $size: exit 2 ($(head -1 "$tmp/e"))" || bad "balloon $size: rc $rc"
done
status_json a && jqa a '.balloon.actual_bytes == 268435456 and .balloon.target_bytes == null' && ok "refused sizes changed nothing" || bad "after refusals: $(jq -c .balloon "$tmp/a.json")"
t0=$(date +%s%N)
"$bin" balloon "$A" 128M > "$tmp/o" 2> "$tmp/e"; rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
[ $rc = 0 ] && grep -q "^$A: balloon at 128M (134217728 bytes): target reached in" "$tmp/o" && ok "balloon 128M: $(cat "$tmp/o")" || bad "balloon 128M: rc $rc, $(cat "$tmp/o" "$tmp/e")"
echo "# time for the balloon to reach 128M (256M guest, TCG): $ms ms (the command's wall time)"
status_json a && jqa a '.balloon.actual_bytes == 134217728 and .balloon.target_bytes == 134217728' && ok "status: actual 128 MiB, target 128 MiB" || bad "status balloon: $(jq -c .balloon "$tmp/a.json")"
# The guest's own view: its MemTotal (stat-total-memory) is 128 MiB less.
if wait_for 20 eval 'status_json a && jqa a ".balloon.stats.total_bytes == $total0 - 134217728"'; then
    ok "the guest's MemTotal went from $total0 to $(jq .balloon.stats.total_bytes "$tmp/a.json") bytes: 128 MiB less"
else
    bad "guest view: total_bytes $(jq .balloon.stats.total_bytes "$tmp/a.json"), was $total0"
fi
"$bin" status "$A" > "$tmp/a.txt" && grep -q "^  balloon: 128 MiB (target 128 MiB); guest:" "$tmp/a.txt" && ok "human: $(grep balloon: "$tmp/a.txt")" || bad "human balloon: $(cat "$tmp/a.txt")"
"$bin" balloon "$A" 256M > "$tmp/o" 2> "$tmp/e" && status_json a && jqa a '.balloon.actual_bytes == 268435456 and .balloon.target_bytes == 268435456' &&
    ok "balloon back to 256M" || bad "balloon 256M: $(cat "$tmp/o" "$tmp/e")"

# ---- pin ----
tid=$(jq -r '.vcpus[0].tid' "$tmp/a.json")
allowed() { awk '/^Cpus_allowed_list/ {print $2}' "/proc/$q/task/$tid/status"; }
cgcpus() { [ -z "$cg" ] && { echo "${1:-}"; return; }; cat "$cg/$A/${2:-vcpu0}/cpuset.cpus"; }
masks() { [ ${#run_in[@]} = 0 ] || in_ns cat "/sys/class/net/$tap/queues/rx-0/rps_cpus" | tr -d '0,\n'; }
# vCPU 0 on CPU C everywhere: affinity, cgroup, status, the tap's queue 0.
placed() { # CPU
    local mask=$(($1 == 0 ? 1 : 2))
    status_json a
    [ "$(allowed)" = "$1" ] && [ "$(cgcpus "$1")" = "$1" ] && jqa a ".vcpus[0].allowed_cpus == \"$1\" and .placement.vcpu[0] == \"$1\"" &&
        { [ ${#run_in[@]} = 0 ] || [ "$(masks)" = "$mask" ]; }
}
where() { echo "allowed $(allowed), cgroup $(cgcpus), status $(jq -c '[.vcpus[0].allowed_cpus, .placement.vcpu[0]]' "$tmp/a.json"), masks $(masks)"; }
[ ${#run_in[@]} = 0 ] && skip "tap steering: no /dev/net/tun or no network namespace here"
[ -z "$cg" ] && skip "cgroup cpuset: no cpuset hierarchy here"
wait_for 15 placed 1
placed 1 && ok "vcpu0 starts on CPU 1 ($(where))" || bad "vcpu0 at start: $(where)"
t0=$(date +%s%N)
"${run_in[@]}" "$bin" pin "$A" vcpu.0=0 > "$tmp/o" 2> "$tmp/e"; rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
[ $rc = 0 ] && placed 0 && ok "pin vcpu.0=0: $(where); $(tail -1 "$tmp/o")" || { bad "pin vcpu.0=0: rc $rc, $(where)"; cat "$tmp/o" "$tmp/e"; }
echo "# time to re-pin one vCPU: $ms ms for the command ($(tail -1 "$tmp/o" | sed 's/.*in //') inside it)"
sleep 2.5 # the supervisor re-steers every second: it must keep the new masks
placed 0 && ok "2.5 s later nothing reverted it ($(where))" || bad "reverted: $(where)"
"$bin" status "$A" | grep -q "^  pinned: vcpu0 0, vcpu1 0; emulator -, iothreads -, vhost -$" && ok "human: pinned line" || bad "human: $("$bin" status "$A" | grep pinned)"
"${run_in[@]}" "$bin" pin "$A" vcpu.0=1 > "$tmp/o" 2> "$tmp/e"; rc=$?
[ $rc = 0 ] && placed 1 && ok "pin vcpu.0=1: back ($(where))" || { bad "pin back: rc $rc, $(where)"; cat "$tmp/o" "$tmp/e"; }
emu=$(cgcpus x emulator)
for args in vcpu.2=0 vcpu.0=7 foo=1 vcpu.0=x emulator iothreads=0 "vcpu.0=0 vcpu.0=1" "emulator=0 vcpu.0=0-" ""; do
    # shellcheck disable=SC2086
    "${run_in[@]}" "$bin" pin "$A" $args > /dev/null 2> "$tmp/e"; rc=$?
    [ $rc = 2 ] && placed 1 && [ "$(cgcpus x emulator)" = "$emu" ] && ok "pin $args: exit 2, nothing changed ($(head -1 "$tmp/e"))" || bad "pin $args: rc $rc, $(where)"
done
# A failure half way (live.json cannot be replaced: after the cgroups and
# the threads moved): every step is put back.
mkdir "$KVMLAUNCH_RUNDIR/$A/live.json.tmp"
"${run_in[@]}" "$bin" pin "$A" vcpu.0=0 emulator=0 > /dev/null 2> "$tmp/e"; rc=$?
rmdir "$KVMLAUNCH_RUNDIR/$A/live.json.tmp"
[ $rc = 1 ] && placed 1 && [ "$(cgcpus x emulator)" = "$emu" ] && grep -q "every step done was put back" "$tmp/e" &&
    ok "a failure half way: exit 1, all put back ($(where))" || { bad "rollback: rc $rc, $(where), emulator $(cgcpus x emulator)"; cat "$tmp/e"; }

# A CPU another running VM holds. vCPU 1 joins vCPU 0 on CPU 1 first, so
# VM b can start on CPU 0.
"${run_in[@]}" "$bin" pin "$A" vcpu.1=1 > /dev/null 2> "$tmp/e" && ok "pin vcpu.1=1: CPU 0 is free" || bad "pin vcpu.1=1: $(cat "$tmp/e")"
grep -q "\"cpus\":\"1\"" <(jq -c ".claims[] | select(.vm == \"$A\")" "$KVMLAUNCH_RUNDIR/cpus.state") && ok "the host-wide record says $A holds CPU 1" || bad "record: $(cat "$KVMLAUNCH_RUNDIR/cpus.state")"
vm_ini b vm.vcpus=1 cpu.pin=0 vm.timeout=120s
"$bin" "$tmp/b.ini" > "$tmp/b.out" 2>&1 &
pids+=($!); sup_b=$!
if wait_for 90 grep -qs "KVMLAUNCH-GUEST: stay" "$tmp/b.serial"; then
    "${run_in[@]}" "$bin" pin "$A" vcpu.0=0 > /dev/null 2> "$tmp/e"; rc=$?
    [ $rc = 2 ] && grep -q "vcpu.0: CPU 0 is pinned by the running VM $(name b)" "$tmp/e" && placed 1 && ok "a CPU VM b holds: exit 2, named ($(cat "$tmp/e"))" || bad "held CPU: rc $rc, $(cat "$tmp/e"), $(where)"
    kill -TERM $sup_b; wait $sup_b
else
    bad "VM b did not come up"; cat "$tmp/b.out"
fi
# From outside the VM's network namespace (its tap's files are not seen
# there): the supervisor, which is inside, steers queue 1 after the record.
t0=$(date +%s%N)
"$bin" pin "$A" vcpu.1=0 > "$tmp/o" 2> "$tmp/e"; rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
status_json a
[ $rc = 0 ] && jqa a '.vcpus[1].allowed_cpus == "0" and .placement.vcpu[1] == "0"' && ok "pin vcpu.1=0 once b is gone" || bad "pin vcpu.1=0: $(cat "$tmp/e")"
echo "# time to re-pin one vCPU, run directly: $ms ms for the command ($(tail -1 "$tmp/o" | sed 's/.*in //') inside it)"
if [ ${#run_in[@]} != 0 ] && in_ns test -e "/sys/class/net/$tap/queues/rx-1/rps_cpus"; then
    masks1() { in_ns cat "/sys/class/net/$tap/queues/rx-1/rps_cpus" | tr -d '0,\n'; }
    wait_for 5 eval '[ "$(masks1)" = 1 ]'
    [ "$(masks1)" = 1 ] && ok "the supervisor steered queue 1 to CPU 0 after the pin" || bad "queue 1 masks: $(masks1)"
fi

kill -TERM $sup_a; wait $sup_a; rc=$?
[ $rc = 0 ] && ok "VM a ended: exit 0" || { bad "VM a: exit $rc"; tail "$tmp/a.out"; }
[ -z "$(leftovers a)" ] && ok "nothing of VM a is left" || bad "left: $(leftovers a)"
! grep -qs "\"$A\"" "$KVMLAUNCH_RUNDIR/cpus.state" && ok "its CPUs left the host-wide record" || bad "record: $(cat "$KVMLAUNCH_RUNDIR/cpus.state")"
finish
