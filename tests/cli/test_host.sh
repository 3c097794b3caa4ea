#!/usr/bin/env bash
# Host preparation for real on this machine: THP, KSM, the huge-page pool
# and a disk's I/O scheduler are set while the VM runs and are back byte for
# byte afterwards; knobs shared by two VMs go back after the second; a
# kill -9 of kvmlaunch is undone by `kvmlaunch cleanup`.
set -u
. "$(dirname "$0")/lib.sh"
need_root "it writes /sys knobs"
need_guest
thp=/sys/kernel/mm/transparent_hugepage
ksm=/sys/kernel/mm/ksm
pool=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
for f in $thp/enabled $thp/defrag $ksm/run $ksm/pages_to_scan $pool; do
    [ -w "$f" ] || skip_all "$f is not writable here"
done

make_tmp --rundir /var/tmp/kltest-host.XXXXXX   # on a block device, unlike a tmpfs
disk=$tmp/disk.img
chmod 0755 "$tmp"   # QEMU runs as nobody and opens the disk
truncate -s 8M "$disk"
dev=$(stat -c '%d' "$disk"); majmin="$((dev >> 8)):$((dev & 255))"
sched=/sys/dev/block/$majmin/queue/scheduler
[ -e /sys/dev/block/$majmin/partition ] && sched=/sys/dev/block/$majmin/../queue/scheduler
files=($thp/enabled $thp/defrag $ksm/run $ksm/pages_to_scan $pool)
[ -w "$sched" ] && files+=("$sched")
snapshot() { for f in "${files[@]}"; do printf '%s=%s\n' "$f" "$(cat "$f")"; done; }
before=$(snapshot)
# Safety net: whatever happens, the host goes back to how this test found it
# (once the VMs are gone: vms_named below).
restore_all() {
    while IFS='=' read -r f v; do
        case "$v" in *"["*) v=$(sed 's/.*\[\(.*\)\].*/\1/' <<<"$v") ;; esac
        [ "$(cat "$f")" = "$(grep "^$f=" <<<"$before" | cut -d= -f2-)" ] || echo "$v" > "$f" 2>/dev/null
    done <<<"$before"
}
defer restore_all
vms_named klhost-$$

cur_thp=$(sed 's/.*\[\(.*\)\].*/\1/' $thp/enabled)
want_thp=never; [ "$cur_thp" = never ] && want_thp=always
cur_sched=$(sed 's/.*\[\(.*\)\].*/\1/' "$sched" 2>/dev/null)
want_sched=none; [ "$cur_sched" = none ] && want_sched=mq-deadline
want_scan=$(( $(cat $ksm/pages_to_scan) + 7 ))

vm_preset guest
vm() { # NAME [SECTION.KEY=VALUE | TEXT]...
    vm_ini "$1" vm.vcpus=1 "host.thp=$want_thp" host.ksm=on "host.ksm-pages-to-scan=$want_scan" "${@:2}"
}

# 1. One VM: knobs set while it runs, back byte for byte after it.
vm one "[memory]
backing = hugepages
reserve-hugepages = yes
[disk \"d\"]
file = $disk
format = raw
snapshot = yes
scheduler = $want_sched"
"$bin" --dry-run "$tmp/one.ini" > "$tmp/one.plan" 2>&1 && grep -q "$thp/enabled: $cur_thp -> $want_thp" "$tmp/one.plan" &&
    ok "--dry-run shows the host plan: $(grep -c ' -> ' "$tmp/one.plan") changes" || { bad "dry-run plan"; cat "$tmp/one.plan"; }
[ "$(snapshot)" = "$before" ] && ok "--dry-run changed nothing" || bad "--dry-run changed the host"
"$bin" "$tmp/one.ini" > "$tmp/one.out" 2>&1 & sup=$!
if wait_for 60 grep -qs "KVMLAUNCH-GUEST: stay" "$tmp/one.serial"; then
    grep -q "\[$want_thp\]" $thp/enabled && ok "THP is $want_thp while the VM runs" || bad "THP: $(cat $thp/enabled)"
    [ "$(cat $ksm/run)" = 1 ] && [ "$(cat $ksm/pages_to_scan)" = $want_scan ] && ok "KSM runs, pages_to_scan $want_scan" || bad "KSM: run $(cat $ksm/run) scan $(cat $ksm/pages_to_scan)"
    [ "$(cat $pool)" -ge 128 ] && ok "huge-page pool raised to $(cat $pool)" || bad "pool: $(cat $pool)"
    if [ -w "$sched" ]; then grep -q "\[$want_sched\]" "$sched" && ok "scheduler of $majmin is $want_sched" || bad "scheduler: $(cat "$sched")"; fi
    kill -TERM $sup; wait $sup; rc=$?
    [ $rc = 0 ] && ok "VM ended: exit 0" || { bad "exit $rc"; cat "$tmp/one.out"; }
else
    bad "VM one did not come up"; cat "$tmp/one.out"; kill -9 $sup 2>/dev/null
fi
after=$(snapshot)
[ "$after" = "$before" ] && ok "every knob is back byte for byte" || { bad "host differs after the VM:"; diff <(echo "$before") <(echo "$after"); }

# 2. Two VMs share THP: it goes back only after the second ends.
vm a ""
vm b ""
"$bin" "$tmp/a.ini" > "$tmp/a.out" 2>&1 & a=$!
wait_for 60 grep -qs "KVMLAUNCH-GUEST: stay" "$tmp/a.serial"
"$bin" "$tmp/b.ini" > "$tmp/b.out" 2>&1 & b=$!
if wait_for 60 grep -qs "KVMLAUNCH-GUEST: stay" "$tmp/b.serial"; then
    kill -TERM $a; wait $a
    grep -q "\[$want_thp\]" $thp/enabled && ok "after the first VM ends THP stays $want_thp (the second relies on it)" || bad "THP went back too early: $(cat $thp/enabled)"
    kill -TERM $b; wait $b
    [ "$(snapshot)" = "$before" ] && ok "after the second VM every knob is back" || { bad "host differs after two VMs:"; diff <(echo "$before") <(snapshot); }
else
    bad "VM b did not come up"; cat "$tmp/b.out"; kill -9 $a $b 2>/dev/null; wait
fi

# 3. kill -9 of kvmlaunch: QEMU dies, `kvmlaunch cleanup` puts the host back.
vm k ""
"$bin" "$tmp/k.ini" > "$tmp/k.out" 2>&1 & k=$!
if wait_for 60 grep -qs "KVMLAUNCH-GUEST: stay" "$tmp/k.serial"; then
    kill -9 $k; wait $k 2>/dev/null
    grep -q "\[$want_thp\]" $thp/enabled && ok "after kill -9 the knobs are still set (nobody put them back)" || bad "THP after kill -9: $(cat $thp/enabled)"
    "$bin" cleanup "klhost-$$-k" > "$tmp/cl.out" 2>&1; rc=$?
    [ $rc = 0 ] && [ "$(snapshot)" = "$before" ] && ok "cleanup put every knob back" || { bad "cleanup: exit $rc"; cat "$tmp/cl.out"; diff <(echo "$before") <(snapshot); }
else
    bad "VM k did not come up"; cat "$tmp/k.out"; kill -9 $k 2>/dev/null
fi

# 4. Too few huge pages without reservation: exit 2, nothing changed.
vm short vm.memory=16G "[memory]
backing = hugepages
hugepage-size = 2M"
"$bin" "$tmp/short.ini" > "$tmp/short.out" 2>&1; rc=$?
[ $rc = 2 ] && grep -q "expected 8192 free 2M huge pages" "$tmp/short.out" && ok "short of huge pages: exit 2 with the numbers" || { bad "short: exit $rc"; cat "$tmp/short.out"; }
[ "$(snapshot)" = "$before" ] && [ ! -e "$KVMLAUNCH_RUNDIR/klhost-$$-short" ] && ok "and nothing changed" || bad "the refused VM changed the host"

# 5. A scheduler the kernel does not offer: exit 2, naming those it has.
if [ -w "$sched" ]; then
    vm nosched "[disk \"d\"]
file = $disk
format = raw
scheduler = kyber"
    if ! grep -qw kyber "$sched"; then
        "$bin" "$tmp/nosched.ini" > "$tmp/nosched.out" 2>&1; rc=$?
        [ $rc = 2 ] && grep -q "expected a value this kernel offers" "$tmp/nosched.out" && ok "a scheduler the kernel lacks: exit 2" || bad "nosched: exit $rc"
    else
        skip "kyber is offered here: the missing-scheduler case runs on fake trees only"
    fi
fi
finish
