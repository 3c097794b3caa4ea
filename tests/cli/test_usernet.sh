#!/usr/bin/env bash
# [net "ID"] mode = user (QEMU's slirp) and forward, on the test guest under
# QEMU (TCG here): the guest brings eth0 up (kl.net=user) and answers on
# TCP port 7; the host reaches it through forward = tcp:auto:7 at the port
# `status --json` reports, on 127.0.0.1 only. No tap, no interface, nothing
# left after stop. A host port that is taken fails `check` (exit 1, FAIL
# naming port and address) and the run (exit 2) before the host is touched;
# a port below ip_unprivileged_port_start fails check; two starts racing
# for one port: the loser says why and leaves nothing.
set -u
. "$(dirname "$0")/lib.sh"
need_root "QEMU is started as another user"
need_guest; need_cmd qemu-system-x86_64; need_cmd jq -- make deps installs it; need_cmd ss; need_cmd perl
qemu-system-x86_64 -netdev help 2> /dev/null | grep -qx user || skip_all "this QEMU has no user-mode network (slirp)"

make_tmp --rundir
make_user klun
vms_named klun-$$
wait_step=0.3
vm_preset guest
vm_defaults+=("vm.append=console=ttyS0 quiet kl.stay=1 kl.net=user" vm.vcpus=1 vm.accel=tcg)
links() { ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | sort | tr '\n' ' '; }
links0=$(links)

# The guest's answer on the host port PORT, or nothing.
ask() { timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1 && cat <&3" 2> /dev/null; }
answers() { [ "$(ask "$1")" = "KVMLAUNCH-GUEST-NET: hello" ]; }

# VM a: an auto port to the guest's listener, a written UDP one beside it.
udp_port=$(perl -MIO::Socket::INET -e 'print IO::Socket::INET->new(Proto=>"udp",LocalAddr=>"127.0.0.1",LocalPort=>0)->sockport')
vm_ini a "[net \"ci\"]
mode = user
forward = tcp:auto:7, udp:127.0.0.1:$udp_port:7"
"$bin" check "$tmp/a.ini" > "$tmp/a.check" 2>&1; rc=$?
grep -qE "^PASS  network    net \"ci\": user-mode network \(slirp\), host ports free: tcp:127\.0\.0\.1:[0-9]+:7 \(auto\), udp:127\.0\.0\.1:$udp_port:7$" "$tmp/a.check" &&
    [ $rc = 0 ] && ok "check: $(grep 'PASS  network' "$tmp/a.check")" || { bad "check a: exit $rc"; cat "$tmp/a.check"; }
"$bin" --dry-run "$tmp/a.ini" > "$tmp/a.dry" 2>&1
grep -qE '^    -netdev .\{"type":"user","id":"net-ci","hostfwd":\[\{"str":"tcp:127\.0\.0\.1:[0-9]+-:7"\},\{"str":"udp:127\.0\.0\.1:'"$udp_port"'-:7"\}\]\}. \\$' "$tmp/a.dry" &&
    ! grep -q '"fds"' "$tmp/a.dry" && ok "--dry-run: a user netdev with hostfwd rules, no fds" || { bad "--dry-run a"; cat "$tmp/a.dry"; }

"$bin" "$tmp/a.ini" > "$tmp/a.out" 2>&1 &
pids+=($!); sup_a=$!
status_json() { "$bin" status "$(name a)" --json > "$tmp/a.json" 2> "$tmp/a.err"; }
if ! wait_for 120 grep -qs "KVMLAUNCH-GUEST: net=user up" "$tmp/a.serial" || ! wait_for 30 status_json; then
    bad "VM a did not come up"; cat "$tmp/a.out" "$tmp/a.serial" "$tmp/a.err" 2>/dev/null; finish
fi
ok "the guest brought eth0 up (kl.net=user)"
port=$(jq -r '.forwards[] | select(.proto == "tcp" and .guest_port == 7) | .host_port' "$tmp/a.json")
jq -e --argjson u "$udp_port" '.forwards == [{"net":"ci","proto":"tcp","address":"127.0.0.1","host_port":.forwards[0].host_port,"guest_port":7,"auto":true},
    {"net":"ci","proto":"udp","address":"127.0.0.1","host_port":$u,"guest_port":7,"auto":false}] and .forwards[0].host_port > 0' "$tmp/a.json" > /dev/null &&
    ok "status --json: forwards tcp 127.0.0.1:$port (auto) and udp $udp_port" || bad "forwards: $(jq -c .forwards "$tmp/a.json")"
"$bin" status "$(name a)" > "$tmp/a.txt" 2>&1
grep -qxF "  forward tcp 127.0.0.1:$port -> guest port 7 (net \"ci\", auto)" "$tmp/a.txt" &&
    grep -qxF "  forward udp 127.0.0.1:$udp_port -> guest port 7 (net \"ci\")" "$tmp/a.txt" && ok "status: the forward lines" || { bad "status text"; cat "$tmp/a.txt"; }
# QEMU listens there, on the loopback address alone.
q=$(qemu_of a)
ss -ltnpH "sport = :$port" | grep -q "127.0.0.1:$port .*pid=$q," && ! ss -ltnH "sport = :$port" | grep -qv "127.0.0.1:$port" &&
    ok "QEMU $q listens on 127.0.0.1:$port only" || bad "listeners on $port: $(ss -ltnpH "sport = :$port")"
# The guest answers through the forward (slirp may take a moment after the
# guest's listener started).
if wait_for 30 answers "$port"; then ok "the guest answered on 127.0.0.1:$port: $(ask "$port")"; else bad "no answer on $port: '$(ask "$port")'"; cat "$tmp/a.serial"; fi
[ "$(links)" = "$links0" ] && ok "no interface made (no tap)" || bad "interfaces now: $(links), before: $links0"
! tr '\0' ' ' < "/proc/$q/cmdline" | grep -q '"type":"tap"' && ok "QEMU has no tap netdev" || bad "QEMU's argv has a tap"

# A taken port: check names it, the run stops before touching the host.
coproc HOLD { exec perl -MIO::Socket::INET -e '$|=1; my $s=IO::Socket::INET->new(Listen=>1,LocalAddr=>"127.0.0.1",LocalPort=>0,ReuseAddr=>1) or die; print $s->sockport,"\n"; sleep 600'; }
defer kill "$HOLD_PID"
read -r taken <&"${HOLD[0]}"
vm_ini b "[net \"ci\"]
mode = user
forward = tcp:$taken:7"
"$bin" check "$tmp/b.ini" > "$tmp/b.check" 2>&1; rc=$?
want="$tmp/b.ini:$(grep -n '^forward' "$tmp/b.ini" | cut -d: -f1): [net \"ci\"] forward: expected a free host port, found tcp port $taken on 127.0.0.1 taken"
[ $rc = 1 ] && grep -qxF "FAIL  network    $want" "$tmp/b.check" && ok "check: exit 1, FAIL: ${want#"$tmp/"}" || { bad "check b: exit $rc"; cat "$tmp/b.check"; }
"$bin" "$tmp/b.ini" > "$tmp/b.out" 2>&1; rc=$?
[ $rc = 2 ] && grep -qxF "$want" "$tmp/b.out" && ok "run: exit 2 with the same line" || { bad "run b: exit $rc"; cat "$tmp/b.out"; }
[ -z "$(leftovers b)" ] && [ ! -e "$tmp/b.serial" ] && ok "nothing made for b (no runtime dir, cgroup, QEMU or serial log)" || bad "left of b: $(leftovers b)"
# The same port on another address is no clash for the kernel, nor here.
vm_ini c "[net \"ci\"]
mode = user
forward = tcp:$taken:7 tcp:$port:7"
"$bin" check "$tmp/c.ini" > "$tmp/c.check" 2>&1; rc=$?
[ $rc = 1 ] && [ "$(grep -c '^FAIL' "$tmp/c.check")" = 2 ] && grep -qF "found tcp port $port on 127.0.0.1 taken" "$tmp/c.check" &&
    ok "check: each taken port its own FAIL line (VM a's port too)" || { bad "check c: exit $rc"; cat "$tmp/c.check"; }

# A port QEMU's user may not listen on, though root (the checks) could.
start=$(cat /proc/sys/net/ipv4/ip_unprivileged_port_start 2> /dev/null || echo 0)
low=$((start - 1))
if [ "$start" -gt 1 ] && [ -z "$(ss -ltnH "sport = :$low")" ]; then
    vm_ini d "[net \"ci\"]
mode = user
forward = tcp:$low:7"
    "$bin" check "$tmp/d.ini" > "$tmp/d.check" 2>&1; rc=$?
    [ $rc = 1 ] && grep -qF "forward: expected a host port QEMU's user may listen on, found tcp port $low on 127.0.0.1, below net.ipv4.ip_unprivileged_port_start = $start" "$tmp/d.check" &&
        ok "check: port $low is below ip_unprivileged_port_start for $user" || { bad "check d: exit $rc"; cat "$tmp/d.check"; }
else
    skip "a privileged port: ip_unprivileged_port_start is $start, or port $low is in use"
fi

# Two starts at once on one written port: both may pass the checks before
# either QEMU listens (the race a port checked, or chosen for auto, leaves);
# then the later QEMU cannot listen, stops at start, and its run says so
# and leaves nothing. Or the later check sees the port taken: exit 2.
free=$(perl -MIO::Socket::INET -e 'print IO::Socket::INET->new(Listen=>1,LocalAddr=>"127.0.0.1",LocalPort=>0)->sockport')
for v in x y; do vm_ini $v "[net \"ci\"]
mode = user
forward = tcp:$free:7"; done
"$bin" "$tmp/x.ini" > "$tmp/x.out" 2>&1 &
pids+=($!); sup_x=$!
"$bin" "$tmp/y.ini" > "$tmp/y.out" 2>&1 &
pids+=($!); sup_y=$!
lost=
wait_for 60 bash -c "! kill -0 $sup_x 2>/dev/null || ! kill -0 $sup_y 2>/dev/null"
if ! kill -0 $sup_x 2> /dev/null; then lost=x; wait $sup_x; lrc=$?; won=y; sup_won=$sup_y; else lost=y; wait $sup_y; lrc=$?; won=x; sup_won=$sup_x; fi
if [ $lrc = 1 ] && grep -q "Could not set up host forwarding rule 'tcp:127.0.0.1:$free-:7'" "$tmp/$lost.out" &&
    grep -q 'another program took that host port after the checks found it free; start again' "$tmp/$lost.out"; then
    ok "the later QEMU could not listen on $free: exit 1, QEMU's message and why"
elif [ $lrc = 2 ] && grep -qF "found tcp port $free on 127.0.0.1 taken" "$tmp/$lost.out"; then
    ok "the later check found $free taken: exit 2"
else
    bad "the start that lost the port: exit $lrc"; cat "$tmp/$lost.out"
fi
[ -z "$(leftovers $lost)" ] && ok "nothing left of the start that lost" || bad "left of $lost: $(leftovers $lost)"
wait_for 120 grep -qs "KVMLAUNCH-GUEST: net=user up" "$tmp/$won.serial" && wait_for 30 answers "$free" && ok "the other one runs and answers on $free" ||
    { bad "the start that won the port"; cat "$tmp/$won.out"; }
"$bin" stop "$(name $won)" > /dev/null 2>&1; wait $sup_won
[ -z "$(leftovers $won)" ] && ok "nothing left of $won after stop" || bad "left of $won: $(leftovers $won)"

# Stop: nothing left, the port is free again.
"$bin" stop "$(name a)" > "$tmp/stop.out" 2>&1; rc=$?
wait $sup_a; src=$?
[ $rc = 0 ] && [ $src = 0 ] && ok "stop a: both exit 0" || { bad "stop a: exit $rc, supervisor $src"; cat "$tmp/stop.out" "$tmp/a.out"; }
[ -z "$(leftovers a)" ] && ok "nothing left of a" || bad "left of a: $(leftovers a)"
[ -z "$(ss -ltnH "sport = :$port")" ] && ok "nobody listens on $port any more" || bad "still listening: $(ss -ltnpH "sport = :$port")"
[ "$(links)" = "$links0" ] && ok "the host's interfaces as before" || bad "interfaces now: $(links), before: $links0"
finish
