#!/usr/bin/env bash
# Networking for real, inside a network namespace this test creates (the
# host's own interfaces are never touched): a 4-vCPU VM with 4 queues on a
# bridge; the guest sees 4 rx and 4 tx queues; the tap has 4 queues, rx
# steered to the vCPUs' CPUs (RPS; the tap's XPS is inert: test_steering.sh) while the VM runs and is gone after it. Bad input: exit
# 2 and nothing created.
set -u
. "$(dirname "$0")/lib.sh"
need_root "network namespaces, taps"
need_guest; need_tun; need_cmd ip -- iproute2
make_netns klnet
make_tmp --rundir
vms_named klnet-$$
in_ns ip link set lo up
in_ns ip link add br0 type bridge
in_ns ip link set br0 up
before=$(links)

vm_preset guest
vm() { # NAME NETLINES [APPEND]
    vm_ini "$1" vm.vcpus=4 "vm.append=console=ttyS0 quiet ${3:-kl.stay=1}" vm.timeout=150s \
        cpu.vcpu.0=0 cpu.vcpu.1=1 cpu.vcpu.2=0 cpu.vcpu.3=1 '[net "lan"]' "$2"
}

vm mq "bridge = br0
queues = 4
tap = kl-mq$$"
# ip netns exec execs kvmlaunch in place: $! is kvmlaunch itself.
ip netns exec $ns "$bin" "$tmp/mq.ini" > "$tmp/mq.out" 2>&1 & sup=$!
if wait_for 120 grep -qs "KVMLAUNCH-GUEST: stay" "$tmp/mq.serial"; then
    grep -q "netdev=eth0 .* rxq=4 txq=4" "$tmp/mq.serial" && ok "the guest sees 4 rx and 4 tx queues" || { bad "guest queues: $(grep netdev= "$tmp/mq.serial")"; }
    t=kl-mq$$
    n=$(in_ns sh -c "ls -d /sys/class/net/$t/queues/rx-* | wc -l")
    [ "$n" = 4 ] && ok "tap $t has 4 queues" || bad "tap queues: $n"
    in_ns sh -c "[ \$(cat /sys/class/net/$t/brport/bridge/uevent | grep -c INTERFACE=br0) = 1 ]" && ok "tap is a port of br0" || bad "tap not on br0"
    masks() { in_ns sh -c "for q in 0 1 2 3; do cat /sys/class/net/$t/queues/rx-\$q/rps_cpus; done" | tr -d '0,\n'; }
    # QEMU attaches queues 1-3 only when the guest enables them, and the
    # kernel recreates their files then: the supervisor steers them again.
    wait_for 15 test "$(masks)" = 1212
    masks=$(masks)
    [ "$masks" = "1212" ] && ok "rx-i/rps_cpus follows vCPU i (CPUs 0,1,0,1)" || bad "steering masks: $masks"
    xmasks=$(in_ns sh -c "cat /sys/class/net/$t/queues/tx-*/xps_cpus" | tr -d '0,\n')
    [ -z "$xmasks" ] && ok "tx-i/xps_cpus left alone (the tun driver never asks XPS)" || bad "xps masks written: $xmasks"
    kill -TERM $sup; wait $sup; rc=$?
    [ $rc = 0 ] && ok "VM ended: exit 0" || { bad "exit $rc"; cat "$tmp/mq.out"; }
else
    bad "the VM did not come up"; cat "$tmp/mq.out"; kill -9 $sup 2>/dev/null
fi
[ "$(links)" = "$before" ] && ok "after exit the tap is gone, the namespace as it was ($before)" || bad "namespace now: $(links), was: $before"

# Bad input: exit 2 and nothing created.
vm nobr "bridge = br9"
in_ns "$bin" "$tmp/nobr.ini" > "$tmp/nobr.out" 2>&1; rc=$?
[ $rc = 2 ] && grep -q "found no interface br9" "$tmp/nobr.out" && ok "missing bridge: exit 2" || { bad "missing bridge: exit $rc"; cat "$tmp/nobr.out"; }
in_ns ip tuntap add kl-sq$$ mode tap
vm sq "tap = kl-sq$$
queues = 2"
in_ns "$bin" "$tmp/sq.ini" > "$tmp/sq.out" 2>&1; rc=$?
[ $rc = 2 ] && grep -q "without IFF_MULTI_QUEUE" "$tmp/sq.out" && ok "a tap without multi-queue: exit 2" || { bad "single-queue tap: exit $rc"; cat "$tmp/sq.out"; }
in_ns ip link del kl-sq$$
vm many "queues = 17"
in_ns "$bin" "$tmp/many.ini" > "$tmp/many.out" 2>&1; rc=$?
[ $rc = 2 ] && grep -q "expected a number from 1 to 16" "$tmp/many.out" && ok "queues = 17: exit 2" || { bad "queues 17: exit $rc"; cat "$tmp/many.out"; }
if [ ! -e /dev/vhost-net ]; then
    vm von "vhost = on"
    in_ns "$bin" "$tmp/von.ini" > "$tmp/von.out" 2>&1; rc=$?
    [ $rc = 2 ] && grep -q "vhost-net" "$tmp/von.out" && ok "vhost = on without /dev/vhost-net: exit 2" || { bad "vhost on: exit $rc"; cat "$tmp/von.out"; }
    skip "vhost-net e2e: /dev/vhost-net does not exist on this machine (argv with vhostfds is covered by golden tests)"
else
    # The vhost-net workers on [cpu] vhost (CPU 1), as the fake tree of
    # tests/unit/test_placement.c shows without the device.
    vm_ini vh vm.vcpus=4 "vm.append=console=ttyS0 quiet kl.stay=1" vm.timeout=150s cpu.vcpu.0=0 cpu.vcpu.1=1 cpu.vcpu.2=0 cpu.vcpu.3=1 \
        cpu.vhost=1 '[net "lan"]' "bridge = br0
queues = 2
vhost = on"
    ip netns exec $ns "$bin" "$tmp/vh.ini" > "$tmp/vh.out" 2>&1 & sup=$!
    if wait_for 120 grep -qs "KVMLAUNCH-GUEST: stay" "$tmp/vh.serial"; then
        q=$(pgrep -f "guest=klnet-$$-vh," | head -1)
        ls -l /proc/$q/fd | grep -q vhost-net && ok "QEMU holds /dev/vhost-net fds" || bad "no vhost-net fds in QEMU"
        # Tasks of QEMU since Linux 6.4, kernel threads before.
        workers=$(for t in /proc/$q/task/* $(grep -lx "vhost-$q" /proc/[0-9]*/comm 2> /dev/null | xargs -r -n1 dirname); do
            [ "$(cat "$t/comm" 2> /dev/null)" = "vhost-$q" ] && awk '/^Cpus_allowed_list:/ { print $2 }' "$t/status"; done | sort -u | paste -sd' ' -)
        [ "$workers" = 1 ] && ok "the vhost-net workers run on [cpu] vhost = 1" || bad "vhost-net workers on: '${workers:-none found}'"
        kill -TERM $sup; wait $sup
    else
        bad "vhost VM did not come up"; cat "$tmp/vh.out"; kill -9 $sup
    fi
fi
[ "$(links)" = "$before" ] && ok "bad input created nothing in the namespace" || bad "namespace now: $(links)"
[ -z "$(ls -A "$KVMLAUNCH_RUNDIR" 2>/dev/null | grep -v '^host\.')" ] && ok "no runtime dirs left" || bad "left: $(ls "$KVMLAUNCH_RUNDIR")"
finish
