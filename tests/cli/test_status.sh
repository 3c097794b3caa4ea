#!/usr/bin/env bash
# `kvmlaunch status NAME [--json]` on running VMs (the test guest under QEMU,
# TCG here): vCPU threads and their CPUs, memory by NUMA node, the balloon
# and its guest stats, KSM, and the host knob this VM changed with its
# original value, put back after `kvmlaunch stop`. The JSON fields are
# those of docs/STATUS.md.
set -u
. "$(dirname "$0")/lib.sh"
need_root "QEMU is started as another user"
need_guest; need_cmd qemu-system-x86_64; need_cmd jq -- make deps installs it
knob=/sys/kernel/mm/ksm/sleep_millisecs
[ -w $knob ] || skip_all "no $knob (a kernel without KSM)"

make_tmp --rundir
make_user klstat
# Whatever happens below, the host keeps its KSM scan interval.
keep_knob $knob
vms_named klstat-$$
orig=$(cat $knob)
want=$((orig + 3))
wait_step=0.3
vm_preset guest
vm() { # ID VCPUS PIN [SECTION.KEY=VALUE | TEXT]...: writes $tmp/ID.ini
    vm_ini "$1" "vm.vcpus=$2" vm.timeout=180s "cpu.pin=$3" "${@:4}"
}
# jq -e on the saved report of ID: a failed filter fails the check.
jqa() { jq -e "$2" "$tmp/$1.json" > /dev/null; }
status_json() { "$bin" status "$(name "$1")" --json > "$tmp/$1.json" 2> "$tmp/$1.err"; }
running() { status_json "$1" && jqa "$1" '.state == "running"'; }

# VM a: pinned, bound to node 0, a balloon with guest stats every second,
# and one host knob changed (KSM's scan interval: harmless, put back).
vm a 2 1,0 balloon.enabled=yes balloon.stats-period=1s "[memory]
nodes = 0
[host]
ksm-sleep-ms = $want"
# VM b: no balloon device, no knob.
vm b 1 none
"$bin" "$tmp/a.ini" > "$tmp/a.out" 2>&1 &
pids+=($!); sup_a=$!
"$bin" "$tmp/b.ini" > "$tmp/b.out" 2>&1 &
pids+=($!); sup_b=$!

if ! wait_for 90 grep -qs "KVMLAUNCH-GUEST: stay" "$tmp/a.serial" || ! wait_for 30 running a; then
    bad "VM a did not come up"; cat "$tmp/a.out" "$tmp/a.json" "$tmp/a.err" 2>/dev/null; finish
fi
ok "status --json says running"
q=$(qemu_of a)
jqa a ".qemu_pid == $q and .kvmlaunch_pid == $sup_a and .name == \"$(name a)\" and .uptime_s >= 0" && ok "pids, name and uptime" || bad "pids: $(jq -c '{name, kvmlaunch_pid, qemu_pid, uptime_s}' "$tmp/a.json") (QEMU $q, kvmlaunch $sup_a)"

# vCPUs: the report's thread ids are QEMU's vCPU threads, pinned as asked.
jqa a '.vcpus | length == 2' && jqa a '.vcpus[0].vcpu == 0 and .vcpus[0].allowed_cpus == "1"' &&
    jqa a '.vcpus[1].vcpu == 1 and .vcpus[1].allowed_cpus == "0"' && ok "vcpu0 allowed 1, vcpu1 allowed 0" || bad "vcpus: $(jq -c .vcpus "$tmp/a.json")"
for i in 0 1; do
    tid=$(jq -r ".vcpus[$i].tid" "$tmp/a.json")
    case "$(cat "/proc/$q/task/$tid/comm" 2>/dev/null)" in
        "CPU $i/"*) ok "vcpu$i tid $tid is QEMU's thread \"$(cat "/proc/$q/task/$tid/comm")\"" ;;
        *) bad "vcpu$i tid $tid is not a vCPU thread of QEMU $q" ;;
    esac
    jqa a ".vcpus[$i].last_cpu >= 0" && ok "vcpu$i last ran on CPU $(jq ".vcpus[$i].last_cpu" "$tmp/a.json")" || bad "vcpu$i last_cpu: $(jq -c ".vcpus[$i]" "$tmp/a.json")"
done

# Memory by node, from numa_maps: anonymous RAM, so nothing in huge pages.
jqa a '[.memory.nodes[] | select(.node == 0 and .bytes > 0)] | length == 1' &&
    jqa a '.memory.total_bytes == ([.memory.nodes[].bytes] | add) and .memory.huge_bytes == 0' &&
    ok "memory: node0 $(jq '.memory.nodes[0].bytes' "$tmp/a.json") bytes, total = sum of nodes, no huge pages" || bad "memory: $(jq -c .memory "$tmp/a.json")"

# The balloon: the full 256 MiB; guest stats once the guest's driver sent some.
jqa a '.balloon.enabled == true and .balloon.actual_bytes == 268435456 and .balloon.stats_period_s == 1 and .balloon.error == null' &&
    ok "balloon: enabled, actual 256 MiB, stats every 1s" || bad "balloon: $(jq -c .balloon "$tmp/a.json")"
if wait_for 60 eval 'status_json a && jqa a ".balloon.stats != null"'; then
    jqa a '.balloon.stats_updated > 0 and .balloon.stats.total_bytes > 0 and .balloon.stats.total_bytes <= 268435456 and .balloon.stats.free_bytes > 0 and .balloon.stats.free_bytes <= .balloon.stats.total_bytes' &&
        ok "guest stats: total $(jq .balloon.stats.total_bytes "$tmp/a.json"), free $(jq .balloon.stats.free_bytes "$tmp/a.json") bytes" || bad "guest stats: $(jq -c .balloon "$tmp/a.json")"
else
    bad "no guest stats within 60s: $(jq -c .balloon "$tmp/a.json")"
fi

# KSM: numbers where the kernel has the files, null where it has not.
for f in pages_sharing pages_shared; do
    [ "$(jq ".ksm.$f" "$tmp/a.json")" = "$(cat /sys/kernel/mm/ksm/$f)" ] && ok "ksm.$f = $(cat /sys/kernel/mm/ksm/$f), as the kernel says" || bad "ksm.$f: $(jq -c .ksm "$tmp/a.json")"
done
if [ -r "/proc/$q/ksm_merging_pages" ]; then
    jqa a '(.ksm.vm_merging_pages | type) == "number" and (.ksm.vm_stat | type) == "object"' && ok "ksm: the VM's merging pages $(jq .ksm.vm_merging_pages "$tmp/a.json")" || bad "ksm of the VM: $(jq -c .ksm "$tmp/a.json")"
else
    jqa a '.ksm.vm_merging_pages == null' && ok "ksm: the kernel has no ksm_merging_pages: null" || bad "ksm of the VM: $(jq -c .ksm "$tmp/a.json")"
fi

# The knob this VM changed: its original value, what is set, what is there.
[ "$(cat $knob)" = "$want" ] && ok "$knob is $want while the VM runs" || bad "$knob is $(cat $knob), wanted $want"
jqa a "[.host_knobs[] | select(.path == \"$knob\")] == [{\"path\": \"$knob\", \"original\": \"$orig\", \"set\": \"$want\", \"current\": \"$want\"}]" &&
    jqa a '.host_knobs | length == 1' && ok "host_knobs: $knob original $orig, set and current $want" || bad "host_knobs: $(jq -c .host_knobs "$tmp/a.json")"
jqa a '.nic_offloads == []' && ok "nic_offloads: none" || bad "nic_offloads: $(jq -c .nic_offloads "$tmp/a.json")"

# Every field printed is documented (the kernel's own ksm_stat lines aside).
undocumented=$(jq -r '(keys[]), (paths(type != "object" and type != "array") | map(if type == "number" then "[]" else "." + . end) | join("") | ltrimstr("."))' "$tmp/a.json" |
    grep -v '^ksm\.vm_stat\.' | sort -u | while read -r f; do grep -qF "\`$f\`" docs/STATUS.md || echo "$f"; done)
[ -z "$undocumented" ] && ok "every field of status --json is in docs/STATUS.md" || bad "not in docs/STATUS.md: $undocumented"

# The human form.
"$bin" status "$(name a)" > "$tmp/a.txt" 2>&1; rc=$?
grep -qE "^$(name a): running, kvmlaunch pid $sup_a, QEMU pid $q, up [0-9]+s$" "$tmp/a.txt" && ok "human: heading" || bad "human heading (exit $rc)"
w='  run delay [0-9]+\.[0-9] ms  involuntary switches [0-9]+'
grep -qE "^  vcpu0  tid [0-9]+  allowed 1  last cpu [0-9]+$w$" "$tmp/a.txt" && grep -qE "^  vcpu1  tid [0-9]+  allowed 0  last cpu [0-9]+$w$" "$tmp/a.txt" &&
    ok "human: one line per vCPU" || bad "human vCPU lines"
grep -qE "^  memory by node: node0 [0-9]+ [KM]iB \(0 B huge\); huge pages in use 0 B$" "$tmp/a.txt" && ok "human: $(grep 'memory by node' "$tmp/a.txt")" || bad "human memory line"
grep -qE "^  balloon: 256 MiB; guest: [0-9]+ MiB free, [0-9]+ MiB available of [0-9]+ MiB \(stats every 1s\)$" "$tmp/a.txt" && ok "human: $(grep 'balloon' "$tmp/a.txt")" || bad "human balloon line"
grep -qE "^  ksm: host [0-9]+ pages sharing, [0-9]+ shared; this VM ([0-9]+ pages merged|n/a)$" "$tmp/a.txt" && ok "human: $(grep 'ksm:' "$tmp/a.txt")" || bad "human ksm line"
grep -qxF "  $knob: now $want (was $orig)" "$tmp/a.txt" && ok "human: $knob: now $want (was $orig)" || bad "human knob line"
[ $rc = 0 ] || { bad "status exit $rc"; }
[ $fail = 0 ] || cat "$tmp/a.txt"

# VM b: no balloon device is said so, and a VM that changed no knob lists none.
if wait_for 90 grep -qs "KVMLAUNCH-GUEST: stay" "$tmp/b.serial" && wait_for 30 running b; then
    jqa b '.balloon.enabled == false and .balloon.actual_bytes == null and .balloon.stats == null and .balloon.error == null' &&
        ok "no balloon device: enabled false" || bad "balloon of b: $(jq -c .balloon "$tmp/b.json")"
    jqa b '.host_knobs == [] and (.vcpus | length) == 1' && ok "b: no knobs of a listed, one vCPU" || bad "b: $(jq -c '{host_knobs, vcpus}' "$tmp/b.json")"
    "$bin" status "$(name b)" > "$tmp/b.txt" 2>&1 && grep -qx "  balloon: not enabled" "$tmp/b.txt" && ! grep -q "$knob" "$tmp/b.txt" &&
        ok "human: balloon: not enabled" || { bad "human of b"; cat "$tmp/b.txt"; }
else
    bad "VM b did not come up"; cat "$tmp/b.out"
fi

# Stop: the knob goes back, nothing is left, status says it is not running.
"$bin" stop "$(name a)" > "$tmp/stop.out" 2>&1; rc=$?
wait $sup_a; src=$?
[ $rc = 0 ] && [ $src = 0 ] && ok "stop a: both exit 0" || { bad "stop a: exit $rc, supervisor $src"; cat "$tmp/stop.out" "$tmp/a.out"; }
[ "$(cat $knob)" = "$orig" ] && ok "$knob is back to $orig" || bad "$knob is $(cat $knob) after stop, was $orig"
[ -z "$(leftovers a)" ] && ok "nothing left of a" || bad "left of a: $(leftovers a)"
"$bin" status "$(name a)" > /dev/null 2>&1; rc=$?
[ $rc = 1 ] && ok "status of a stopped VM: exit 1" || bad "status of a stopped VM: exit $rc"
"$bin" stop "$(name b)" > "$tmp/stopb.out" 2>&1; rc=$?
wait $sup_b; src=$?
[ $rc = 0 ] && [ $src = 0 ] && [ -z "$(leftovers b)" ] && ok "stop b: nothing left" || { bad "stop b: exit $rc, supervisor $src, left: $(leftovers b)"; cat "$tmp/stopb.out" "$tmp/b.out"; }
[ ! -e "$KVMLAUNCH_RUNDIR/host.state" ] && ok "no host state left" || bad "host.state left: $(cat "$KVMLAUNCH_RUNDIR/host.state")"
finish
