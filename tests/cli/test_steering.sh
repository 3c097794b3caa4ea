#!/usr/bin/env bash
# Queue steering, measured (docs/TUNING.md, "Interrupt handling"): which CPU
# handles each queue in each direction, with kvmlaunch's settings and
# without them. Everything runs inside network namespaces this test makes.
#
# 1. A tap: the test guest (kl.steer=1: 2 vCPUs, 2 queues, TCG, no vhost)
#    sends each TCP connection on a tx queue it chooses (its own XPS), and a
#    client in the namespace, pinned to a CPU, has it echoed back.
#    - guest -> host: QEMU's main thread (on the emulator's CPU 0) writes
#      queue 1's packets into the tap; with steering, rx-1/rps_cpus moves
#      their protocol work to vCPU 1's CPU 1 (the socket's SO_INCOMING_CPU
#      says where it ran); with steering = no it stays on CPU 0.
#    - host -> guest: the tun driver picks the queue itself (automq: the
#      queue the guest last sent the flow on), whatever tx-i/xps_cpus say:
#      the test points the tap's XPS at the other queue and counts each tx
#      queue's packets (the tap's mq qdisc classes).
# 2. A veth pair standing for a [hostnic] (one end in each of two
#    namespaces), with the plan applied through the product's functions
#    (test_hostnic's helper): xps = spread picks the tx queue by the sending
#    CPU, rps-cpus moves the receive work off the sender's CPU; with
#    xps = off and rps-cpus = off neither happens.
set -u
. "$(dirname "$0")/lib.sh"
need_root "network namespaces, taps, queue files"
need_guest; need_tun; need_cmd ip tc python3 -- iproute2, python3
probe=$top/tests/helpers/steer_probe.py
# The interpreter itself: a version manager's shim costs a second a start.
py=$(python3 -c 'import sys; print(sys.executable)')
helper=$(dirname "$bin")/tests/unit/test_hostnic
online=$(cat /sys/devices/system/cpu/online)
# CPUs 0 and 1 carry the measurement: a box with one CPU cannot tell.
grep -Eq '^0-([1-9]|[1-9][0-9]+)(,|$)|^0,1(,|-|$)' <<<"$online" || skip_all "needs CPUs 0 and 1 online (online: $online)"
make_netns klst
make_tmp --rundir
vms_named klst-$$
in_ns ip link set lo up
vm_preset guest

# Packets sent on the tap's (or veth's) tx queues 0 and 1: "N0 N1".
txq() { # DEV [NS]
    ip netns exec "${2:-$ns}" tc -s class show dev "$1" |
        awk '/^class mq/ {q = $3; sub(/.*:/, "", q); next} /Sent/ {if (q == "1") a = $4; if (q == "2") b = $4; q = ""} END {print a + 0, b + 0}'
}
# NET_RX softirqs of CPUs 0 and 1 so far: "N0 N1".
netrx() { awk '/NET_RX/ {print $2, $3}' /proc/softirqs; }
# The share of samples "CPU:N,..." that name CPU, in percent.
share() { # HIST CPU
    awk -v h="$1" -v c="$2" 'BEGIN {n = split(h, p, ","); for (i = 1; i <= n; i++) {split(p[i], kv, ":"); t += kv[2]; if (kv[1] == c) m += kv[2]}; print t ? int(100 * m / t) : 0}'
}

# ---- 1. the tap -------------------------------------------------------------
tap_run() { # ID STEERING
    local id=$1 t=kl-$1$$ q sup out before after hist
    vm_ini "$id" vm.vcpus=2 "vm.append=console=ttyS0 quiet kl.steer=1" cpu.vcpu.0=0 cpu.vcpu.1=1 cpu.emulator=0 \
        '[net "lan"]' "tap = $t
queues = 2
steering = $2"
    ip netns exec $ns "$bin" "$tmp/$id.ini" > "$tmp/$id.out" 2>&1 & sup=$!
    pids+=($sup)
    if ! wait_for 60 in_ns ip link show "$t" > /dev/null 2>&1; then
        bad "steering = $2: the tap did not appear"; cat "$tmp/$id.out"; return
    fi
    in_ns ip addr add 10.77.0.1/24 dev "$t"
    for q in 0 1; do
        if ! wait_for 120 grep -qs "steer q=$q" "$tmp/$id.serial"; then
            bad "steering = $2: the guest did not reach queue $q"; cat "$tmp/$id.out" "$tmp/$id.serial"; break
        fi
        if [ $q = 0 ]; then
            grep -q "netdev=eth0 .* rxq=2 txq=2" "$tmp/$id.serial" || bad "steering = $2: guest queues: $(grep netdev= "$tmp/$id.serial")"
            # What kvmlaunch left in the tap's queue files. Queue 1's are
            # made anew when the guest enables it, and the supervisor
            # steers them within a second (as test_net.sh waits for too).
            qfiles() { in_ns sh -c "cd /sys/class/net/$t/queues && for f in rx-0/rps_cpus rx-1/rps_cpus tx-0/xps_cpus tx-1/xps_cpus; do printf '%s=%s ' \$f \$(cat \$f | tr -d ,); done"; }
            [ "$2" = yes ] && wait_for 15 eval '[[ "$(qfiles)" =~ rx-1/rps_cpus=0*2\  ]]'
            qfiles > "$tmp/$id.masks"
        fi
        # XPS, were it obeyed, would send everything on the other queue.
        in_ns sh -c "echo 3 > /sys/class/net/$t/queues/tx-$((1 - q))/xps_cpus; echo 0 > /sys/class/net/$t/queues/tx-$q/xps_cpus"
        before=$(txq "$t") rx0=$(netrx)
        out=$(in_ns timeout 60 "$py" "$probe" echo 10.77.0.2 $((7000 + q)) $((1 - q)) 131072)
        after=$(txq "$t") rx1=$(netrx)
        hist=${out#incoming=}; hist=${hist%% *}
        read -r b0 b1 <<<"$before"; read -r a0 a1 <<<"$after"
        read -r r0 r1 <<<"$rx0"; read -r s0 s1 <<<"$rx1"
        # In the guest: rx queue Q's interrupts per vCPU over the connection.
        wait_for 30 grep -qs "steer-irq after=$q .*-input\.$q " "$tmp/$id.serial"
        irq() { sed -n "s/.*steer-irq $1=$q [^ ]*-input\.$q cpu0=\([0-9]*\) cpu1=\([0-9]*\).*/\1 \2/p" "$tmp/$id.serial" | tail -1; }
        read -r i0 i1 <<<"$(irq before)"; read -r j0 j1 <<<"$(irq after)"
        gi="$((${j0:-0} - ${i0:-0})),$((${j1:-0} - ${i1:-0}))"
        # For docs/TUNING.md: the whole measurement, one line a connection.
        echo "# steering=$2 guest-tx-queue=$q client-cpu=$((1 - q)) handled-on(SO_INCOMING_CPU samples)=$hist" \
            "host->guest-packets(queue0,queue1)=$((a0 - b0)),$((a1 - b1)) guest-rx$q-irqs(vcpu0,vcpu1)=$gi NET_RX(cpu0,cpu1)=+$((s0 - r0)),+$((s1 - r1))"
        eval "tx_$id$q=\"$((a0 - b0)) $((a1 - b1))\" in_$id$q=\$hist irq_$id$q=\$gi"
    done
    # The guest powers off after its last connection.
    wait_for 60 eval '! kill -0 $sup 2> /dev/null' || kill -TERM $sup
    wait $sup; local rc=$?
    [ $rc = 0 ] || { bad "steering = $2: exit $rc"; cat "$tmp/$id.out"; }
}
# The share of host -> guest packets on queue Q: "N0 N1" Q -> percent.
on_queue() { local a b; read -r a b <<<"$1"; [ $((a + b)) -gt 0 ] || { echo 0; return; }; echo $((100 * ($2 == 0 ? a : b) / (a + b))); }

tap_run on yes
tap_run off no
masks=$(cat "$tmp/on.masks" 2> /dev/null)
[[ "$masks" =~ rx-0/rps_cpus=0*1\ rx-1/rps_cpus=0*2\ tx-0/xps_cpus=0+\ tx-1/xps_cpus=0+\  ]] &&
    ok "steering = yes: rx-i/rps_cpus hold vCPU i's CPU (0, 1), and the inert tx-i/xps_cpus are left alone" || bad "tap masks: $masks"
for id in on off; do
    for q in 0 1; do
        eval "tx=\${tx_$id$q:-}"
        [ -n "$tx" ] || continue
        [ "$(on_queue "$tx" $q)" -ge 90 ] &&
            ok "steering = $([ $id = on ] && echo yes || echo no), host -> guest: the flow the guest sent on queue $q came back on queue $q (packets per queue: $tx), not the queue the tap's XPS names" ||
            bad "steering $id: the guest sent on queue $q, the host's packets per queue: $tx"
    done
done
# The guest's virtio-net sends from vCPU i on tx queue i by itself: with
# automq, a flow's packets come back on the queue, and so to the vCPU, that
# sent it.
x=$(grep -ho "steer-xps .*" "$tmp/on.serial" 2> /dev/null | head -1 | tr -d ',\r')
[[ "$x" =~ ^steer-xps\ tx-0=0*1\ tx-1=0*2$ ]] && ok "the guest's own XPS: vCPU 0 sends on tx queue 0, vCPU 1 on tx queue 1 ($x)" || bad "guest XPS: $x"
for q in 0 1; do
    eval "gi=\${irq_on$q:-}"
    [ -n "$gi" ] || continue
    [ "$(share "0:${gi%,*},1:${gi#*,}" $q)" -ge 90 ] && [ "$gi" != 0,0 ] &&
        ok "in the guest, rx queue $q's interrupts went to vCPU $q (per vCPU: $gi)" ||
        bad "guest rx queue $q interrupts per vCPU: $gi"
done
[ -n "${in_on1:-}" ] && { [ "$(share "$in_on1" 1)" -ge 80 ] &&
    ok "steering = yes, guest -> host: queue 1's packets were handled on vCPU 1's CPU 1 (SO_INCOMING_CPU samples $in_on1), not QEMU's CPU 0" ||
    bad "steering = yes: queue 1's packets handled on $in_on1"; }
[ -n "${in_off1:-}" ] && { [ "$(share "$in_off1" 0)" -ge 80 ] &&
    ok "steering = no, guest -> host: queue 1's packets were handled where QEMU wrote them, CPU 0 (samples $in_off1)" ||
    bad "steering = no: queue 1's packets handled on $in_off1"; }

# ---- 2. a veth pair as [hostnic] -------------------------------------------
if [ ! -x "$helper" ]; then
    skip "the [hostnic] half: $helper is not built (make tests)"
elif ! ip netns add klst2-$$; then
    skip "the [hostnic] half: cannot create a second network namespace"
else
    ns2=klst2-$$
    defer ip netns del "$ns2"
    in_ns ip link add veth0 numtxqueues 2 numrxqueues 2 type veth peer name veth1 numtxqueues 2 numrxqueues 2 netns "$ns2" ||
        skip_all "cannot create a veth pair (no veth module?)"
    in_ns ip addr add 10.78.0.1/24 dev veth0
    in_ns ip link set veth0 up
    ip netns exec "$ns2" ip addr add 10.78.0.2/24 dev veth1
    ip netns exec "$ns2" ip link set veth1 up
    ip netns exec "$ns2" ip link set lo up
    # Neighbours known beforehand and no IPv6: packets an ARP reply
    # releases (sent from the CPU that received it) or the kernel's own
    # router and listener reports would count on a queue the sender's CPU
    # did not pick.
    for n in "$ns" "$ns2"; do ip netns exec "$n" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 2> /dev/null; done
    in_ns ip neigh replace 10.78.0.2 lladdr "$(ip netns exec "$ns2" cat /sys/class/net/veth1/address)" dev veth0 nud permanent
    ip netns exec "$ns2" ip neigh replace 10.78.0.1 lladdr "$(in_ns cat /sys/class/net/veth0/address)" dev veth1 nud permanent
    # Per tx queue counters: an mq root (a veth has none of its own).
    in_ns tc qdisc replace dev veth0 root mq
    cat > "$tmp/measure.sh" <<EOS
#!/bin/bash
# Inside $ns, with the plan applied. XPS: from CPU 0, then CPU 1, one flow.
for c in 0 1; do
    before=\$(tc -s class show dev veth0 | awk '/^class mq/ {q = \$3; sub(/.*:/, "", q); next} /Sent/ {if (q == "1") a = \$4; if (q == "2") b = \$4; q = ""} END {print a + 0, b + 0}')
    "$py" "$probe" udp-send 10.78.0.2 9000 9001 \$c 200
    after=\$(tc -s class show dev veth0 | awk '/^class mq/ {q = \$3; sub(/.*:/, "", q); next} /Sent/ {if (q == "1") a = \$4; if (q == "2") b = \$4; q = ""} END {print a + 0, b + 0}')
    read -r b0 b1 <<<"\$before"; read -r a0 a1 <<<"\$after"
    echo "xps cpu=\$c queues=\$((a0 - b0)),\$((a1 - b1))"
done
# RPS: sent from CPU 0 in the other namespace, received here.
"$py" "$probe" udp-recv 10.78.0.1 9100 10.78.0.2 9101 300 > "$tmp/recv.txt" &
r=\$!
for i in \$(seq 50); do grep -q listening "$tmp/recv.txt" && break; sleep 0.1; done
ip netns exec $ns2 "$py" "$probe" udp-send 10.78.0.1 9100 9101 0 300
wait \$r
echo "rps \$(tail -1 "$tmp/recv.txt")"
EOS
    chmod +x "$tmp/measure.sh"
    vm_ini nicon vm.memory=256M vm.vcpus=2 '[hostnic "veth0"]' "rps-cpus = 1
xps = spread"
    vm_ini nicoff vm.memory=256M vm.vcpus=2 '[hostnic "veth0"]' "rps-cpus = off
xps = off"
    for id in nicon nicoff; do
        in_ns "$helper" --apply "$tmp/$id.ini" -- "$tmp/measure.sh" > "$tmp/$id.txt" 2> "$tmp/$id.err" || { bad "$id: apply/measure/restore: exit $?"; cat "$tmp/$id.txt" "$tmp/$id.err"; }
        sed "s/^/# $id: /" "$tmp/$id.txt" | grep -E ': (xps|rps) '
    done
    xq() { grep "^xps cpu=$2 " "$tmp/$1.txt" | sed 's/.*queues=//'; }
    # The queue that carried at least 90% of a "N0,N1" count, or "none".
    major() { local a b; IFS=, read -r a b <<<"$1"; a=${a:-0} b=${b:-0}
        if [ $((a + b)) -gt 0 ] && [ $((100 * a / (a + b))) -ge 90 ]; then echo 0
        elif [ $((a + b)) -gt 0 ] && [ $((100 * b / (a + b))) -ge 90 ]; then echo 1
        else echo none; fi; }
    q0=$(xq nicon 0) q1=$(xq nicon 1)
    [ "$(major "$q0")" = 0 ] && [ "$(major "$q1")" = 1 ] &&
        ok "[hostnic] xps = spread: one flow sent from CPU 0 left on tx queue 0 (packets per queue $q0), from CPU 1 on tx queue 1 ($q1)" ||
        bad "xps = spread: packets per queue from CPU 0: $q0, from CPU 1: $q1"
    q0=$(xq nicoff 0) q1=$(xq nicoff 1)
    [ "$(major "$q0")" != none ] && [ "$(major "$q0")" = "$(major "$q1")" ] &&
        ok "[hostnic] xps = off: the same flow took the same queue from either CPU ($q0; $q1), by its hash" ||
        bad "xps = off: packets per queue from CPU 0: $q0, from CPU 1: $q1"
    h=$(sed -n 's/^rps incoming=\([^ ]*\) .*/\1/p' "$tmp/nicon.txt")
    [ -n "$h" ] && [ "$(share "$h" 1)" -ge 90 ] &&
        ok "[hostnic] rps-cpus = 1: packets sent from CPU 0 were received on CPU 1 (SO_INCOMING_CPU samples $h)" || bad "rps-cpus = 1: received on $h"
    h=$(sed -n 's/^rps incoming=\([^ ]*\) .*/\1/p' "$tmp/nicoff.txt")
    [ -n "$h" ] && [ "$(share "$h" 0)" -ge 90 ] &&
        ok "[hostnic] rps-cpus = off: they were received on the sender's CPU 0 (samples $h)" || bad "rps-cpus = off: received on $h"
fi
finish
