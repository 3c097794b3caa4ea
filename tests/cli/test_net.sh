#!/usr/bin/env bash
# Networking for real, inside a network namespace this test creates (the
# host's own interfaces are never touched): a 4-vCPU VM with 4 queues on a
# bridge; the guest sees 4 rx and 4 tx queues; the tap has 4 queues steered
# to the vCPUs' CPUs while the VM runs and is gone after it. Bad input: exit
# 2 and nothing created.
set -u
bin=$(realpath "${KVMLAUNCH_BIN:-./kvmlaunch}")
cd "$(dirname "$0")/../.."
top=$(pwd)
guest=$top/tests/guest/out
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (network namespaces, taps)"; exit 77; }
[ -f "$guest/vmlinuz" ] || { echo "SKIP: the test guest is not built (tests/guest/build.sh)"; exit 77; }
[ -c /dev/net/tun ] || { echo "SKIP: no /dev/net/tun"; exit 77; }
command -v ip >/dev/null || { echo "SKIP: iproute2 is not installed"; exit 77; }
ns=klnet$$
ip netns add $ns || { echo "SKIP: cannot create a network namespace"; exit 77; }
tmp=$(mktemp -d)
export KVMLAUNCH_RUNDIR=$tmp/run
cleanup() { pkill -9 -f "guest=klnet-$$-" 2>/dev/null; ip netns del $ns 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
in_ns() { ip netns exec $ns "$@"; }
in_ns ip link set lo up
in_ns ip link add br0 type bridge
in_ns ip link set br0 up
fail=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fail=1; }
wait_for() { local end=$((SECONDS + $1)); shift; while [ $SECONDS -lt $end ]; do "$@" && return 0; sleep 0.2; done; return 1; }
links() { in_ns ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | sort | tr '\n' ' '; }
before=$(links)

vm() { # NAME NETLINES [APPEND]
    cat > "$tmp/$1.ini" <<INI
[vm]
name = klnet-$$-$1
memory = 256M
vcpus = 4
user = nobody
kernel = $guest/vmlinuz
initrd = $guest/initrd.img
append = console=ttyS0 quiet ${3:-kl.stay=1}
serial = file:$tmp/$1.serial
shutdown-timeout = 20s
timeout = 150s
[cpu]
vcpu.0 = 0
vcpu.1 = 1
vcpu.2 = 0
vcpu.3 = 1
[balloon]
enabled = no
[net "lan"]
$2
INI
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
    masks() { in_ns sh -c "for q in 0 1 2 3; do cat /sys/class/net/$t/queues/rx-\$q/rps_cpus /sys/class/net/$t/queues/tx-\$q/xps_cpus; done" | tr -d '0,\n'; }
    # QEMU attaches queues 1-3 only when the guest enables them, and the
    # kernel recreates their files then: the supervisor steers them again.
    wait_for 15 test "$(masks)" = 11221122
    masks=$(masks)
    [ "$masks" = "11221122" ] && ok "rx-i/rps_cpus and tx-i/xps_cpus follow vCPU i (CPUs 0,1,0,1)" || bad "steering masks: $masks"
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
    echo "skip: vhost-net e2e: /dev/vhost-net does not exist on this machine (argv with vhostfds is covered by golden tests)"
else
    vm vh "bridge = br0
queues = 2
vhost = on"
    ip netns exec $ns "$bin" "$tmp/vh.ini" > "$tmp/vh.out" 2>&1 & sup=$!
    if wait_for 120 grep -qs "KVMLAUNCH-GUEST: stay" "$tmp/vh.serial"; then
        ls -l /proc/$(pgrep -f "guest=klnet-$$-vh," | head -1)/fd | grep -q vhost-net && ok "QEMU holds /dev/vhost-net fds" || bad "no vhost-net fds in QEMU"
        kill -TERM $sup; wait $sup
    else
        bad "vhost VM did not come up"; cat "$tmp/vh.out"; kill -9 $sup
    fi
fi
[ "$(links)" = "$before" ] && ok "bad input created nothing in the namespace" || bad "namespace now: $(links)"
[ -z "$(ls -A "$KVMLAUNCH_RUNDIR" 2>/dev/null | grep -v '^host\.')" ] && ok "no runtime dirs left" || bad "left: $(ls "$KVMLAUNCH_RUNDIR")"
exit $fail
