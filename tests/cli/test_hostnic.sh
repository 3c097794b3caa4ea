#!/usr/bin/env bash
# [hostnic "DEV"] for real, on a veth pair inside a network namespace this
# test creates (the host's own interfaces are never touched): the plan for
# rps-cpus and xps is applied through the product's functions (driven by the
# helper mode of the unit test program, which calls hostnic_plan,
# hostplan_apply, hostnic_offloads_apply, then the restores), the queue files
# hold the planned masks while it runs and read byte for byte as before
# afterwards; TSO/GSO/GRO are turned on and put back. IRQ pinning needs a
# NIC with MSI-X vectors, which a veth lacks: tests/unit/test_hostnic.c
# covers it on the nic-msix fake tree.
set -u
. "$(dirname "$0")/lib.sh"
helper=$(dirname "$bin")/tests/unit/test_hostnic
need_root "network namespaces, veths, queue files"
need_cmd ip -- iproute2
[ -x "$helper" ] || skip_all "$helper is not built (make tests)"
make_tmp --rundir
make_netns klnic
unset KVMLAUNCH_ROOT
in_ns ip link add veth0 numtxqueues 4 numrxqueues 4 type veth peer name veth1 numtxqueues 4 numrxqueues 4 ||
    skip_all "cannot create a veth pair (no veth module?)"

# Every queue file of the namespace's veth0, byte for byte; and the host's
# own queue files, which must not change at all.
snapshot() { in_ns sh -c 'for f in /sys/class/net/veth0/queues/*/rps_cpus /sys/class/net/veth0/queues/*/xps_cpus; do echo "$f"; od -c "$f"; done'; }
host_snapshot() { for f in /sys/class/net/*/queues/*/rps_cpus /sys/class/net/*/queues/*/xps_cpus; do [ -r "$f" ] && { echo "$f"; od -c "$f"; }; done 2>/dev/null; }
host_before=$(host_snapshot)

# The online CPUs, and the kernel's mask of a set of them (leading zeros
# and commas dropped on both sides before comparing).
mapfile -t cpus < <(awk -F, '{for (i = 1; i <= NF; i++) { n = split($i, r, "-"); for (c = r[1]; c <= r[n]; c++) print c } }' /sys/devices/system/cpu/online)
mask_of() { local m=0 c; for c in "$@"; do m=$((m | (1 << c))); done; printf '%x' $m; }
norm() { local s; s=$(tr -d ',\n' < "$1" | sed 's/^0*//'); echo "${s:-0}"; }
all_mask=$(mask_of "${cpus[@]}")
if [ ${#cpus[@]} -gt 0 ] && [ "${cpus[-1]}" -lt 63 ]; then exact=1; else exact=0; fi

vms_named klnic-$$
vm() { vm_ini "$1" vm.memory=256M vm.vcpus=2 "[hostnic \"veth0\"]" "$2"; }

# 1. rps-cpus = local, xps = spread, offloads = on; a veth has no NUMA node
#    (no device/), so local means every online CPU, said as a warning.
in_ns "$helper" --offloads veth0 off > "$tmp/off.txt" || bad "could not turn the veth's offloads off for the test"
[ "$(cat "$tmp/off.txt")" = "TSO=off GSO=off GRO=off" ] || bad "set-up: $(cat "$tmp/off.txt")"
# Originals that differ per queue, so a restore that wrote one value
# everywhere, or the planned one, would show.
in_ns sh -c 'echo 2 > /sys/class/net/veth0/queues/rx-1/rps_cpus; echo 1 > /sys/class/net/veth0/queues/tx-2/xps_cpus' || bad "set-up of the originals"
before=$(snapshot)
cat > "$tmp/check1.sh" <<EOF
#!/bin/sh
# Runs inside the namespace while the plan is applied.
q=0; for f in /sys/class/net/veth0/queues/rx-*/rps_cpus; do echo "rx \$f \$(cat \$f)"; done
for f in /sys/class/net/veth0/queues/tx-*/xps_cpus; do echo "tx \$f \$(cat \$f)"; done
"$helper" --offloads veth0
cat "$KVMLAUNCH_RUNDIR/host.offloads" > "$tmp/offloads.state"
cat "$KVMLAUNCH_RUNDIR/host.state" > "$tmp/host.state"
EOF
chmod +x "$tmp/check1.sh"
vm spread "rps-cpus = local
xps = spread
offloads = on"
in_ns "$helper" --apply "$tmp/spread.ini" -- "$tmp/check1.sh" > "$tmp/spread.out" 2> "$tmp/spread.err"; rc=$?
if [ $rc != 0 ]; then
    bad "apply/run/restore: exit $rc"; cat "$tmp/spread.out" "$tmp/spread.err"
else
    grep -q "the NUMA node of veth0 is unknown" "$tmp/spread.err" && ok "veth0 has no NUMA node: local means all online CPUs, said" || bad "no note on the unknown node: $(cat "$tmp/spread.err")"
    grep -q "/sys/class/net/veth0/queues/rx-1/rps_cpus: 2 -> " "$tmp/spread.out" && ok "the dry-run text lists each queue file with its old value" || bad "plan text: $(cat "$tmp/spread.out")"
    rps_ok=1
    for q in 0 1 2 3; do
        got=$(grep "^rx /sys/class/net/veth0/queues/rx-$q/rps_cpus " "$tmp/spread.out" | awk '{print $3}')
        g=$(echo "$got" | tr -d ',' | sed 's/^0*//')
        if [ $exact = 1 ]; then [ "$g" = "$all_mask" ] || rps_ok=0; else [ -n "$g" ] || rps_ok=0; fi
    done
    [ $rps_ok = 1 ] && ok "rx-0..3/rps_cpus held the mask of every online CPU ($all_mask) while applied" || bad "rps masks: $(grep '^rx' "$tmp/spread.out")"
    xps_ok=1
    for q in 0 1 2 3; do
        got=$(grep "^tx /sys/class/net/veth0/queues/tx-$q/xps_cpus " "$tmp/spread.out" | awk '{print $3}')
        g=$(echo "$got" | tr -d ',' | sed 's/^0*//')
        want=$(mask_of "${cpus[$((q % ${#cpus[@]}))]}")
        [ $exact = 0 ] || [ "$g" = "$want" ] || xps_ok=0
    done
    [ $xps_ok = 1 ] && ok "tx queue i held one CPU each, round robin over the online CPUs" || bad "xps masks: $(grep '^tx' "$tmp/spread.out")"
    grep -q "^TSO=on GSO=on GRO=on$" "$tmp/spread.out" && ok "TSO, GSO and GRO were on while applied" || bad "offloads while applied: $(grep TSO= "$tmp/spread.out")"
    grep -q "veth0 offloads: TSO off -> on, GSO off -> on, GRO off -> on" "$tmp/spread.err" && ok "the offloads were reported" || bad "offloads report: $(cat "$tmp/spread.err")"
    grep -q '"original": *false' "$tmp/offloads.state" && grep -q "klnic-$$-spread" "$tmp/offloads.state" && ok "the offloads' originals were on disk while applied" || bad "host.offloads: $(cat "$tmp/offloads.state")"
    grep -q "veth0/queues/tx-3/xps_cpus" "$tmp/host.state" && ok "the queue files' originals were on disk while applied" || bad "host.state: $(cat "$tmp/host.state")"
fi
after=$(snapshot)
[ "$after" = "$before" ] && ok "after restore every queue file reads byte for byte as before" || { bad "queue files differ after restore"; diff <(echo "$before") <(echo "$after"); }
[ "$(in_ns "$helper" --offloads veth0)" = "TSO=off GSO=off GRO=off" ] && ok "TSO, GSO and GRO are off again, as they were" || bad "offloads after restore: $(in_ns "$helper" --offloads veth0)"
[ ! -e "$KVMLAUNCH_RUNDIR/host.offloads" ] && ok "nothing left to put back: no host.offloads" || bad "host.offloads left: $(cat "$KVMLAUNCH_RUNDIR/host.offloads")"
if command -v ethtool >/dev/null; then
    in_ns ethtool -k veth0 | grep -q "^generic-receive-offload: off" && ok "ethtool -k agrees" || bad "ethtool -k: $(in_ns ethtool -k veth0 | grep -E 'segmentation-offload|receive-offload')"
else
    skip "ethtool is not installed: the state is checked through the ioctl only"
fi

# 2. A cpulist and off, with the offloads already on: they stay on.
in_ns "$helper" --offloads veth0 on > /dev/null
cat > "$tmp/check2.sh" <<EOF
#!/bin/sh
for f in /sys/class/net/veth0/queues/rx-*/rps_cpus; do echo "rx \$(cat \$f)"; done
for f in /sys/class/net/veth0/queues/tx-*/xps_cpus; do echo "tx \$(cat \$f)"; done
EOF
chmod +x "$tmp/check2.sh"
vm list "rps-cpus = ${cpus[0]}
xps = off
offloads = on"
before=$(snapshot)
in_ns "$helper" --apply "$tmp/list.ini" -- "$tmp/check2.sh" > "$tmp/list.out" 2> "$tmp/list.err"; rc=$?
if [ $rc = 0 ]; then
    want=$(mask_of "${cpus[0]}")
    n=$(grep '^rx ' "$tmp/list.out" | awk '{print $2}' | tr -d ',' | sed 's/^0*//' | grep -cx "$want")
    [ "$n" = 4 ] && ok "rps-cpus = ${cpus[0]}: every rx queue held mask $want" || bad "rps: $(grep '^rx' "$tmp/list.out")"
    n=$(grep '^tx ' "$tmp/list.out" | awk '{print $2}' | tr -d ',0' | grep -c .)
    [ "$n" = 0 ] && ok "xps = off: every tx queue held 0" || bad "xps: $(grep '^tx' "$tmp/list.out")"
    grep -q "TSO on already, GSO on already, GRO on already" "$tmp/list.err" && ok "offloads already on: said so" || bad "report: $(cat "$tmp/list.err")"
else
    bad "list: exit $rc"; cat "$tmp/list.out" "$tmp/list.err"
fi
[ "$(snapshot)" = "$before" ] && ok "restored byte for byte" || bad "queue files differ after the second restore"
[ "$(in_ns "$helper" --offloads veth0)" = "TSO=on GSO=on GRO=on" ] && ok "offloads that were on stay on" || bad "offloads: $(in_ns "$helper" --offloads veth0)"

# 3. A NIC that does not exist: a file:line error, nothing applied.
vm_ini none vm.memory=256M vm.vcpus=2 '[hostnic "klnone0"]' "rps-cpus = local"
in_ns "$helper" --apply "$tmp/none.ini" -- true > "$tmp/none.out" 2>&1; rc=$?
[ $rc = 93 ] && grep -q "none.ini:5: \[hostnic \"klnone0\"\]: expected a network interface of this host, found no /sys/class/net/klnone0" "$tmp/none.out" \
    && ok "a NIC that does not exist: file:line error, nothing applied" || { bad "missing NIC: exit $rc"; cat "$tmp/none.out"; }

[ "$(host_snapshot)" = "$host_before" ] && ok "the host's own queue files did not change" || bad "the host's queue files changed"
finish
