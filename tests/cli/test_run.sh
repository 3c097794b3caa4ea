#!/usr/bin/env bash
# Running VMs for real: the test guest under QEMU (TCG here), as root, with a
# user this test creates. Privileges of QEMU and of the supervisor, QEMU's
# open fds and environment, pinning, exit codes, the lock, signals, kill -9
# on either side, cleanup.
set -u
. "$(dirname "$0")/lib.sh"
need_root "QEMU is started as another user"
need_guest; need_cmd qemu-system-x86_64

make_tmp --rundir
make_user kltest
vms_named klrun-$$
vm_preset guest
vm() { # NAME APPEND [PIN]: writes $tmp/NAME.ini
    vm_ini "$1" "vm.append=console=ttyS0 quiet $2" vm.exit-device=yes "cpu.pin=${3:-1,0}"
}
# Every thread of QEMU PID: the VM's uid and gid in all four fields, the
# groups the group database gives the user and no other (issue 15: as
# libvirt's qemu user; not root's), every capability set empty,
# no_new_privs, seccomp.
check_threads() { # PID
    local uid gid groups t s all=1 n=0
    uid=$(id -u "$user"); gid=$(id -g "$user")
    groups=$(id -G "$user" | tr ' ' '\n' | sort -n | tr '\n' ' ')
    for t in /proc/$1/task/*; do
        s=$(cat "$t/status") || continue
        n=$((n + 1))
        grep -qE "^Uid:\s+$uid\s+$uid\s+$uid\s+$uid$" <<<"$s" && grep -qE "^Gid:\s+$gid\s+$gid\s+$gid\s+$gid$" <<<"$s" &&
        [ "$(sed -n 's/^Groups:\s*//p' <<<"$s" | tr ' ' '\n' | grep . | sort -n | tr '\n' ' ')" = "$groups" ] &&
        grep -q "^NoNewPrivs:\s*1" <<<"$s" && grep -q "^Seccomp:\s*2" <<<"$s" &&
        [ "$(grep -cE '^Cap(Inh|Prm|Eff|Bnd|Amb):\s+0000000000000000$' <<<"$s")" = 5 ] || { all=0; echo "$t:"; grep -E "Uid|Gid|Groups|Cap|NoNewPrivs|Seccomp" <<<"$s"; }
    done
    [ $all = 1 ] && [ $n -gt 1 ] && ok "every QEMU thread ($n): uid/gid $user, groups $groups(id -G $user), no capabilities, NoNewPrivs 1, Seccomp 2" || bad "QEMU thread privileges ($n threads)"
}
# QEMU's open fds against the layout of launcher/host/hostfacts.c
# (hostfacts_assign_fds): 0 /dev/null, 1-2 kvmlaunch's own stdout and
# stderr, 3 the QMP socket (a socketpair with the supervisor), 4 the status
# monitor's listening socket in the runtime dir, 5 the serial console (a
# socketpair with the supervisor, which writes the log: QEMU never holds
# the log file), then the tap queues and the vhost-net fds at the numbers
# given, and last the control monitor's listening socket (qmp, balloon,
# pin). Besides: QEMU's own
# anonymous inodes (eventfd, signalfd, epoll, timerfd, io_uring). Anything
# else, above all a regular file or socket kvmlaunch did not mean to pass
# (a state file, a lock, the pid file), fails.
check_qemu_fds() { # PID SUPERVISOR NAME SERIAL-LOG "TAP FDS" "VHOST FDS"
    local q=$1 sup=$2 name=$3 serial=$4 taps=" $5 " vhosts=" $6 " f fd t bad_fds=() kinds=() peer listen ctl=
    for f in /proc/$q/fd/*; do
        fd=${f##*/}; t=$(readlink "$f") || continue
        case "$fd:$t" in
            0:/dev/null) kinds+=("stdin /dev/null") ;;
            1:*|2:*) [ "$t" = "$(readlink "/proc/$sup/fd/$fd")" ] && kinds+=("kvmlaunch's own fd $fd") || bad_fds+=("$fd -> $t (not kvmlaunch's own fd $fd)") ;;
            3:socket:*) kinds+=("QMP socket") ;;
            4:socket:*) kinds+=("status monitor socket") ;;
            5:socket:*) kinds+=("serial socket") ;;
            *:socket:*) [ -z "$ctl" ] && ctl=$fd && kinds+=("control monitor socket") || bad_fds+=("$fd -> $t (a second socket besides the control monitor's at $ctl)") ;;
            *:/dev/net/tun) [[ "$taps" == *" $fd "* ]] && kinds+=("tap queue") || bad_fds+=("$fd -> $t (no tap queue is at $fd)") ;;
            *:/dev/vhost-net) [[ "$vhosts" == *" $fd "* ]] && kinds+=("vhost-net") || bad_fds+=("$fd -> $t (no vhost-net fd is at $fd)") ;;
            *:"$serial") bad_fds+=("$fd -> $t (the serial log is the supervisor's to write)") ;;
            *:anon_inode:\[eventfd\]|*:anon_inode:\[signalfd\]|*:anon_inode:\[eventpoll\]|*:anon_inode:\[timerfd\]|*:anon_inode:\[io_uring\])
                kinds+=("QEMU's own ${t#anon_inode:}") ;;
            *) bad_fds+=("$fd -> $t") ;;
        esac
    done
    for fd in $5 $6; do [ -e "/proc/$q/fd/$fd" ] || bad_fds+=("$fd: no fd there, a tap or vhost-net fd was expected"); done
    printf '%s\n' "${kinds[@]}" | grep -q "serial socket" || bad_fds+=("5: no serial socket")
    # The sockets for what they are (ss: the peers of fds 3 and 5, the paths
    # of fd 4 and the control monitor's; ss sees the sockets of its own network namespace: $SS_NS).
    if command -v ss >/dev/null; then
        peer=$(${SS_NS:+ip netns exec "$SS_NS"} ss -xpnH 2>/dev/null | awk -v p="pid=$q,fd=3)" 'index($0, p) { print $8; exit }')
        [ -n "$peer" ] && [ -n "$(find "/proc/$sup/fd" -lname "socket:\[$peer\]" 2>/dev/null)" ] || bad_fds+=("3: its peer ($peer) is not a socket of the supervisor")
        peer=$(${SS_NS:+ip netns exec "$SS_NS"} ss -xpnH 2>/dev/null | awk -v p="pid=$q,fd=5)" 'index($0, p) { print $8; exit }')
        [ -n "$peer" ] && [ -n "$(find "/proc/$sup/fd" -lname "socket:\[$peer\]" 2>/dev/null)" ] || bad_fds+=("5: its peer ($peer) is not a socket of the supervisor")
        listen=$(${SS_NS:+ip netns exec "$SS_NS"} ss -xlpnH 2>/dev/null | awk -v p="pid=$q,fd=4)" 'index($0, p) { print $5; exit }')
        [ "$listen" = "$KVMLAUNCH_RUNDIR/$name/qmp.sock" ] || bad_fds+=("4: listens on '$listen', not the runtime dir's qmp.sock")
        listen=$(${SS_NS:+ip netns exec "$SS_NS"} ss -xlpnH 2>/dev/null | awk -v p="pid=$q,fd=$ctl)" 'index($0, p) { print $5; exit }')
        [ "$listen" = "$KVMLAUNCH_RUNDIR/$name/control.sock" ] || bad_fds+=("$ctl: listens on '$listen', not the runtime dir's control.sock")
    fi
    [ ${#bad_fds[@]} = 0 ] && ok "QEMU's fds are the ones meant: $(printf '%s\n' "${kinds[@]}" | sort | uniq -c | sed 's/^ *//' | paste -sd, - | sed 's/,/, /g')" ||
        { bad "QEMU holds fds kvmlaunch did not mean to pass:"; printf '  %s\n' "${bad_fds[@]}"; ls -l "/proc/$q/fd"; }
}
# QEMU's environment: what spawn_clean_env() gives, nothing of kvmlaunch's.
check_qemu_env() { # PID
    local env
    env=$(tr '\0' '\n' < "/proc/$1/environ" | sort | paste -sd' ' -)
    [ "$env" = "HOME=/ LC_ALL=C.UTF-8 PATH=/usr/local/bin:/usr/bin:/bin" ] && ok "QEMU's environment is minimal: $env" || bad "QEMU's environment: $env"
}

# 1. A guest that boots, prints, ends with its own code.
vm exit "kl.exit=5"
printf '[memory]\nnodes = 0\nmigrate = yes\n' >> "$tmp/exit.ini"
"$bin" "$tmp/exit.ini" > "$tmp/exit.out" 2>&1; rc=$?
[ $rc = 5 ] && ok "exit-device: the guest's code 5 is kvmlaunch's exit code" || { bad "exit code $rc, expected 5"; cat "$tmp/exit.out"; }
grep -q "KVMLAUNCH-GUEST: cpus=2" "$tmp/exit.serial" && ok "the guest saw 2 CPUs (serial log)" || bad "no guest output in $tmp/exit.serial"
grep -q "from start to cont" "$tmp/exit.out" && ok "start-to-cont time logged: $(grep -o '[0-9]* ms from start to cont' "$tmp/exit.out")" || bad "no start-to-cont line"
[ -z "$(leftovers exit)" ] && ok "nothing left after a clean exit" || bad "left after exit: $(leftovers exit)"
# One node here: nothing can move, and the report says so (pages that do
# move are shown on a fake tree, tests/unit/test_placement.c).
grep -Eq "migrate: QEMU pid [0-9]+ memory by node before: node0 [1-9][0-9]* MiB; after: node0 [1-9][0-9]* MiB; 0 MiB moved onto node\(s\) 0$" "$tmp/exit.out" &&
    ! grep -q "still lie off node" "$tmp/exit.out" && ok "migrate = yes: pages by node before and after: $(grep -o 'memory by node before: .*' "$tmp/exit.out")" ||
    { bad "no migrate report"; cat "$tmp/exit.out"; }

vm bye "kl.memprobe=4"
"$bin" "$tmp/bye.ini" > "$tmp/bye.out" 2>&1; rc=$?
[ $rc = 0 ] && grep -q "KVMLAUNCH-GUEST: bye" "$tmp/bye.serial" && ok "a guest that powers off: exit 0" || { bad "poweroff: exit $rc"; cat "$tmp/bye.out"; }
# The memory probe of bench/run ran in the guest: one line, every figure > 0.
probe=$(grep -a "KVMLAUNCH-GUEST: memprobe" "$tmp/bye.serial" | tr -d '\r')
if [[ $probe =~ memprobe\ size_mib=4\ latency_ns=([0-9.]+)\ read_mbs=([0-9]+)\ write_mbs=([0-9]+)\ copy_mbs=([0-9]+)$ ]] &&
    awk -v a="${BASH_REMATCH[1]}" -v b="${BASH_REMATCH[2]}" -v c="${BASH_REMATCH[3]}" -v d="${BASH_REMATCH[4]}" 'BEGIN {exit !(a > 0 && b > 0 && c > 0 && d > 0)}'; then
    ok "kl.memprobe: the guest's memory probe reports (${probe#*memprobe })"
else bad "kl.memprobe: expected a memprobe line with figures > 0, found \"$probe\""; fi

# 2. While a VM runs: privileges of QEMU and of the supervisor, pinning.
vm stay "kl.stay=1"
# env execs kvmlaunch in place: $! is kvmlaunch. The variable must not reach QEMU.
env KLTEST_CANARY=$$ "$bin" "$tmp/stay.ini" > "$tmp/stay.out" 2>&1 &
sup=$!; pids+=($sup)
if wait_for 60 grep -qs "KVMLAUNCH-GUEST: stay" "$tmp/stay.serial"; then
    q=$(qemu_of stay)
    check_threads "$q"
    check_qemu_fds "$q" "$sup" "klrun-$$-stay" "$tmp/stay.serial" "" ""
    check_qemu_env "$q"
    for t in /proc/$q/task/*; do
        case "$(cat "$t/comm")" in
            "CPU 0/"*) [ "$(awk '/Cpus_allowed_list/ {print $2}' "$t/status")" = 1 ] && ok "vcpu0 runs on CPU 1" || bad "vcpu0 allowed $(awk '/Cpus_allowed_list/ {print $2}' "$t/status")" ;;
            "CPU 1/"*) [ "$(awk '/Cpus_allowed_list/ {print $2}' "$t/status")" = 0 ] && ok "vcpu1 runs on CPU 0" || bad "vcpu1 allowed $(awk '/Cpus_allowed_list/ {print $2}' "$t/status")" ;;
        esac
    done
    # Each vCPU thread sits in its own cpuset cgroup (where a cpuset hierarchy exists).
    if grep -q cpuset /proc/self/cgroup 2>/dev/null; then
        for t in /proc/$q/task/*; do
            case "$(cat "$t/comm")" in
                "CPU 0/"*) grep -q "kvmlaunch/klrun-$$-stay/vcpu0" "$t/cgroup" && ok "vcpu0 is in cgroup kvmlaunch/klrun-$$-stay/vcpu0" || bad "vcpu0 cgroup: $(grep cpuset "$t/cgroup")" ;;
            esac
        done
        grep -q "kvmlaunch/klrun-$$-stay/emulator" /proc/$q/cgroup && ok "QEMU's main thread is in the emulator cgroup" || bad "emulator cgroup: $(grep cpuset /proc/$q/cgroup)"
    fi
    ss=$(cat /proc/$sup/status)
    grep -q "^Seccomp:\s*2" <<<"$ss" && grep -q "^NoNewPrivs:\s*1" <<<"$ss" && ok "supervisor: Seccomp 2, NoNewPrivs 1, $(grep CapEff <<<"$ss" | tr -s '\t' ' ')" || bad "supervisor not locked down: $(grep -E 'Cap|Seccomp|NoNewPrivs' <<<"$ss" | tr '\n' ' ')"
    echo "measure: supervisor RSS $(awk '/VmRSS/ {print $2, $3}' /proc/$sup/status)"
    # A second start of the same VM fails at once.
    start=$SECONDS
    "$bin" "$tmp/stay.ini" > "$tmp/second.out" 2>&1; rc=$?
    [ $rc = 1 ] && grep -q "already running" "$tmp/second.out" && [ $((SECONDS - start)) -lt 5 ] && ok "second start fails fast: $(grep -o 'error: .*' "$tmp/second.out" | head -1)" || { bad "second start: exit $rc"; cat "$tmp/second.out"; }
    "$bin" list | grep -q "klrun-$$-stay" && ok "list shows the VM" || bad "list: $("$bin" list)"
    "$bin" status "klrun-$$-stay" --json > "$tmp/status.json" 2>&1 && grep -qE '"state": ?"running"' "$tmp/status.json" && ok "status --json: running" || { bad "status"; cat "$tmp/status.json"; }
    # SIGTERM: the guest powers down (ACPI), kvmlaunch exits 0, nothing left.
    kill -TERM $sup
    wait $sup; rc=$?
    [ $rc = 0 ] && ok "SIGTERM: guest powered down, exit 0" || { bad "SIGTERM: exit $rc"; cat "$tmp/stay.out"; }
    grep -q "KVMLAUNCH-GUEST: exit=" "$tmp/stay.serial" || grep -q "KVMLAUNCH-GUEST: bye" "$tmp/stay.serial" && ok "the guest itself handled the power button" || bad "guest did not see the power button"
    [ -z "$(leftovers stay)" ] && ok "nothing left after SIGTERM" || bad "left after SIGTERM: $(leftovers stay)"
else
    bad "the staying guest did not come up"; cat "$tmp/stay.out"
fi

# 2b. With taps (a VM without a kernel, in a network namespace of this
# test's own): the queues sit at the fds of hostfacts' layout, after the
# serial socket's; the same privileges and environment.
if [ -c /dev/net/tun ] && command -v ip >/dev/null && ip netns add "klrun$$" 2>/dev/null; then
    ns=klrun$$
    defer ip netns del "$ns"
    vm_ini tap vm.memory=64M vm.kernel= vm.initrd= vm.append= vm.shutdown-timeout=0s '[net "lan"]' "tap = kl-rt$$" "queues = 2"
    # ip netns exec execs kvmlaunch in place: $! is kvmlaunch itself.
    ip netns exec "$ns" "$bin" "$tmp/tap.ini" > "$tmp/tap.out" 2>&1 &
    sup=$!; pids+=($sup)
    if wait_for 60 grep -qs "^Seccomp:\s*2" "/proc/$sup/status"; then
        q=$(qemu_of tap)
        # 3 QMP, 4 status, 5 serial; taps 6 7; vhost-net 8 9 where it opens.
        vh=""; grep -q "vhost: /dev/vhost-net cannot be opened" "$tmp/tap.out" || vh="8 9"
        check_threads "$q"
        SS_NS=$ns check_qemu_fds "$q" "$sup" "klrun-$$-tap" "$tmp/tap.serial" "6 7" "$vh"
        check_qemu_env "$q"
        "$bin" stop "klrun-$$-tap" > /dev/null 2>&1; wait $sup; rc=$?
        [ $rc = 0 ] && [ -z "$(leftovers tap)" ] && [ -z "$(ip netns exec "$ns" ip -o link show | grep "kl-rt$$")" ] &&
            ok "the VM with taps stopped: exit 0, tap and runtime dir gone" || bad "tap VM: exit $rc, left: $(leftovers tap)"
    else
        bad "the VM with taps did not come up"; cat "$tmp/tap.out"
    fi
    ip netns del "$ns"
else
    skip "no network namespace with a tap here: QEMU's fds with taps not checked"
fi

# 3. kill -9 QEMU: kvmlaunch exits non-zero and cleans up.
vm k1 "kl.stay=1"
"$bin" "$tmp/k1.ini" > "$tmp/k1.out" 2>&1 &
sup=$!; pids+=($sup)
if wait_for 60 grep -qs "KVMLAUNCH-GUEST: stay" "$tmp/k1.serial"; then
    kill -9 "$(qemu_of k1)"
    wait $sup; rc=$?
    [ $rc != 0 ] && grep -q "killed by signal 9" "$tmp/k1.out" && ok "kill -9 QEMU: exit $rc, says so" || { bad "kill -9 QEMU: exit $rc"; cat "$tmp/k1.out"; }
    [ -z "$(leftovers k1)" ] && ok "nothing left after QEMU was killed" || bad "left: $(leftovers k1)"
else
    bad "k1 did not come up"; cat "$tmp/k1.out"
fi

# 4. kill -9 kvmlaunch: QEMU dies with it (PDEATHSIG); cleanup removes the rest.
vm k2 "kl.stay=1"
"$bin" "$tmp/k2.ini" > "$tmp/k2.out" 2>&1 &
sup=$!; pids+=($sup)
if wait_for 60 grep -qs "KVMLAUNCH-GUEST: stay" "$tmp/k2.serial"; then
    kill -9 $sup; wait $sup 2>/dev/null
    wait_for 10 test -z "$(qemu_of k2)" && ok "kill -9 kvmlaunch: QEMU died with it" || bad "QEMU outlived kvmlaunch"
    "$bin" cleanup "klrun-$$-k2" > "$tmp/cl.out" 2>&1; rc=$?
    [ $rc = 0 ] && [ -z "$(leftovers k2)" ] && ok "cleanup leaves nothing" || { bad "cleanup: exit $rc, left: $(leftovers k2)"; cat "$tmp/cl.out"; }
else
    bad "k2 did not come up"; cat "$tmp/k2.out"
fi

# 5. Two racing starts: exactly one runs.
vm race "kl.stay=1"
"$bin" "$tmp/race.ini" > "$tmp/race1.out" 2>&1 & a=$!
"$bin" "$tmp/race.ini" > "$tmp/race2.out" 2>&1 & b=$!
pids+=($a $b)
sleep 1
if wait_for 60 grep -qs "KVMLAUNCH-GUEST: stay" "$tmp/race.serial"; then
    n=$(pgrep -fc "guest=klrun-$$-race,")
    [ "$n" = 1 ] && ok "two racing starts: one QEMU" || bad "two racing starts: $n QEMUs"
    grep -q "already running" "$tmp/race1.out" "$tmp/race2.out" && ok "the other start said it is already running" || bad "no 'already running' from the loser"
    kill -TERM $a $b 2>/dev/null; wait $a $b 2>/dev/null
else
    bad "race VM did not come up"; cat "$tmp/race1.out" "$tmp/race2.out"
fi
[ -z "$(leftovers race)" ] && ok "nothing left after the race" || bad "left after race: $(leftovers race)"

# 6. kvmlaunch stop NAME: graceful, waits until the VM is gone.
vm stop "kl.stay=1"
"$bin" "$tmp/stop.ini" > "$tmp/stop.out" 2>&1 &
sup=$!; pids+=($sup)
if wait_for 60 grep -qs "KVMLAUNCH-GUEST: stay" "$tmp/stop.serial"; then
    "$bin" stop "klrun-$$-stop" > "$tmp/stopcmd.out" 2>&1; rc=$?
    wait $sup; src=$?
    [ $rc = 0 ] && [ $src = 0 ] && [ -z "$(leftovers stop)" ] && ok "kvmlaunch stop: guest powered down, both exit 0, nothing left" || { bad "stop: exit $rc, supervisor $src, left: $(leftovers stop)"; cat "$tmp/stopcmd.out" "$tmp/stop.out"; }
else
    bad "stop VM did not come up"; cat "$tmp/stop.out"
fi
"$bin" stop "klrun-$$-stop" > /dev/null 2>&1; rc=$?
[ $rc = 1 ] && ok "stop of a VM that is not running: exit 1" || bad "stop of a stopped VM: exit $rc"
"$bin" status "../etc" > /dev/null 2>&1; rc=$?
[ $rc = 2 ] && ok "status refuses a name that is not a VM name" || bad "status ../etc: exit $rc"

# 7. A CPU that does not exist: exit 2 before anything starts.
vm nocpu "" "1,4095"
"$bin" "$tmp/nocpu.ini" > "$tmp/nocpu.out" 2>&1; rc=$?
[ $rc = 2 ] && grep -q "found CPU 4095" "$tmp/nocpu.out" && [ ! -e "$KVMLAUNCH_RUNDIR/klrun-$$-nocpu" ] && ok "missing CPU: exit 2, nothing created" || { bad "missing CPU: exit $rc"; cat "$tmp/nocpu.out"; }

# 8. The timeout: exit 124.
vm slow "kl.stay=1"
sed -i 's/^timeout = 120s/timeout = 8s/' "$tmp/slow.ini"
"$bin" "$tmp/slow.ini" > "$tmp/slow.out" 2>&1; rc=$?
[ $rc = 124 ] && ok "timeout: exit 124" || { bad "timeout: exit $rc"; cat "$tmp/slow.out"; }
[ -z "$(leftovers slow)" ] && ok "nothing left after the timeout" || bad "left after timeout: $(leftovers slow)"
finish
