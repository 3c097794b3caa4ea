#!/usr/bin/env bash
# A guest that floods QMP events (issue 20, item 5; docs/SECURITY.md): the
# test guest with kl.rtcflood=1 sets its RTC in a loop (busybox hwclock -w,
# hundreds of times a second), and QEMU sends RTC_CHANGE on QMP for it. The
# supervisor (run with -v, which logs each event it reads) is sampled every
# FLOOD_STEP seconds for FLOOD_SECONDS once it is locked down. Checked: the
# events reach it (QEMU passes a guest-triggered event on at most once a
# second: about one a second is expected), its VmRSS stays flat (no trend
# and a small spread), and the VM stops cleanly, leaving nothing. While it
# runs, QEMU's user (what a guest that broke out of QEMU would be) is tried
# against the runtime dir (0700 root), the status monitor's socket, the
# supervisor (a signal) and the VM's cgroup: each refuses it.
#
# FLOOD_SECONDS: 15 by default (make check); `make soak` runs 60.
set -u
. "$(dirname "$0")/lib.sh"
need_root "QEMU is started as another user"
need_cmd qemu-system-x86_64
need_guest
if asan_build; then asan=1; else asan=0; fi
secs=${FLOOD_SECONDS:-15}
step=${FLOOD_STEP:-1}
make_tmp --rundir
chmod 0755 "$tmp"
make_user klflood
vms_named klflood-$$
name=$(name f)
vm_preset guest
vm_ini f vm.vcpus=1 "vm.append=console=ttyS0 quiet kl.stay=1 kl.rtcflood=1" vm.timeout=$((secs + 180))s

status_field() { # PID KEY: the value of KEY: in /proc/PID/status
    local k v
    while read -r k v; do [ "$k" = "$2:" ] && { echo "${v%% *}"; return 0; }; done < "/proc/$1/status" 2> /dev/null
    return 1
}
events() { grep -c "QEMU event RTC_CHANGE" "$tmp/sup.out"; }
have_events() { [ "$(events)" -ge "$1" ]; }

"$bin" -v "$tmp/f.ini" > "$tmp/sup.out" 2>&1 &
sup=$!
pids+=($sup)
wait_for 120 grep -qs "KVMLAUNCH-GUEST: stay" "$tmp/f.serial" || { bad "the guest did not come up"; tail -20 "$tmp/sup.out"; finish; }
if ! grep -q "KVMLAUNCH-GUEST: rtcflood" "$tmp/f.serial"; then
    bad "the guest does not flood: $(grep -E 'rtcflood|warning' "$tmp/f.serial" || echo 'no rtcflood line: is tests/guest/out older than tests/guest/init? (tests/guest/build.sh)')"
    "$bin" stop "$name" > /dev/null 2>&1; wait $sup; finish
fi
locked_down() { [ "$(status_field $sup Seccomp)" = 2 ]; }
wait_for 30 locked_down || bad "the supervisor did not lock down"
ok "the guest sets its RTC in a loop; the supervisor is locked down (Seccomp 2)"

# QEMU's user (all a guest that broke out of QEMU is) reaches neither the
# runtime dir nor the status monitor's socket in it.
rdir=$KVMLAUNCH_RUNDIR/$name
[ "$(stat -c '%a %U' "$rdir")" = "700 root" ] && ok "the runtime dir is 0700 root: $rdir" || bad "runtime dir: $(stat -c '%a %U' "$rdir")"
# The system's python3 (a python3 in root's home is not for QEMU's user).
if [ -x /usr/bin/python3 ]; then
    connect='import socket, sys
s = socket.socket(socket.AF_UNIX)
try: s.connect(sys.argv[1]); print("connected")
except OSError as e: print(e.strerror)'
    [ "$(/usr/bin/python3 -c "$connect" "$rdir/qmp.sock")" = connected ] || bad "root cannot connect to $rdir/qmp.sock: the probe is wrong"
    got=$(setpriv --reuid "$user" --regid "$(id -g "$user")" --clear-groups /usr/bin/python3 -c "$connect" "$rdir/qmp.sock")
    [ "$got" = "Permission denied" ] && ok "QEMU's user cannot connect to the status monitor's socket: $got" || bad "QEMU's user and $rdir/qmp.sock: $got"
else
    skip "/usr/bin/python3 is not installed: the status socket is not probed as QEMU's user"
fi

# Nor signal the supervisor.
setpriv --reuid "$user" --regid "$(id -g "$user")" --clear-groups kill -0 "$sup" 2> "$tmp/kill.err" &&
    bad "QEMU's user can signal the supervisor" || ok "QEMU's user cannot signal the supervisor: $(sed 's/^.*: //' "$tmp/kill.err" | head -1)"
# Nor can it move QEMU out of the VM's cgroup (into kvmlaunch/, above it).
q=$(qemu_of f) cgdir=
for c in "${cgroup_bases[@]}"; do [ -d "$c/$name" ] && { cgdir=$c; break; }; done
if [ -n "$q" ] && [ -n "$cgdir" ]; then
    before=$(grep -E 'cpuset|^0::' /proc/$q/cgroup)
    setpriv --reuid "$user" --regid "$(id -g "$user")" --clear-groups sh -c 'echo "$1" > "$2/cgroup.procs"' sh "$q" "$cgdir" 2> "$tmp/cg.err"; rc=$?
    [ $rc != 0 ] && [ "$(grep -E 'cpuset|^0::' /proc/$q/cgroup)" = "$before" ] &&
        ok "QEMU's user cannot move QEMU out of its cgroup: $(sed 's/^sh: [0-9]*: //' "$tmp/cg.err" | head -1 | cut -c1-100)" ||
        bad "QEMU's user moved QEMU: exit $rc, $(grep -E 'cpuset|^0::' /proc/$q/cgroup)"
else
    skip "no cgroup of the VM here: the cgroup escape is not tried"
fi

# The first events pass before sampling starts: the allocator has seen the
# event path once when the first sample is taken.
wait_for 10 have_events 2 || bad "no RTC_CHANGE events reached the supervisor in 10 s"
e0=$(events) t0=$EPOCHREALTIME
rss=()
for ((i = 0; i <= secs / step; i++)); do
    kill -0 $sup 2> /dev/null || { bad "the supervisor ended during the flood"; break; }
    rss+=("$(status_field $sup VmRSS)")
    [ $i -lt $((secs / step)) ] && sleep "$step"
done
e1=$(events)
took=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
n=$((e1 - e0))
rate=$(awk -v n=$n -v s="$took" 'BEGIN { printf "%.2f", n / s }')
echo "measure: $n RTC_CHANGE events in $took s ($rate/s) reached the supervisor; dropped: $(grep -c 'were dropped' "$tmp/sup.out")"
# QEMU's limit is one a second; half of that shows the flood went on all along.
[ $((n * 2)) -ge "$secs" ] && ok "the flood reached the supervisor all along: $n events in $took s" ||
    bad "only $n events in $took s"
k=${#rss[@]}
if [ "$k" -ge 4 ]; then
    rmin=$(printf '%s\n' "${rss[@]}" | sort -n | head -1) rmax=$(printf '%s\n' "${rss[@]}" | sort -n | tail -1)
    q=$((k / 4))
    first=$(printf '%s\n' "${rss[@]:0:$q}" | awk '{ s += $1 } END { printf "%d", s / NR }')
    last=$(printf '%s\n' "${rss[@]:$((k - q))}" | awk '{ s += $1 } END { printf "%d", s / NR }')
    echo "measure: supervisor VmRSS kB over $took s of flood, $k samples: min $rmin, max $rmax, mean of the first/last $q: $first/$last ($([ $asan = 1 ] && echo ASan || echo plain) build)"
    [ -n "${FLOOD_SERIES:-}" ] && echo "rss: ${rss[*]}"
    # Each event is parsed, logged and freed: nothing stays. A page or two
    # come and go with malloc's free lists; ASan holds freed memory in its
    # quarantine (up to 256 MB), so its RSS grows with what is freed.
    spread=$([ $asan = 1 ] && echo 4096 || echo 64)
    [ $((rmax - rmin)) -le $spread ] && ok "VmRSS flat during the flood: $rmin..$rmax kB (spread at most $spread)" ||
        bad "VmRSS moves during the flood: $rmin..$rmax kB (over $spread): ${rss[*]}"
    [ $asan = 1 ] || { [ $((last - first)) -le 16 ] && ok "no VmRSS trend: $first -> $last kB" || bad "VmRSS grows: $first -> $last kB"; }
fi

"$bin" stop "$name" > "$tmp/stop.out" 2>&1 || { bad "stop failed"; cat "$tmp/stop.out"; }
wait $sup; rc=$?
[ $rc = 0 ] && ok "the flooding VM stops with exit 0" || { bad "exit $rc"; tail -20 "$tmp/sup.out"; }
left=$(leftovers f)
[ -z "$left" ] && ok "nothing left" || bad "left: $left"
finish
