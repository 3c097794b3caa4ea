#!/usr/bin/env bash
# The command line an expert would write (issue 21), on running VMs (TCG
# here; the KVM-only timer options are in the goldens, tests/golden):
# - [memory] dump = no (the default): QEMU's guest RAM mapping carries dd
#   (VM_DONTDUMP) in /proc/PID/smaps; dump = yes: it does not;
# - [vm] rtc and -boot strict=on reach QEMU (the argv it runs with);
# - stable machine types: a recorded pc-q35-7.1 runs although q35 is
#   pc-q35-7.2 here (--dry-run, check, the run, status); a first start
#   records what q35 stands for;
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
vm_defaults+=(vm.timeout=15m)

# ram_flags PID MIB: the VmFlags of QEMU's guest RAM mapping (the one
# anonymous mapping at least MIB large).
ram_flags() {
    awk -v min=$(($2 * 1024)) '
        /^[0-9a-f]+-[0-9a-f]+ / { name = $6; cand = 0 }
        /^Size:/ { cand = ($2 >= min && name == "") }
        /^VmFlags:/ && cand { $1 = ""; print; exit }' "/proc/$1/smaps"
}
# Three TCG guests boot at once on a loaded 2-CPU box: minutes each.
up() { wait_for 420 grep -qs "KVMLAUNCH-GUEST: stay" "$tmp/$1.serial"; }

vm_ini nodump
vm_ini dump memory.dump=yes vm.rtc=localtime
# Stable machine types: VM dump's first start happened under an older QEMU
# that recorded pc-q35-7.1 (which QEMU 7.2 still offers); q35 is pc-q35-7.2
# now, but the recorded type runs. VM nodump starts for the first time: q35
# is resolved and recorded.
mkdir -p "$KVMLAUNCH_STATEDIR/$(name dump)"
chown "$user" "$KVMLAUNCH_STATEDIR/$(name dump)" && chmod 0700 "$KVMLAUNCH_STATEDIR/$(name dump)"
echo pc-q35-7.1 > "$KVMLAUNCH_STATEDIR/$(name dump)/machine"
now=$(qemu-system-x86_64 -machine help | sed -n 's/^q35 .*(alias of \(.*\))$/\1/p')
"$bin" --dry-run "$tmp/dump.ini" 2> /dev/null | grep -q -- "-machine pc-q35-7.1," && ok "--dry-run: the recorded pc-q35-7.1 (q35 is $now here)" ||
    bad "--dry-run does not use the recorded type: $("$bin" --dry-run "$tmp/dump.ini" 2>&1 | grep -- -machine)"
"$bin" check "$tmp/dump.ini" 2>&1 | grep -q "PASS  machine    q35 is pc-q35-7.1, recorded" && ok "check: q35 is pc-q35-7.1, recorded" ||
    bad "check: $("$bin" check "$tmp/dump.ini" 2>&1 | grep machine)"
"$bin" --dry-run "$tmp/nodump.ini" 2> /dev/null | grep -q -- "-machine $now," && ok "--dry-run before the first start: q35 resolved to $now" ||
    bad "--dry-run of nodump: $("$bin" --dry-run "$tmp/nodump.ini" 2>&1 | grep -- -machine)"
vm_ini agent vm.guest-agent=yes vm.shutdown-timeout=30s
# The resolution costs a QEMU run only while nothing is recorded: an
# emulator that logs its calls.
printf '#!/bin/sh\necho "$*" >> %s/qemu-calls\nexec qemu-system-x86_64 "$@"\n' "$tmp" > "$tmp/qemu-wrap"
chmod 0755 "$tmp/qemu-wrap"
vm_ini wrapped "vm.qemu=$tmp/qemu-wrap"
mkdir -p "$KVMLAUNCH_STATEDIR/$(name wrapped)" && echo pc-q35-7.1 > "$KVMLAUNCH_STATEDIR/$(name wrapped)/machine"
"$bin" --dry-run "$tmp/wrapped.ini" > /dev/null 2>&1
[ ! -s "$tmp/qemu-calls" ] && ok "with a recorded type, planning runs no QEMU" || bad "QEMU ran: $(cat "$tmp/qemu-calls")"
rm "$KVMLAUNCH_STATEDIR/$(name wrapped)/machine"
"$bin" --dry-run "$tmp/wrapped.ini" > /dev/null 2>&1
[ "$(cat "$tmp/qemu-calls" 2>&1)" = "-machine help" ] && ok "without one, one QEMU run: -machine help" || bad "QEMU calls: $(cat "$tmp/qemu-calls" 2>&1)"
# A recorded type this QEMU no longer offers: check warns and says how to move on.
echo pc-q35-1.0 > "$KVMLAUNCH_STATEDIR/$(name wrapped)/machine"
"$bin" check "$tmp/wrapped.ini" > "$tmp/check-old.out" 2>&1
grep -q "^WARN  machine .*the recorded type pc-q35-1.0 .* is not offered by .*write machine = $now (what q35 is now), or remove .*/machine" "$tmp/check-old.out" &&
    ok "check: WARN, the recorded pc-q35-1.0 is gone; write machine = $now or remove the record" || bad "check: $(grep machine "$tmp/check-old.out")"

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
tr '\0' '\n' < "/proc/$q/cmdline" | grep -q '^pc-q35-7\.1,' && ok "the run uses the recorded pc-q35-7.1" || bad "QEMU runs $(tr '\0' ' ' < "/proc/$q/cmdline" | grep -o -- '-machine [^ ]*')"
"$bin" status "$(name dump)" --json | jq -e '.machine == "pc-q35-7.1"' > /dev/null && ok "status --json: machine pc-q35-7.1" || bad "status: machine $("$bin" status "$(name dump)" --json | jq .machine)"
[ "$(cat "$KVMLAUNCH_STATEDIR/$(name dump)/machine")" = pc-q35-7.1 ] && ok "the record is kept" || bad "the record changed: $(cat "$KVMLAUNCH_STATEDIR/$(name dump)/machine")"
[ "$(cat "$KVMLAUNCH_STATEDIR/$(name nodump)/machine" 2>&1)" = "$now" ] && ok "the first start recorded $now" || bad "nodump's record: $(cat "$KVMLAUNCH_STATEDIR/$(name nodump)/machine" 2>&1)"
"$bin" status "$(name nodump)" | grep -q "machine: $now" && ok "status: machine: $now" || bad "status of nodump shows no machine $now"
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
