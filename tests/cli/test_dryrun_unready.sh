#!/usr/bin/env bash
# Found by trying kvmlaunch as a new user would (issue 15, item 7).
#  1. `--dry-run` on a host that is not ready (too few huge pages, a NUMA
#     node it lacks) prints the plan and the command line anyway, then the
#     problems as the same FAIL lines `check` prints, and exits 1; a ready
#     VM exits 0 with no FAIL; bad configuration still exits 2 with only the
#     errors.
#  2. `[cpu] pin` may repeat a CPU: 4 vCPUs on 0,1,0,1 load, `check` WARNs
#     that vCPUs share a CPU, and the running VM has vCPU i on the i-th CPU
#     (Cpus_allowed_list of each vCPU thread, and its cgroup).
set -u
. "$(dirname "$0")/lib.sh"
need_root "QEMU is started as another user"
need_guest; need_cmd qemu-system-x86_64 jq

make_tmp --rundir
make_user kldry
vms_named kldry-$$
vm_preset guest
vm() { vm_ini "$@"; }
fail_lines() { grep '^FAIL ' "$1" | sed 's/  */ /g'; }

# 1. Not ready: too few huge pages on node 0 (none here, or fewer than 64).
free2m=$(cat /sys/devices/system/node/node0/hugepages/hugepages-2048kB/free_hugepages 2>/dev/null || echo 0)
if [ "$free2m" -ge 128 ]; then
    skip "$free2m free 2 MiB pages on node 0: too few huge pages cannot be shown here"
else
    vm huge vm.memory=256M "[memory]
backing = hugepages
nodes = 0"
    "$bin" --dry-run "$tmp/huge.ini" > "$tmp/huge.out" 2> "$tmp/huge.err"; rc=$?
    "$bin" check "$tmp/huge.ini" > "$tmp/huge.check" 2>&1
    if [ $rc = 1 ] && grep -q '^# QEMU command line:' "$tmp/huge.out" && grep -qF '"hugetlb":true' "$tmp/huge.out" \
        && grep -q '^    -sandbox ' "$tmp/huge.out"; then ok "too few huge pages: --dry-run still prints the plan and the command line, exit 1"
    else bad "--dry-run huge: exit $rc"; cat "$tmp/huge.out" "$tmp/huge.err"; fi
    if grep -qE "^FAIL +hugepages +$tmp/huge.ini:[0-9]+: \[memory\] [a-z-]+: expected 128 free 2M huge pages on node 0, found $free2m" "$tmp/huge.err" \
        && [ "$(fail_lines "$tmp/huge.err")" = "$(fail_lines "$tmp/huge.check")" ]; then
        ok "then the same FAIL lines as check: $(grep -c '^FAIL' "$tmp/huge.err")"
    else bad "FAIL lines differ from check's"; cat "$tmp/huge.err" "$tmp/huge.check"; fi
    grep -q '^FAIL' "$tmp/huge.out" && bad "a FAIL line on stdout (the command line must stay paste-able)" || ok "stdout holds no FAIL line"
fi
node=$(( $(ls -d /sys/devices/system/node/node* | sed 's/.*node//' | sort -n | tail -1) + 1 ))
vm node "[memory]
nodes = $node"
"$bin" --dry-run "$tmp/node.ini" > "$tmp/node.out" 2> "$tmp/node.err"; rc=$?
if [ $rc = 1 ] && grep -q '^# QEMU command line:' "$tmp/node.out" \
    && grep -qE "^FAIL +nodes +$tmp/node.ini:[0-9]+: \[memory\] nodes: expected NUMA nodes this host has \([0-9,-]+\), found node $node" "$tmp/node.err"; then
    ok "a missing node $node: the plan, the command line, a FAIL line, exit 1"
else bad "--dry-run node: exit $rc"; cat "$tmp/node.out" "$tmp/node.err"; fi
vm ready
"$bin" --dry-run "$tmp/ready.ini" > "$tmp/ready.out" 2> "$tmp/ready.err"; rc=$?
[ $rc = 0 ] && grep -q '^# QEMU command line:' "$tmp/ready.out" && ! grep -q '^FAIL' "$tmp/ready.err" && ok "a VM this host can run: exit 0, no FAIL" \
    || { bad "--dry-run ready: exit $rc"; cat "$tmp/ready.err"; }
vm badcfg vm.vcpus=zero
"$bin" --dry-run "$tmp/badcfg.ini" > "$tmp/badcfg.out" 2> "$tmp/badcfg.err"; rc=$?
[ $rc = 2 ] && [ ! -s "$tmp/badcfg.out" ] && grep -q "^$tmp/badcfg.ini:[0-9]*: \[vm\] vcpus: " "$tmp/badcfg.err" && ! grep -q '^FAIL' "$tmp/badcfg.err" \
    && ok "bad configuration: exit 2, only the error" || { bad "--dry-run badcfg: exit $rc"; cat "$tmp/badcfg.out" "$tmp/badcfg.err"; }

# 2. pin = 0,1,0,1: vCPU i on the i-th CPU; check warns that they share.
[ "$(nproc)" -ge 2 ] || { skip "one CPU: a repeated pin list needs two"; finish; }
vm share vm.vcpus=4 cpu.pin=0,1,0,1
"$bin" check "$tmp/share.ini" > "$tmp/share.check" 2>&1; rc=$?
if [ $rc = 0 ] && grep -qE "^WARN +cpus +$tmp/share.ini:[0-9]+: \[cpu\] pin: vCPUs share a CPU \(vCPUs 0, 2 on CPU 0; vCPUs 1, 3 on CPU 1\)" "$tmp/share.check" \
    && grep -q '^PASS  cpus       vCPUs pinned to 0-1: online' "$tmp/share.check"; then ok "pin = 0,1,0,1: check passes, with a WARN that vCPUs share CPUs"
else bad "check share: exit $rc"; cat "$tmp/share.check"; fi
"$bin" "$tmp/share.ini" > "$tmp/share.out" 2>&1 &
pids+=($!); sup=$!
if wait_for 120 grep -qs "KVMLAUNCH-GUEST: stay" "$tmp/share.serial"; then
    "$bin" status "$(name share)" --json > "$tmp/share.json" 2>&1
    got=$(jq -r '[.vcpus[] | "\(.vcpu):\(.allowed_cpus)"] | join(" ")' "$tmp/share.json")
    [ "$got" = "0:0 1:1 2:0 3:1" ] && ok "vCPU i runs on the i-th CPU: $got" || bad "vCPU affinity: $got"
    q=$(qemu_of share) cg_ok=1
    for t in $(jq -r '.vcpus[] | "\(.vcpu):\(.tid)"' "$tmp/share.json"); do
        i=${t%%:*} tid=${t#*:}
        grep -q "Cpus_allowed_list:[[:space:]]*$((i % 2))\$" "/proc/$q/task/$tid/status" || { cg_ok=0; bad "vCPU $i: $(grep Cpus_allowed_list "/proc/$q/task/$tid/status")"; }
        for c in "${cgroup_bases[@]}"; do
            f=$c/$(name share)/vcpu$i/cpuset.cpus
            [ -r "$f" ] && { [ "$(cat "$f")" = $((i % 2)) ] || { cg_ok=0; bad "cgroup of vCPU $i: $(cat "$f")"; }; }
        done
    done
    [ $cg_ok = 1 ] && ok "each vCPU thread's Cpus_allowed_list and cgroup say the same"
    "$bin" stop "$(name share)" > /dev/null 2>&1
    wait "$sup"; rc=$?
    [ $rc = 0 ] && ok "stopped, exit 0" || { bad "exit $rc after stop"; tail -5 "$tmp/share.out"; }
else
    bad "the guest with 4 vCPUs on 0,1,0,1 did not come up"; cat "$tmp/share.out"
fi
[ -z "$(leftovers share)" ] || bad "left: $(leftovers share)"
finish
