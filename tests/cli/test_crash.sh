#!/usr/bin/env bash
# Crash and reboot policy (issue 17, item 4): [vm] on-crash, on-reboot,
# watchdog, watchdog-action and restart-limit, carried out by the
# supervisor with the test guest under TCG (its /init panics on kl.panic,
# reboots on kl.reboot, arms a watchdog and starves it on kl.watchdog).
#  1. on-crash = restart, a guest that panics on its first boot only (it
#     marks a disk of its own first): reset, it boots again and stays;
#     status (--json and text) and metrics show one restart after a panic;
#     stop ends it with exit 0, nothing left.
#  2. A guest that panics at every boot, restart-limit = 2/10m: two resets,
#     the third panic stops it, exit 1, the log says why.
#  3. on-crash = stop (the default): the first panic ends it, exit 1, the
#     panic in the log.
#  4. on-crash = pause: the guest stays paused (status: guest-panicked);
#     `kvmlaunch stop` ends it at once, exit 1.
#  5. on-reboot = stop: a guest reboot ends the VM, exit 0.
#  6. on-reboot = stop with on-crash = restart: the reset after a panic is
#     no reboot (nor is SeaBIOS's own reset that follows it): the guest
#     boots again and ends with its own code.
#  7. watchdog = i6300esb (the generic kernel, built once under
#     build/guest-wd: the cloud kernel has no i6300esb driver), a guest
#     that opens /dev/watchdog with a 2 s heartbeat and never feeds it:
#     reset, armed again, and with restart-limit = 1/10m the second expiry
#     stops it, exit 1.
set -u
. "$(dirname "$0")/lib.sh"
need_root "QEMU is started as another user"
need_guest; need_cmd qemu-system-x86_64; need_cmd jq -- make deps installs it

make_tmp --rundir
make_user klcrash
vms_named klcrash-$$
vm_preset guest
vm_defaults+=(vm.vcpus=1 vm.timeout=240s)
wait_step=0.3
ups() { grep -ac "KVMLAUNCH-GUEST: up" "$tmp/$1.serial" 2> /dev/null; }
# A raw disk the guest marks (kl.panic=once), as the VM's user.
state_disk() { truncate -s 1M "$tmp/$1.img" && chown "$user" "$tmp/$1.img"; printf '[disk "state"]\nfile = %s\nformat = raw\n' "$tmp/$1.img"; }
# Runs VM ID in the foreground: its exit code in $rc, its log in $tmp/ID.out.
run_vm() { "$bin" "$tmp/$1.ini" > "$tmp/$1.out" 2>&1; rc=$?; }
nothing_left() { # ID
    local left
    left=$(leftovers "$1")
    [ -z "$left" ] && ok "$1: nothing left" || bad "$1: left: $left"
}

# 1. A panic on the first boot only, reset; the second boot stays.
vm_ini once "vm.append=console=ttyS0 quiet kl.panic=once kl.stay=1" vm.on-crash=restart "$(state_disk once)"
"$bin" "$tmp/once.ini" > "$tmp/once.out" 2>&1 &
pids+=($!); sup=$!
if wait_for 180 grep -qs "KVMLAUNCH-GUEST: stay" "$tmp/once.serial"; then
    [ "$(ups once)" = 2 ] && grep -q "KVMLAUNCH-GUEST: panic=done" "$tmp/once.serial" && ok "once: panicked, reset, booted again and stays" ||
        bad "once: $(ups once) boots: $(grep -a KVMLAUNCH-GUEST "$tmp/once.serial" | tr '\n' ' ')"
    grep -q "guest panicked" "$tmp/once.out" && grep -q "the guest panicked: resetting the guest of $(name once) (restart 1, restart-limit = 5/10m)" "$tmp/once.out" &&
        ok "once: the log says the panic and the reset" || bad "once: log: $(cat "$tmp/once.out")"
    "$bin" status "$(name once)" --json > "$tmp/once.json" 2> "$tmp/once.err"
    [ -s "$tmp/once.json" ] && jq -e '.state == "running" and .restarts.count == 1 and .restarts.last_reason == "panic" and (.restarts.last_time | type) == "number"' \
        "$tmp/once.json" > /dev/null && ok "once: status --json: running, 1 restart after a panic" || bad "once: status: $(jq -c '{state, restarts}' "$tmp/once.json")"
    "$bin" status "$(name once)" 2> /dev/null | grep -q "^  restarts: 1, the last after a panic at " && ok "once: status says the restart" ||
        bad "once: status text: $("$bin" status "$(name once)" 2>&1)"
    "$bin" metrics > "$tmp/metrics" 2> "$tmp/metrics.err"
    grep -qx "kvmlaunch_vm_restarts_total{vm=\"$(name once)\"} 1" "$tmp/metrics" &&
        grep -q "^kvmlaunch_vm_last_restart_timestamp_seconds{vm=\"$(name once)\",reason=\"panic\"} [0-9]" "$tmp/metrics" &&
        ok "once: metrics: 1 restart, the last after a panic" || bad "once: metrics: $(grep restart "$tmp/metrics")"
    "$bin" stop "$(name once)" > /dev/null 2>&1
    wait $sup; rc=$?
    [ $rc = 0 ] && ok "once: stop ends it with exit 0" || bad "once: exit $rc after stop: $(tail -5 "$tmp/once.out")"
else
    bad "once: the guest did not come up again: $(cat "$tmp/once.out"; grep -a KVMLAUNCH-GUEST "$tmp/once.serial")"
fi
nothing_left once

# 2. A panic at every boot hits restart-limit.
vm_ini every "vm.append=console=ttyS0 quiet kl.panic=every" vm.on-crash=restart vm.restart-limit=2/10m
run_vm every
[ $rc = 1 ] && [ "$(ups every)" = 3 ] && ok "every: reset twice, the third panic stops it, exit 1" || bad "every: exit $rc, $(ups every) boots: $(cat "$tmp/every.out")"
grep -q "one more reset would pass restart-limit = 2/10m (reset 2 times so far)" "$tmp/every.out" && ok "every: the log says restart-limit" || bad "every: log: $(cat "$tmp/every.out")"
nothing_left every

# 3. on-crash = stop (the default).
vm_ini stop "vm.append=console=ttyS0 quiet kl.panic=every"
run_vm stop
[ $rc = 1 ] && [ "$(ups stop)" = 1 ] && grep -q "guest panicked" "$tmp/stop.out" && grep -q "the guest panicked: stopping $(name stop) (on-crash = stop)" "$tmp/stop.out" &&
    ok "stop: the first panic ends it, exit 1, the panic in the log" || bad "stop: exit $rc, $(ups stop) boots: $(cat "$tmp/stop.out")"
nothing_left stop

# 4. on-crash = pause: held for inspection; stop still ends it, at once.
vm_ini pause "vm.append=console=ttyS0 quiet kl.panic=every" vm.on-crash=pause vm.shutdown-timeout=60s
"$bin" "$tmp/pause.ini" > "$tmp/pause.out" 2>&1 &
pids+=($!); sup=$!
# (jq 1.6 -e passes on no input at all: the state is compared here.)
held() { [ "$("$bin" status "$(name pause)" --json 2> /dev/null | jq -r .state)" = guest-panicked ]; }
if wait_for 120 held; then
    ok "pause: status says guest-panicked"
    sleep 2
    held && kill -0 $sup 2> /dev/null && ok "pause: still held" || bad "pause: not held: $(cat "$tmp/pause.out")"
    t0=$SECONDS
    "$bin" stop "$(name pause)" > /dev/null 2>&1
    wait $sup; rc=$?
    # shutdown-timeout is 60s: a stop that waited for a power-down would take that long.
    [ $rc = 1 ] && [ $((SECONDS - t0)) -lt 30 ] && ok "pause: stop ends it in $((SECONDS - t0)) s, exit 1" || bad "pause: exit $rc after $((SECONDS - t0)) s: $(cat "$tmp/pause.out")"
else
    bad "pause: never held: $(cat "$tmp/pause.out")"
fi
nothing_left pause

# 5. on-reboot = stop: a guest reboot ends it, exit 0 (CI).
vm_ini reboot "vm.append=console=ttyS0 quiet kl.reboot=1" vm.on-reboot=stop
run_vm reboot
[ $rc = 0 ] && [ "$(ups reboot)" = 1 ] && grep -q "KVMLAUNCH-GUEST: reboot" "$tmp/reboot.serial" && grep -q "rebooted: on-reboot = stop ends the VM" "$tmp/reboot.out" &&
    ok "reboot: the guest's reboot ends the VM, exit 0" || bad "reboot: exit $rc, $(ups reboot) boots: $(cat "$tmp/reboot.out")"
nothing_left reboot

# 6. on-reboot = stop and on-crash = restart together.
vm_ini both "vm.append=console=ttyS0 quiet kl.panic=once kl.exit=5" vm.exit-device=yes vm.on-crash=restart vm.on-reboot=stop "$(state_disk both)"
run_vm both
[ $rc = 5 ] && [ "$(ups both)" = 2 ] && grep -q "KVMLAUNCH-GUEST: panic=done" "$tmp/both.serial" &&
    ok "both: reset after the panic, not taken for a reboot; the guest's own exit 5" || bad "both: exit $rc, $(ups both) boots: $(cat "$tmp/both.out")"
nothing_left both

# 7. The watchdog, with the generic kernel's i6300esb driver.
wdguest=$top/build/guest-wd
if ! KERNEL_PKG=${KL_WD_KERNEL_PKG:-$(apt-cache depends linux-image-amd64 2> /dev/null | awk '$1 == "Depends:" && $2 ~ /^linux-image-/ { print $2; exit }')} \
    EXTRA_MODULES="i6300esb" tests/guest/build.sh "$wdguest" > "$tmp/wdbuild.log" 2>&1 || [ ! -s "$wdguest/vmlinuz" ]; then
    bad "the watchdog guest (generic kernel) could not be built under $wdguest: $(tail -3 "$tmp/wdbuild.log")"
else
    vm_ini wd "vm.kernel=$wdguest/vmlinuz" "vm.initrd=$wdguest/initrd.img" "vm.append=console=ttyS0 quiet kl.watchdog=2 kl.stay=1" \
        vm.watchdog=i6300esb vm.restart-limit=1/10m
    run_vm wd
    armed=$(grep -ac "KVMLAUNCH-GUEST: watchdog armed" "$tmp/wd.serial")
    [ $rc = 1 ] && [ "$armed" = 2 ] && grep -q "the guest's watchdog expired: resetting the guest of $(name wd) (restart 1" "$tmp/wd.out" &&
        grep -q "the guest's watchdog expired: stopping $(name wd): one more reset would pass restart-limit = 1/10m" "$tmp/wd.out" &&
        ok "wd: the starved watchdog reset the guest, armed again, the second expiry hit the limit, exit 1" ||
        bad "wd: exit $rc, armed $armed times: $(cat "$tmp/wd.out"; grep -a KVMLAUNCH-GUEST "$tmp/wd.serial")"
    nothing_left wd
fi
finish
