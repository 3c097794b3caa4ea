#!/usr/bin/env bash
# The README's example is valid, and kvmlaunch has no memory errors or leaks
# under valgrind (on the plain build; the ASan build checks itself): the
# dry-run path, and a full start/stop of a real VM (see below).
set -u
. "$(dirname "$0")/lib.sh"
make_tmp

awk '/^```ini$/ { on = 1; next } /^```$/ { on = 0 } on' README.md > "$tmp/readme.ini"
[ -s "$tmp/readme.ini" ] || { bad "no \`\`\`ini block in README.md"; finish; }
# It loads, and --dry-run prints its command line: exit 0, or 1 where this
# host lacks what it asks for (CPUs 2-5, br0, user kvm-web), with FAIL lines.
"$bin" --dry-run "$tmp/readme.ini" > "$tmp/out" 2> "$tmp/err"; rc=$?
if { [ $rc = 0 ] || { [ $rc = 1 ] && grep -q '^FAIL ' "$tmp/err"; }; } && grep -q '^# QEMU command line:' "$tmp/out"; then
    ok "the README example loads and --dry-run prints its command line (exit $rc, $(grep -c '^FAIL ' "$tmp/err") things this host lacks)"
else
    bad "the README example: exit $rc: $(cat "$tmp/err")"
fi

asan_build && { skip "this is the ASan build: the valgrind part is left to the plain build"; finish; }
command -v valgrind >/dev/null || { skip "valgrind is not installed"; finish; }
printf '[vm]\nname = x\nmemory = 1X\nvcpus = 0\n[cpu]\npin = 9-1\n[disk "a"]\n' > "$tmp/bad.ini"
for ini in "$tmp/readme.ini" examples/*.ini "$tmp/bad.ini"; do
    [ -f "$ini" ] || continue
    if valgrind -q --leak-check=full --show-leak-kinds=definite,indirect,possible --errors-for-leak-kinds=definite,indirect,possible \
        --error-exitcode=99 "$bin" --dry-run "$ini" > "$tmp/vg" 2>&1; [ $? -eq 99 ]; then
        bad "valgrind on --dry-run $ini:"; grep '==' "$tmp/vg" | head -20
    else
        ok "valgrind clean on --dry-run $ini"
    fi
done

# A full start/stop of a real VM under valgrind: the guest boots with a
# disk, a tap (in a namespace of this test), pinned vCPUs, the balloon and a
# [host] knob; `status`, `list`, `stop` and `cleanup` run under valgrind
# too. valgrind 3.19 has no seccomp(2), so the supervisor's lockdown cannot
# happen under it: the supervisor runs as nobody with the capabilities a
# root run uses before lockdown (ambient, via setpriv), which skips lockdown
# as any non-root run does; QEMU then stays nobody. A root run is checked
# as well: lockdown fails under valgrind, the VM is stopped, and that error
# path is clean too. QEMU itself is not traced (--trace-children=no).
knob=/sys/kernel/mm/ksm/sleep_millisecs
why=
[ "$(id -u)" = 0 ] || why="needs root"
[ -z "$why" ] && { [ -f "$guest/vmlinuz" ] || why="the test guest is not built (tests/guest/build.sh)"; }
for c in qemu-system-x86_64 setpriv nsenter ip; do [ -z "$why" ] && ! command -v $c >/dev/null && why="$c is not installed"; done
[ -z "$why" ] && { [ -w $knob ] && [ -c /dev/net/tun ] || why="$knob or /dev/net/tun is not usable here"; }
[ -z "$why" ] && { ns=klvg$$; ip netns add $ns || { ns=; why="cannot create a network namespace"; }; }
if [ -n "$why" ]; then
    skip "the valgrind run of a real VM: $why"
    finish
fi
defer ip netns del "$ns"
defer pkill -9 -f "guest=klvg-$$"
chmod 0755 "$tmp"
abs=$(realpath "$bin")
export KVMLAUNCH_RUNDIR=$tmp/run
unset KVMLAUNCH_ROOT
knob_before=$(cat $knob)
keep_knob $knob
truncate -s 16M "$tmp/disk.img"
caps=+dac_override,+sys_admin,+net_admin,+sys_nice,+kill,+fowner
vg() { # LOG CMD...: memcheck, exit 99 on any error or definite/indirect leak
    local log=$1; shift
    valgrind -q --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect \
        --error-exitcode=99 --trace-children=no --log-file="$log" "$@"
}
vg_clean() { # LOG RC WHAT
    if [ "$2" != 99 ] && [ ! -s "$1" ]; then ok "valgrind clean: $3"
    else bad "valgrind on $3 (exit $2):"; head -40 "$1"; fi
}
vm_preset guest
vm_ini vg vm.name=klvg-$$ vm.user= cpu.pin=1,0 host.ksm-sleep-ms=$((knob_before + 11)) balloon.enabled= \
    '[disk "d"]' "file = $tmp/disk.img" "format = raw" '[net "n"]' "tap = klvg$$" "vhost = off" "steering = no"
chmod 0644 "$tmp/vg.ini"
chown nobody "$tmp/disk.img"
start=$SECONDS
nsenter --net=/run/netns/$ns setpriv --reuid=nobody --regid=nogroup --clear-groups --inh-caps=$caps --ambient-caps=$caps \
    valgrind --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect \
    --error-exitcode=99 --trace-children=no --log-file="$tmp/vg.sup" "$abs" "$tmp/vg.ini" > "$tmp/vg.out" 2>&1 &
sup=$!
end=$((SECONDS + 90))
while [ $SECONDS -lt $end ] && kill -0 $sup 2>/dev/null && ! grep -qs "KVMLAUNCH-GUEST: stay" "$tmp/vg.serial"; do sleep 0.2; done
if grep -qs "KVMLAUNCH-GUEST: stay" "$tmp/vg.serial"; then
    ok "under valgrind the guest is up after $((SECONDS - start)) s"
    [ "$(cat $knob)" = $((knob_before + 11)) ] && ok "the [host] knob is set" || bad "knob $(cat $knob)"
    vg "$tmp/vg.status" "$abs" status "klvg-$$" --json > "$tmp/status.json" 2>&1; rc=$?
    grep -qE '"state": ?"running"' "$tmp/status.json" || { bad "status:"; cat "$tmp/status.json"; }
    vg_clean "$tmp/vg.status" $rc "status --json of the running VM"
    vg "$tmp/vg.list" "$abs" list > "$tmp/list.out" 2>&1; rc=$?
    grep -q "klvg-$$" "$tmp/list.out" || bad "list: $(cat "$tmp/list.out")"
    vg_clean "$tmp/vg.list" $rc "list"
    vg "$tmp/vg.stop" "$abs" stop "klvg-$$" > "$tmp/stop.out" 2>&1; rc=$?
    [ $rc = 0 ] || { bad "stop: exit $rc"; cat "$tmp/stop.out"; }
    vg_clean "$tmp/vg.stop" $rc "stop (the guest powers down)"
else
    bad "under valgrind the guest did not come up"; cat "$tmp/vg.out"
    kill -TERM $sup 2>/dev/null
fi
wait $sup; rc=$?
# The log holds the supervisor's summary, and one of each forked child that
# ended without exec (the checks' probes as the VM's user).
vg_log_clean() { grep -q "ERROR SUMMARY: 0 errors" "$1" && ! grep -qE "ERROR SUMMARY: [1-9]|(definitely|indirectly) lost: [1-9]" "$1"; }
if [ $rc = 0 ] && vg_log_clean "$tmp/vg.sup"; then
    ok "valgrind clean on a full start/stop of a real VM, exit 0, $((SECONDS - start)) s: supervisor $(grep -o 'total heap usage: .*' "$tmp/vg.sup" | tail -1)"
else
    bad "valgrind on the full start/stop (exit $rc):"; grep '==' "$tmp/vg.sup" | head -60; cat "$tmp/vg.out"
fi
[ "$(cat $knob)" = "$knob_before" ] && [ ! -e "$KVMLAUNCH_RUNDIR/klvg-$$" ] && ! ip -n $ns -o link show | grep -q "klvg$$" &&
    [ ! -e /sys/fs/cgroup/cpuset/kvmlaunch/klvg-$$ ] && ok "nothing left (knob back, no runtime dir, tap or cgroup)" || bad "left after the valgrind run"
vg "$tmp/vg.cleanup" "$abs" cleanup "klvg-$$" > "$tmp/cleanup.out" 2>&1; rc=$?
[ $rc = 0 ] || { bad "cleanup: exit $rc"; cat "$tmp/cleanup.out"; }
vg_clean "$tmp/vg.cleanup" $rc "cleanup"

# As root: lockdown fails under valgrind and the VM is stopped, cleanly.
rm -rf "$KVMLAUNCH_RUNDIR"
sed -i 's/^name = .*/&-root/; s/^\[vm\]/&\nuser = nobody/' "$tmp/vg.ini"
nsenter --net=/run/netns/$ns valgrind --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect \
    --error-exitcode=99 --trace-children=no --log-file="$tmp/vg.root" "$abs" "$tmp/vg.ini" > "$tmp/root.out" 2>&1; rc=$?
if [ $rc = 1 ] && grep -q "Failed to lock the supervisor down" "$tmp/root.out" && vg_log_clean "$tmp/vg.root"; then
    ok "valgrind clean on a root run, which stops the VM when lockdown fails (no seccomp under valgrind): $(grep -o 'total heap usage: .*' "$tmp/vg.root" | tail -1)"
else
    bad "the root run under valgrind (exit $rc):"; grep '==' "$tmp/vg.root" | head -40; cat "$tmp/root.out"
fi
[ "$(cat $knob)" = "$knob_before" ] && [ ! -e "$KVMLAUNCH_RUNDIR/klvg-$$-root" ] && [ -z "$(pgrep -f "guest=klvg-$$-root,")" ] &&
    ok "nothing left after it" || bad "left after the root run"
finish
