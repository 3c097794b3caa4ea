#!/usr/bin/env bash
# systemd semantics without systemd (issue 9): the unit's own ExecStart runs
# under a stand-in service manager (test_notify --listen) that reads the
# notify protocol: STATUS= while preparing, READY=1 once the guest runs
# pinned, STOPPING=1 on SIGTERM (KillSignal), exit 0 after the graceful
# power-down, then ExecStopPost (cleanup) with nothing left. The journal's
# priority prefixes with JOURNAL_STREAM; `systemd-analyze verify --man=no`
# of the unit (the man pages are checked by their own test)
# where systemd is installed.
set -u
. "$(dirname "$0")/lib.sh"
unit=$top/systemd/kvmlaunch@.service
helper=$(dirname "$(dirname "$bin")")/$(basename "$(dirname "$bin")")/tests/unit/test_notify
[ -x "$helper" ] || helper=$(dirname "$bin")/tests/unit/test_notify
need_root; need_guest
[ -x "$helper" ] || skip_all "$helper is not built"
need_cmd qemu-system-x86_64

make_tmp --rundir
name=klsd-$$
defer pkill -9 -f "guest=$name[,-]"

# /etc/kvmlaunch/%i.ini stands in $tmp.
vm_preset guest
vm_ini "$name" "vm.serial=file:$tmp/serial.log" vm.shutdown-timeout=30s cpu.pin=1,0
unit_cmd() { # KEY: the unit's command line for KEY, with this checkout's paths
    sed -n "s/^$1=-\{0,1\}//p" "$unit" | sed "s|/usr/sbin/kvmlaunch|$bin|; s|/etc/kvmlaunch/%i.ini|$tmp/$name.ini|; s|%i|$name|g"
}
start=$(unit_cmd ExecStart)
stoppost=$(unit_cmd ExecStopPost)
grep -q '^Type=notify$' "$unit" && grep -q '^KillMode=mixed$' "$unit" && grep -q '^Delegate=yes$' "$unit" && ok "the unit: Type=notify, KillMode=mixed, Delegate=yes" || bad "unit settings"
stop_timeout=$(sed -n 's/^TimeoutStopSec=\([0-9]*\)s$/\1/p' "$unit")
[ "${stop_timeout:-0}" -gt 60 ] && ok "TimeoutStopSec=${stop_timeout}s is above the default shutdown-timeout (60s)" || bad "TimeoutStopSec=$stop_timeout"

# shellcheck disable=SC2086
"$helper" --listen "$tmp/notify" -- $start > "$tmp/notify.out" 2> "$tmp/stderr" &
mgr=$!
for i in $(seq 1 300); do grep -qs "KVMLAUNCH-GUEST: stay" "$tmp/serial.log" && break; sleep 0.2; done
grep -q "^notify: STATUS=$name: checking the host" "$tmp/notify.out" && ok "STATUS= while it prepares" || bad "no STATUS before READY"
ready=$(grep -n "READY=1" "$tmp/notify.out" | head -1 | cut -d: -f1)
if [ -n "$ready" ] && grep -q "^notify: READY=1|STATUS=$name runs: QEMU pid [0-9]*, every thread pinned" "$tmp/notify.out"; then
    ok "READY=1 once the guest runs pinned: $(sed -n "${ready}p" "$tmp/notify.out")"
else
    bad "no READY=1"; cat "$tmp/notify.out" "$tmp/stderr"
fi
# READY=1 must come after the vCPUs were pinned (the log says so first).
grep -q "vcpu1=tid [0-9]* -> cpu 0" "$tmp/stderr" && ok "vCPUs were pinned before READY" || bad "no pinning in the log"
# systemctl stop: KillSignal to the main process only (KillMode=mixed).
child=$(sed -n 's/^child: //p' "$tmp/notify.out")
kill -TERM "$child"
wait $mgr
grep -q "^notify: STOPPING=1|STATUS=$name: asking the guest to power down" "$tmp/notify.out" && ok "STOPPING=1 on SIGTERM" || bad "no STOPPING=1"
grep -q "^exit: 0$" "$tmp/notify.out" && ok "the guest powered down: exit 0 (a clean stop for systemd)" || { bad "exit: $(grep exit: "$tmp/notify.out")"; cat "$tmp/stderr"; }
grep -q "KVMLAUNCH-GUEST: bye\|KVMLAUNCH-GUEST: exit=" "$tmp/serial.log" && ok "the guest saw the power button" || bad "guest did not power down"
# shellcheck disable=SC2086
$stoppost > "$tmp/post.out" 2>&1 && ok "ExecStopPost (cleanup) exits 0: $(tail -1 "$tmp/post.out")" || bad "ExecStopPost: $(cat "$tmp/post.out")"
[ ! -e "$KVMLAUNCH_RUNDIR/$name" ] && ! pgrep -f "guest=$name," >/dev/null && [ ! -e "/sys/fs/cgroup/cpuset/kvmlaunch/$name" ] && ok "nothing left" || bad "leftovers"
grep -q "^kvmlaunch\[$name\]: " "$tmp/stderr" && ok "log lines name the VM: $(grep -m1 "^kvmlaunch\[$name\]: " "$tmp/stderr")" || bad "log lines without the VM name"

# The journal: "<N>" priorities only when stderr is JOURNAL_STREAM.
: > "$tmp/journal"
js=$(stat -c '%d:%i' "$tmp/journal")
printf '[vm]\nname = %s-j\nmemory = 64M\nvcpus = 1\nuser = nobody\ntimeout = 1s\n[balloon]\nenabled = no\n' "$name" > "$tmp/j.ini"
JOURNAL_STREAM=$js "$bin" "$tmp/j.ini" 2>> "$tmp/journal"; rc=$?
grep -q "^<6>kvmlaunch\[$name-j\]: " "$tmp/journal" && grep -q "^<3>kvmlaunch\[$name-j\]: error: " "$tmp/journal" && ok "journal: <6> info and <3> error prefixes (exit $rc)" || { bad "no journal prefixes"; cat "$tmp/journal"; }
JOURNAL_STREAM=1:2 "$bin" "$tmp/j.ini" 2> "$tmp/nojournal"
! grep -q "^<[0-9]>" "$tmp/nojournal" && ok "no prefixes when stderr is not the journal stream" || bad "prefixes on a plain stderr"

# Nomad's raw_exec with a kill_timeout below shutdown-timeout: SIGTERM, then
# SIGKILL before the guest is down. QEMU dies with kvmlaunch (PDEATHSIG); the
# next start of the VM puts back what the dead one left, and runs.
ksm_path=/sys/kernel/mm/ksm/sleep_millisecs
ksm_was=$(cat $ksm_path)
keep_knob $ksm_path
printf '[vm]\nname = %s-n\nmemory = 64M\nvcpus = 1\nuser = nobody\nshutdown-timeout = 2s\n[balloon]\nenabled = no\n[host]\nksm-sleep-ms = %d\n' "$name" $((ksm_was + 7)) > "$tmp/n.ini"
running() { "$bin" status "$name-n" 2>/dev/null | grep -q running; }
"$bin" "$tmp/n.ini" > "$tmp/n1.out" 2>&1 & sup=$!
for i in $(seq 1 100); do running && break; sleep 0.1; done
kill -TERM $sup; sleep 1; kill -KILL $sup; wait $sup 2>/dev/null
for i in $(seq 1 50); do pgrep -f "guest=$name-n," >/dev/null || break; sleep 0.1; done
! pgrep -f "guest=$name-n," >/dev/null && ok "SIGTERM then SIGKILL (Nomad's kill_timeout): QEMU died with kvmlaunch" || bad "QEMU outlived kvmlaunch"
[ "$(cat $ksm_path)" = $((ksm_was + 7)) ] && ok "the killed kvmlaunch left its knob changed ($ksm_path)" || bad "knob: $(cat $ksm_path)"
"$bin" "$tmp/n.ini" > "$tmp/n2.out" 2>&1 & sup=$!
for i in $(seq 1 100); do running && break; sleep 0.1; done
running && ok "the next start of the VM runs" || { bad "restart"; cat "$tmp/n2.out"; }
"$bin" stop "$name-n" > /dev/null 2>&1; wait $sup
[ "$(cat $ksm_path)" = "$ksm_was" ] && [ ! -e "$KVMLAUNCH_RUNDIR/$name-n" ] && [ ! -e "$KVMLAUNCH_RUNDIR/host.state" ] && ok "after its stop: $ksm_path back to $ksm_was, nothing left" || bad "after restart+stop: $(cat $ksm_path), $(ls "$KVMLAUNCH_RUNDIR")"

# systemd-analyze verify, with this checkout's binary in ExecStart.
if command -v systemd-analyze >/dev/null; then
    sed "s|/usr/sbin/kvmlaunch|$bin|g" "$unit" > "$tmp/kvmlaunch@demo.service"
    if systemd-analyze verify --man=no "$tmp/kvmlaunch@demo.service" > "$tmp/verify.out" 2>&1; then ok "systemd-analyze verify passes"
    else bad "systemd-analyze verify"; cat "$tmp/verify.out"; fi
else
    skip "systemd-analyze is not installed: the unit is not verified here"
fi
finish
