#!/usr/bin/env bash
# One VM never takes another's network (issue 20, case 2), inside a network
# namespace this test creates: VM vma runs on bridge br0 with its tap; VM
# vmb naming vma's tap is refused (check: FAIL, run: exit 2) naming vma, and
# vma keeps its tap alone; a tap some other process has a queue of is
# refused too; a VM with vma's MAC on br0 is refused, on another bridge it
# is not; an admin's persistent tap nobody uses still runs a VM, and stays;
# a tap without multi_queue is refused before the run tries it.
set -u
. "$(dirname "$0")/lib.sh"
need_root "network namespaces, taps"
need_guest; need_tun; need_cmd ip -- iproute2
make_netns kltap
make_tmp --rundir
vms_named kltap-$$
in_ns ip link set lo up
for br in br0 br1; do in_ns ip link add $br type bridge && in_ns ip link set $br up; done
before=$(links)

vm_preset guest
mac=02:4b:4c:00:$(printf '%02x:%02x' $(($$ % 256)) $(($$ / 256 % 256)))
ta=kla$$ tp=klp$$
# The guests of the VMs that must be refused power off at once: were one
# to start (today's code), its run would end by itself.
vm() { # ID NETLINES [STAY]
    vm_ini "$1" vm.vcpus=2 "vm.append=console=ttyS0 quiet ${3:-}" vm.timeout=150s '[net "lan"]' "$2"
}
queues_of() { in_ns ip -d link show "$1" 2> /dev/null | grep -o 'numqueues [0-9]*' | cut -d' ' -f2; }
# refused ID WHAT REGEX: check says FAIL and the run exits 2, both naming REGEX, and nothing of ID is left.
refused() {
    local id=$1 what=$2 re=$3 rc
    in_ns "$bin" check "$tmp/$id.ini" > "$tmp/$id.check" 2>&1; rc=$?
    if [ $rc != 0 ] && grep -Eq "^FAIL +network +.*$re" "$tmp/$id.check"; then ok "check: $what is a FAIL (exit $rc)"
    else bad "check on $what: exit $rc"; cat "$tmp/$id.check"; fi
    in_ns timeout 120 "$bin" "$tmp/$id.ini" > "$tmp/$id.out" 2>&1; rc=$?
    if [ $rc = 2 ] && grep -Eq "$re" "$tmp/$id.out"; then ok "run: $what is refused, exit 2"
    else bad "run on $what: exit $rc"; cat "$tmp/$id.out"; fi
    local left; left=$(leftovers "$id")
    [ -z "$left" ] && ok "nothing of $id is left" || bad "left of $id: $left"
}

vm a "bridge = br0
tap = $ta
queues = 2
mac = $mac" kl.stay=1
# ip netns exec execs kvmlaunch in place: $! is kvmlaunch itself.
ip netns exec $ns "$bin" "$tmp/a.ini" > "$tmp/a.out" 2>&1 & sup=$!
pids+=($sup)
if ! wait_for 120 grep -qs "KVMLAUNCH-GUEST: stay" "$tmp/a.serial"; then
    bad "vma did not come up"; cat "$tmp/a.out"; finish
fi
qa=$(queues_of $ta)
[ "$qa" = 2 ] && ok "vma's tap $ta has its 2 queues" || bad "vma's tap: numqueues '$qa'"
vma=$(name a)

# vmb names vma's tap (no bridge, as in the issue: nothing else fails
# then): it would get part of vma's traffic.
vm b "tap = $ta"
refused b "vma's tap" "$ta held by the running VM $vma"
[ "$(queues_of $ta)" = "$qa" ] && ok "vma's tap still has $qa queues, none of vmb's" || bad "vma's tap now has $(queues_of $ta) queues"
vm_running a && ok "vma still runs" || bad "vma is not running"
in_ns sh -c "grep -q INTERFACE=br0 /sys/class/net/$ta/brport/bridge/uevent" && ok "vma's tap still on br0" || bad "vma's tap left br0"

# vma started again: its own tap and MAC are no other VM's; its lock stops it.
in_ns "$bin" "$tmp/a.ini" > "$tmp/a2.out" 2>&1; rc=$?
[ $rc = 1 ] && grep -q "already running" "$tmp/a2.out" && ! grep -q "expected a" "$tmp/a2.out" && ok "vma again: already running (exit 1), no word of its tap" || { bad "vma again: exit $rc"; cat "$tmp/a2.out"; }

# vma's MAC on br0 is refused; on br1 it is vmc's own matter.
vm c "bridge = br0
mac = $mac"
refused c "vma's MAC on br0" "mac: .*$mac, the MAC of the running VM $vma"
vm d "bridge = br1
mac = $mac"
in_ns "$bin" check "$tmp/d.ini" > "$tmp/d.check" 2>&1; rc=$?
[ $rc = 0 ] && ! grep -q "^FAIL" "$tmp/d.check" && ok "check: vma's MAC on another bridge passes" || { bad "check on br1: exit $rc"; cat "$tmp/d.check"; }

kill -TERM $sup; wait $sup; rc=$?
[ $rc = 0 ] && ok "vma ended: exit 0" || { bad "vma: exit $rc"; cat "$tmp/a.out"; }
[ -z "$(leftovers a)" ] && ok "nothing of vma is left" || bad "left of vma: $(leftovers a)"

# An admin's persistent multi-queue tap: while a process that is no
# kvmlaunch VM holds a queue of it, refused; unused (and a port of br0
# already), a VM runs on it.
in_ns ip tuntap add $tp mode tap multi_queue
defer in_ns ip link del $tp
vm p "bridge = br0
tap = $tp
queues = 2" kl.stay=1
vm h "bridge = br0
tap = $tp
queues = 2"
if command -v python3 > /dev/null; then
    # Holds one queue of the tap until its stdin closes.
    coproc HOLDER { in_ns python3 -c '
import fcntl, os, struct, sys
fd = os.open("/dev/net/tun", os.O_RDWR)
fcntl.ioctl(fd, 0x400454ca, struct.pack("16sH22x", sys.argv[1].encode(), 0x0002 | 0x1000 | 0x4000 | 0x0100))
print("held", flush=True)
sys.stdin.read()' $tp; }
    read -r -t 10 line <&"${HOLDER[0]}"
    [ "${line:-}" = held ] || bad "the holder could not attach to $tp"
    refused h "a tap another process holds a queue of" "$tp with 1 queue attached by a process that is no running kvmlaunch VM"
    eval "exec ${HOLDER[1]}>&-"; wait $HOLDER_PID
else
    skip "a tap held by a process other than a VM: python3 is not installed"
fi
[ "$(queues_of $tp)" = 0 ] && ok "$tp is unused" || bad "$tp: numqueues $(queues_of $tp)"
# As admins set such a tap up: a port of the bridge already.
in_ns ip link set $tp master br0
ip netns exec $ns "$bin" "$tmp/p.ini" > "$tmp/p.out" 2>&1 & sup=$!
pids+=($sup)
if wait_for 120 grep -qs "KVMLAUNCH-GUEST: stay" "$tmp/p.serial"; then
    ok "a VM runs on the admin's unused persistent tap"
    [ "$(queues_of $tp)" = 2 ] && ok "$tp has the VM's 2 queues" || bad "$tp: numqueues $(queues_of $tp)"
    kill -TERM $sup; wait $sup; rc=$?
    [ $rc = 0 ] && ok "its VM ended: exit 0" || { bad "exit $rc"; cat "$tmp/p.out"; }
else
    bad "no VM on the persistent tap"; cat "$tmp/p.out"; kill -9 $sup 2> /dev/null
fi
[ "$(queues_of $tp)" = 0 ] && ok "the persistent tap stays, unused again" || bad "$tp after the VM: '$(queues_of $tp)'"
in_ns ip link del $tp
# A tap made without multi_queue: kvmlaunch attaches queues as a multi-queue
# tap's, which the kernel refuses on it (EINVAL), so check says so first.
in_ns ip tuntap add $tp mode tap
vm s "bridge = br0
tap = $tp
queues = 1"
refused s "a single-queue tap" "$tp without IFF_MULTI_QUEUE"
in_ns ip link del $tp
[ "$(links)" = "$before" ] && ok "the namespace is as it was ($before)" || bad "namespace now: $(links), was: $before"
[ -z "$(ls -A "$KVMLAUNCH_RUNDIR" 2> /dev/null | grep -v '^host\.')" ] && ok "no runtime dirs left" || bad "left: $(ls "$KVMLAUNCH_RUNDIR")"
finish
