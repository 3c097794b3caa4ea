#!/usr/bin/env bash
# `kvmlaunch check` warns when a CPU a vCPU is pinned to is used by
# something else too (include/cpuuse.h):
# 1. on a fake host tree (tests/hostroot/nic-msix, through KVMLAUNCH_ROOT):
#    eth0's IRQ 72 delivered to CPU 3 (effective_affinity_list), IRQ 74 only
#    allowed on CPU 5 (smp_affinity_list): a VM pinned to 3,5,6 gets one WARN
#    for CPU 3 and one for CPU 5, each naming the NIC and IRQ; CPU 6, which
#    only IRQs allowed everywhere may reach, none; nothing FAILs for it;
# 2. on this host: a busy loop of this test's on CPU 1 makes `check` of a
#    VM pinned to CPU 1 say that CPU 1 was busy with other tasks.
set -u
. "$(dirname "$0")/lib.sh"
need_cmd taskset
make_tmp --rundir

# ---- 1. NIC interrupts, fake tree ----
cp -r tests/hostroot/nic-msix "$tmp/root"
echo 3 > "$tmp/root/proc/irq/72/effective_affinity_list"
mkdir -p "$tmp/root/proc/irq/74" && echo 5 > "$tmp/root/proc/irq/74/smp_affinity_list"
printf '[vm]\nname = nics\nmemory = 64M\nvcpus = 3\nuser = nobody\n[cpu]\npin = 3,5,6\n' > "$tmp/nics.ini"
KVMLAUNCH_ROOT=$tmp/root "$bin" check "$tmp/nics.ini" > "$tmp/nics.out" 2>&1
grep -qx "WARN  cpus       CPU 3 (vCPU 0) takes interrupts of host NIC eth0 (IRQ 72 eth0-TxRx-0): each packet there stops the vCPU; pin the vCPU elsewhere or move the IRQ (\[hostnic\] irq-cpus)" "$tmp/nics.out" &&
    ok "CPU 3: a WARN naming eth0's IRQ 72 (delivered there)" || { bad "no WARN for CPU 3"; cat "$tmp/nics.out"; }
grep -q "^WARN  cpus       CPU 5 (vCPU 1) takes interrupts of host NIC eth0 (IRQ 74 eth0-TxRx-2)" "$tmp/nics.out" &&
    ok "CPU 5: a WARN naming IRQ 74 (only allowed there)" || bad "no WARN for CPU 5"
[ "$(grep -c "takes interrupts" "$tmp/nics.out")" = 2 ] && ok "CPU 6 (IRQs allowed on every CPU only): no WARN" || bad "$(grep "takes interrupts" "$tmp/nics.out")"
! grep -q "^FAIL  cpus" "$tmp/nics.out" && ok "no FAIL for it" || bad "a FAIL: $(grep '^FAIL  cpus' "$tmp/nics.out")"

# ---- 2. a busy CPU, this host ----
if [ "$(nproc)" -lt 2 ]; then
    skip "a busy CPU: needs CPU 1"
else
    taskset -c 1 sh -c 'while :; do :; done' &
    loop=$!
    defer kill "$loop"
    printf '[vm]\nname = busy\nmemory = 64M\nvcpus = 1\nuser = nobody\n[cpu]\npin = 1\n' > "$tmp/busy.ini"
    "$bin" check "$tmp/busy.ini" > "$tmp/busy.out" 2>&1
    grep -Eq "^WARN  cpus       CPU 1 \(vCPU 0\) was (5[0-9]|[6-9][0-9]|100)% busy with other tasks in a 250 ms sample: the vCPU will wait for it; pin it to a quieter CPU$" "$tmp/busy.out" &&
        ok "a busy loop on CPU 1: $(grep -o 'CPU 1 .* busy' "$tmp/busy.out")" || { bad "no busy WARN"; cat "$tmp/busy.out"; }
fi
finish
