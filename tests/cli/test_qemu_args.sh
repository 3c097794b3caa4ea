#!/usr/bin/env bash
# The command line an expert would write (issue 21), on running VMs (TCG
# here; the KVM-only timer options are in the goldens, tests/golden):
# - [memory] dump = no (the default): QEMU's guest RAM mapping carries dd
#   (VM_DONTDUMP) in /proc/PID/smaps; dump = yes: it does not;
# - [vm] rtc and -boot strict=on reach QEMU (its own view: query-command-line-options
#   is no help for -rtc, so the argv QEMU runs with);
# - [vm] guest-agent = yes on a guest without an agent (the busybox test
#   guest): the channel exists, `status` says "no agent" within its short
#   timeout, `qmp --agent` fails in time, `stop` still stops (the agent's
#   turn finds nobody). The cloud image has the agent: tests/cloud/test_agent.sh.
set -u
. "$(dirname "$0")/lib.sh"
need_root "QEMU is started as another user"
need_guest; need_cmd qemu-system-x86_64; need_cmd jq -- make deps installs it

make_tmp --rundir
make_user klqa
vms_named klqa-$$
wait_step=0.3
vm_preset guest

# ram_flags PID MIB: the VmFlags of QEMU's guest RAM mapping (the one
# anonymous mapping at least MIB large).
ram_flags() {
    awk -v min=$(($2 * 1024)) '
        /^[0-9a-f]+-[0-9a-f]+ / { name = $6; cand = 0 }
        /^Size:/ { cand = ($2 >= min && name == "") }
        /^VmFlags:/ && cand { $1 = ""; print; exit }' "/proc/$1/smaps"
}
up() { wait_for 120 grep -qs "KVMLAUNCH-GUEST: stay" "$tmp/$1.serial"; }

vm_ini nodump
vm_ini dump memory.dump=yes vm.rtc=localtime
vm_ini agent vm.guest-agent=yes vm.shutdown-timeout=30s
for id in nodump dump agent; do
    "$bin" "$tmp/$id.ini" > "$tmp/$id.out" 2>&1 &
    pids+=($!)
done
for id in nodump dump agent; do
    up $id || { bad "VM $id did not come up"; cat "$tmp/$id.out"; finish; }
done
ok "three VMs up"

q=$(qemu_of nodump)
flags=$(ram_flags "$q" 256)
if [ -z "$flags" ]; then bad "nodump: no guest RAM mapping of 256M in /proc/$q/smaps"
elif [[ " $flags " == *" dd "* ]]; then ok "dump = no: the guest RAM mapping has dd ($flags)"
else bad "dump = no: the guest RAM mapping lacks dd: $flags"; fi
grep -qa 'dump-guest-core=off' "/proc/$q/cmdline" && ok "dump = no: QEMU runs with dump-guest-core=off" || bad "no dump-guest-core=off in QEMU's argv"
tr '\0' '\n' < "/proc/$q/cmdline" | grep -qx 'base=utc' && ok "rtc default: -rtc base=utc" || bad "no -rtc base=utc: $(tr '\0' ' ' < "/proc/$q/cmdline")"
tr '\0' '\n' < "/proc/$q/cmdline" | grep -qx 'strict=on' && ok "-boot strict=on" || bad "no -boot strict=on"

q=$(qemu_of dump)
flags=$(ram_flags "$q" 256)
if [ -z "$flags" ]; then bad "dump: no guest RAM mapping of 256M in /proc/$q/smaps"
elif [[ " $flags " == *" dd "* ]]; then bad "dump = yes: the guest RAM mapping has dd: $flags"
else ok "dump = yes: the guest RAM mapping has no dd ($flags)"; fi
tr '\0' '\n' < "/proc/$q/cmdline" | grep -qx 'base=localtime' && ok "rtc = localtime: -rtc base=localtime" || bad "no -rtc base=localtime"

# The agent's channel on a guest with no agent.
a=$(name agent)
[ -S "$KVMLAUNCH_RUNDIR/$a/agent.sock" ] && ok "guest-agent = yes: agent.sock in the runtime dir" || bad "no agent.sock in $KVMLAUNCH_RUNDIR/$a"
[ -e "$KVMLAUNCH_RUNDIR/$(name nodump)/agent.sock" ] && bad "guest-agent = no has an agent.sock" || ok "guest-agent = no: no agent.sock"
start=$SECONDS
"$bin" status "$a" > "$tmp/st.out" 2>&1
grep -q "guest agent: no agent (no answer in time" "$tmp/st.out" && ok "status says no agent (in $((SECONDS - start))s)" || bad "status: $(cat "$tmp/st.out")"
[ $((SECONDS - start)) -le 10 ] && ok "status within 10s" || bad "status took $((SECONDS - start))s"
"$bin" status "$a" --json | jq -e '.guest_agent.answered == false' > /dev/null && ok "status --json: guest_agent.answered false" || bad "status --json: no guest_agent"
"$bin" status "$(name nodump)" | grep -q "no agent (no channel" && ok "status without a channel: no agent (no channel ...)" || bad "status of nodump says no agent line"
start=$SECONDS
"$bin" qmp "$a" --agent guest-ping > "$tmp/ping.out" 2>&1; rc=$?
[ $rc = 1 ] && grep -q "did not answer" "$tmp/ping.out" && ok "qmp --agent guest-ping without an agent: exit 1, said" || bad "qmp --agent: rc $rc: $(cat "$tmp/ping.out")"
"$bin" qmp "$(name nodump)" --agent guest-ping > "$tmp/ping2.out" 2>&1; rc=$?
[ $rc = 1 ] && grep -q "guest-agent = yes" "$tmp/ping2.out" && ok "qmp --agent on a VM without the channel: says how to get one" || bad "qmp --agent without channel: rc $rc: $(cat "$tmp/ping2.out")"
# The busybox guest powers down on ACPI: stop is quick, the agent's turn never comes.
start=$SECONDS
"$bin" stop "$a" > "$tmp/stop.out" 2>&1 && ok "stop with an agent channel stops ($((SECONDS - start))s)" || bad "stop: $(cat "$tmp/stop.out")"
for id in nodump dump; do "$bin" stop "$(name $id)" > /dev/null 2>&1 || bad "stop $id"; done
wait
for id in nodump dump agent; do
    l=$(leftovers $id); [ -z "$l" ] && ok "$id: nothing left" || bad "$id left: $l"
done
finish
