#!/usr/bin/env bash
# Races (issue 7, item 4), with cheap VMs that sit in the BIOS: 20 starts of
# one NAME at once: exactly one runs, every other exits 1 with "already
# running", and after `kvmlaunch stop` nothing is left. 8 different VMs with
# `pin = auto` at once: no CPU is handed out twice (the running ones' vCPUs,
# read back with `status --json`, are on different CPUs, as many of them as
# the host has free CPUs), every other is refused with exit 2 and "no NUMA
# node has 1 free CPUs", and nothing is left of it.
set -u
. "$(dirname "$0")/lib.sh"
need_root "QEMU is started as another user"
need_cmd qemu-system-x86_64 jq

make_tmp --rundir
make_user klrace
vms_named klrace-$$
vm_preset bios
vm() { vm_ini "$1" "cpu.pin=$2"; }   # ID PIN: writes $tmp/ID.ini, a 1-vCPU VM without a kernel
qemus() { pgrep -fc "guest=klrace-$$-$1," ; }
wait_all() { # SECONDS PID...: waits for each, kills what outlives the deadline; sets rcs[PID]
    local end=$((SECONDS + $1)); shift
    for p in "$@"; do
        while kill -0 "$p" 2>/dev/null && [ $SECONDS -lt $end ]; do sleep 0.1; done
        kill -0 "$p" 2>/dev/null && { echo "pid $p still running: killed"; kill -9 "$p"; }
        wait "$p"; rcs[$p]=$?
    done
}
declare -A rcs
# Starts held at a barrier and let go together: each opens the FIFO for
# reading, which blocks until go() opens it for writing and closes it.
mkfifo "$tmp/go"
start_held() { # ID OUT: starts kvmlaunch ID.ini at the barrier; $! is kvmlaunch
    ( read -r _ < "$tmp/go"; exec "$bin" "$tmp/$1.ini" > "$2" 2>&1 ) &
}
go() { sleep 0.5; exec 9> "$tmp/go"; exec 9>&-; }

# 1. 20 starts of one NAME at once.
vm one auto
starters=()
for i in $(seq 1 20); do
    start_held one "$tmp/one.$i.out"; starters+=($!)
done
go
pids+=("${starters[@]}")
for i in $(seq 1 300); do vm_running one && break; sleep 0.1; done
# The losers give up at once; the winner keeps running.
sleep 1
alive=() losers=0 other=()
for i in $(seq 1 20); do
    p=${starters[$((i - 1))]}
    if kill -0 "$p" 2>/dev/null; then alive+=("$i"); continue; fi
    wait "$p"; rc=$?
    if [ $rc = 1 ] && grep -q "klrace-$$-one is already running (" "$tmp/one.$i.out"; then losers=$((losers + 1))
    else other+=("start $i: exit $rc: $(grep -v 'TCG' "$tmp/one.$i.out" | head -3 | tr '\n' ' ')"); fi
done
[ ${#alive[@]} = 1 ] && [ "$(qemus one)" = 1 ] && vm_running one && ok "20 starts of one NAME at once: exactly one runs (start ${alive[0]}), one QEMU" ||
    bad "20 starts: ${#alive[@]} kvmlaunch alive (${alive[*]}), $(qemus one) QEMU"
[ $losers = 19 ] && ok "the other 19 exited 1 with \"already running\"" || { bad "$losers of 19 said already running"; printf '  %s\n' "${other[@]}"; }
if [ ${#alive[@]} = 1 ]; then
    holder=$(awk '{print $1}' "$KVMLAUNCH_RUNDIR/klrace-$$-one/pid")
    [ "$holder" = "${starters[$((alive[0] - 1))]}" ] && ok "the pid file names the winner ($holder)" || bad "pid file: $holder, winner ${starters[$((alive[0] - 1))]}"
    # A loser that came between the winner's lock and its first write
    # cannot know the pid yet, and says so; none may name another.
    named=$(grep -l "already running (kvmlaunch pid $holder)" "$tmp"/one.*.out | wc -l)
    early=$(grep -l "already running (its kvmlaunch is starting)" "$tmp"/one.*.out | wc -l)
    [ $((named + early)) = 19 ] && ok "the losers name the winner's pid ($named; $early came before it was written)" ||
        bad "$named of 19 losers name the winner's pid $holder, $early none: $(grep -ho 'already running ([^)]*)' "$tmp"/one.*.out | sort | uniq -c | tr -s ' \n' ' ')"
fi
"$bin" stop "klrace-$$-one" > "$tmp/one.stop" 2>&1; rc=$?
wait_all 30 "${starters[@]}"
[ $rc = 0 ] && ok "kvmlaunch stop: exit 0" || { bad "stop: exit $rc"; cat "$tmp/one.stop"; }
[ ${#alive[@]} = 1 ] && { [ "${rcs[${starters[$((alive[0] - 1))]}]}" = 0 ] && ok "the winner exited 0" || bad "the winner exited ${rcs[${starters[$((alive[0] - 1))]}]}"; }
left=$(leftovers one; ls -A "$KVMLAUNCH_RUNDIR")
[ -z "$left" ] && ok "after stop nothing is left (no runtime dir, cgroup, QEMU, kvmlaunch, cpus.state)" || bad "left after the 20 starts: $left"

# 2. 8 different VMs with pin = auto at once, 1 vCPU each.
free=$(nproc)
ids=()
for i in $(seq 1 8); do vm "auto$i" auto; ids+=("auto$i"); done
starters=()
for id in "${ids[@]}"; do start_held "$id" "$tmp/$id.out"; starters+=($!); done
go
pids+=("${starters[@]}")
# Those refused end by themselves; the rest run until stopped.
end=$((SECONDS + 60))
while [ $SECONDS -lt $end ]; do
    n=0; for p in "${starters[@]}"; do kill -0 "$p" 2>/dev/null && n=$((n + 1)); done
    r=0; for id in "${ids[@]}"; do vm_running "$id" && r=$((r + 1)); done
    [ $n = $r ] && break
    sleep 0.2
done
runners=() refused=0 other=()
for i in "${!ids[@]}"; do
    id=${ids[$i]} p=${starters[$i]}
    if kill -0 "$p" 2>/dev/null; then runners+=("$id"); continue; fi
    wait "$p"; rc=$?
    if [ $rc = 2 ] && grep -q "pin: auto: no NUMA node has 1 free CPUs" "$tmp/$id.out" && [ -z "$(leftovers "$id")" ]; then refused=$((refused + 1))
    else other+=("$id: exit $rc, left: $(leftovers "$id" | tr '\n' ' '): $(grep -v TCG "$tmp/$id.out" | head -3 | tr '\n' ' ')"); fi
done
cpus=()
for id in "${runners[@]}"; do
    "$bin" status "klrace-$$-$id" --json > "$tmp/$id.json" 2>&1
    c=$(jq -r '[.vcpus[].allowed_cpus] | join(",")' "$tmp/$id.json" 2>/dev/null)
    cpus+=("${c:-?}")
done
dups=$(printf '%s\n' "${cpus[@]}" | tr , '\n' | sort | uniq -d)
[ ${#runners[@]} = "$free" ] && [ -z "$dups" ] && ! printf '%s\n' "${cpus[@]}" | grep -q '[?-]' &&
    ok "8 VMs with pin = auto at once: ${#runners[@]} run, on CPUs ${cpus[*]} (no CPU twice)" ||
    bad "pin = auto race: ${#runners[@]} running (${runners[*]}) on '${cpus[*]}', $free CPUs free, twice: $dups"
again=$(grep -l "choosing again" "$tmp"/auto*.out | wc -l)
[ $refused = $((8 - free)) ] && ok "the other $refused exited 2 with \"no NUMA node has 1 free CPUs\", nothing left of them ($again chose again under the lock)" ||
    { bad "$refused refused as expected, not $((8 - free))"; printf '  %s\n' "${other[@]}"; }
st=$(jq -r '.claims[] | "\(.vm)=\(.cpus)"' "$KVMLAUNCH_RUNDIR/cpus.state" 2>/dev/null | sort | tr '\n' ' ')
[ "$(jq '.claims | length' "$KVMLAUNCH_RUNDIR/cpus.state" 2>/dev/null)" = "${#runners[@]}" ] && ok "cpus.state records exactly the running ones: $st" || bad "cpus.state: $st"
for id in "${runners[@]}"; do "$bin" stop "klrace-$$-$id" > /dev/null 2>&1 || bad "stop $id failed"; done
wait_all 30 "${starters[@]}"
left=$(for id in "${ids[@]}"; do leftovers "$id"; done; ls -A "$KVMLAUNCH_RUNDIR")
[ -z "$left" ] && ok "all stopped: nothing left, no cpus.state" || bad "left after the auto race: $left"
finish
