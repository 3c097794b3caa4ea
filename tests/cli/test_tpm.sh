#!/usr/bin/env bash
# [tpm] enabled = yes (issue 17, item 3): a TPM 2.0 from swtpm, with the
# busybox test guest under TCG (the cloud kernel has tpm_crb and tpm_tis
# built in); its /init with kl.tpm=1 prints the TPM's major version and a
# digest of its endorsement key (TPM2_CreatePrimary with the EK template,
# raw through /dev/tpmrm0), which the TPM derives from the seed in its
# persistent state.
#  1. --dry-run: swtpm's command line (state in STATE-DIR/tpm, the control
#     channel an fd, --terminate) and QEMU's -chardev/-tpmdev/-device:
#     tpm-crb on q35, tpm-tis on pc; microvm refused (file:line, exit 2).
#  2. check: PASS naming swtpm; without swtpm (KVMLAUNCH_SWTPM=none) FAIL
#     naming the Debian package, and the run refuses (exit 2), leaving
#     nothing.
#  3. The guest sees tpm0, TPM 2.0. While it runs swtpm is the VM's user
#     (uid, gid and groups as QEMU's), in the VM's emulator cgroup and on
#     its CPU; after `stop` no swtpm is left, and its state files (the
#     user's, 0600, in a 0700 tpm/) stay.
#     A swtpm killed under the VM is reported, and the VM still stops; a
#     tpm/ of another owner FAILs check and the run refuses it.
#  4. The state persists: a second boot shows the same endorsement key, and
#     another VM (another state) a different one.
#  5. kill -9 of kvmlaunch while the guest runs, and at points all through
#     the start: no swtpm and no QEMU left; the state dir stays, and the
#     next boot still shows the same key (the state is not corrupted).
set -u
. "$(dirname "$0")/lib.sh"
need_root "swtpm and QEMU run as the VM's user"
need_cmd qemu-system-x86_64
need_guest
# A Debian package brings it (make deps): missing, the test fails.
if [ ! -x /usr/bin/swtpm ]; then bad "no /usr/bin/swtpm: install the Debian package swtpm (make deps)"; finish; fi

make_tmp --rundir
make_user kltpm
vms_named kltpm-$$
vm_preset guest
st_of() { echo "$KVMLAUNCH_STATEDIR/$(name "$1")"; }
swtpm_of() { pgrep -f "^/usr/bin/swtpm socket --tpm2 --tpmstate dir=$(st_of "$1")/tpm," | head -1; }
no_swtpm() { [ -z "$(swtpm_of "$1")" ]; }
no_qemu() { [ -z "$(qemu_of "$1")" ]; }
ek_of() { sed -n 's/.*KVMLAUNCH-GUEST: tpm-ek rc=00000000 sha256=\([0-9a-f]\{64\}\).*/\1/p' "$1" | tail -1; }
boot() { # ID: a boot to the end (no kl.stay); its serial in $tmp/ID.serial
    "$bin" "$tmp/$1.ini" > "$tmp/$1.out" 2>&1
}
once="vm.append=console=ttyS0 quiet kl.tpm=1"

# 1. The plan.
vm_ini a "$once" "[tpm]" "enabled = yes"
"$bin" --dry-run "$tmp/a.ini" > "$tmp/a.dry" 2> "$tmp/a.dry.err"; rc=$?
if [ $rc = 0 ] && grep -qxF "/usr/bin/swtpm socket --tpm2 --tpmstate dir=$(st_of a)/tpm,mode=0600 --ctrl type=unixio,clientfd=3 --terminate" "$tmp/a.dry" &&
    grep -qE "^# tpm: TPM 2.0 \(tpm-crb\) from /usr/bin/swtpm as $user, no capabilities" "$tmp/a.dry" &&
    grep -qE "^ +-chardev socket,id=chrtpm,fd=[0-9]+ \\\\$" "$tmp/a.dry" &&
    grep -qF -- "-tpmdev emulator,id=tpm0,chardev=chrtpm" "$tmp/a.dry" && grep -qF '"driver":"tpm-crb","tpmdev":"tpm0"' "$tmp/a.dry"; then
    ok "--dry-run: swtpm's command line and QEMU's tpm-crb on q35"
else
    bad "--dry-run of [tpm]: exit $rc"; cat "$tmp/a.dry" "$tmp/a.dry.err"
fi
vm_ini pc vm.machine=pc "[tpm]" "enabled = yes"
"$bin" --dry-run "$tmp/pc.ini" 2> /dev/null | grep -qF '"driver":"tpm-tis","tpmdev":"tpm0"' && ok "--dry-run: tpm-tis on pc" || bad "pc: no tpm-tis"
vm_ini off
"$bin" --dry-run "$tmp/off.ini" 2> /dev/null | grep -qE "swtpm|tpmdev|# tpm" && bad "a VM without [tpm] has a TPM" || ok "without [tpm]: no TPM, no swtpm"
vm_ini micro vm.machine=microvm "[tpm]" "enabled = yes"
"$bin" --dry-run "$tmp/micro.ini" > "$tmp/micro.out" 2>&1; rc=$?
[ $rc = 2 ] && grep -qE "^$tmp/micro.ini:[0-9]+: \[tpm\] enabled: expected no with machine = microvm" "$tmp/micro.out" \
    && ok "microvm with a TPM: file:line, exit 2" || { bad "microvm: exit $rc"; cat "$tmp/micro.out"; }

# 2. check.
"$bin" check "$tmp/a.ini" > "$tmp/a.chk" 2>&1; rc=$?
[ $rc = 0 ] && grep -qE "^PASS  tpm +TPM 2.0 \(tpm-crb\) from /usr/bin/swtpm as $user, its state in $(st_of a)/tpm" "$tmp/a.chk" \
    && ok "check: PASS naming swtpm and the state" || { bad "check: exit $rc"; cat "$tmp/a.chk"; }
KVMLAUNCH_SWTPM=none "$bin" check "$tmp/a.ini" > "$tmp/a.chk2" 2>&1; rc=$?
[ $rc = 1 ] && grep -qE "^FAIL  tpm +$tmp/a.ini:[0-9]+: \[tpm\] enabled: expected swtpm .*install the Debian package swtpm" "$tmp/a.chk2" \
    && ok "check without swtpm: FAIL naming the package" || { bad "check without swtpm: exit $rc"; cat "$tmp/a.chk2"; }
KVMLAUNCH_SWTPM=none "$bin" "$tmp/a.ini" > "$tmp/a.nosw" 2>&1; rc=$?
[ $rc = 2 ] && grep -q "install the Debian package swtpm" "$tmp/a.nosw" && [ -z "$(leftovers a)" ] && [ ! -e "$(st_of a)" ] \
    && ok "a run without swtpm: exit 2, nothing made" || { bad "run without swtpm: exit $rc, left: $(leftovers a)"; cat "$tmp/a.nosw"; }

# 3. A running guest with a TPM; swtpm as the VM's user, placed, stopped.
vm_ini run "vm.append=console=ttyS0 quiet kl.tpm=1 kl.stay=1" cpu.emulator=0 "[tpm]" "enabled = yes"
"$bin" "$tmp/run.ini" > "$tmp/run.out" 2>&1 &
kl=$!
pids+=($kl)
if wait_for 180 grep -qs "KVMLAUNCH-GUEST: stay" "$tmp/run.serial"; then
    grep -q "KVMLAUNCH-GUEST: tpm=tpm0 version=2" "$tmp/run.serial" && ok "the guest sees tpm0, a TPM 2.0" \
        || { bad "no TPM 2.0 in the guest"; grep KVMLAUNCH-GUEST "$tmp/run.serial"; }
    [ -n "$(ek_of "$tmp/run.serial")" ] && ok "the guest reads its endorsement key through /dev/tpmrm0" \
        || { bad "no endorsement key"; grep "tpm" "$tmp/run.serial"; }
    sw=$(swtpm_of run) q=$(qemu_of run)
    if [ -n "$sw" ] && [ -n "$q" ]; then
        ids() { awk '/^(Uid|Gid|Groups):/ { $1 = ""; print }' "/proc/$1/status" | tr -s ' \t' ' '; }
        [ "$(ids "$sw")" = "$(ids "$q")" ] && [ "$(awk '/^Uid:/ { print $2 }' "/proc/$sw/status")" = "$(id -u "$user")" ] \
            && ok "swtpm runs as the VM's user, with QEMU's uid, gid and groups" || bad "swtpm's ids $(ids "$sw") against QEMU's $(ids "$q")"
        [ "$(awk '/^CapEff:/ { print $2 }' "/proc/$sw/status")" = 0000000000000000 ] && ok "swtpm has no capabilities" || bad "swtpm has capabilities"
        grep -qE "kvmlaunch/$(name run)/emulator\$" "/proc/$sw/cgroup" && ok "swtpm is in the VM's emulator cgroup" \
            || { bad "swtpm's cgroup"; cat "/proc/$sw/cgroup"; }
        [ "$(awk '/^Cpus_allowed_list:/ { print $2 }' "/proc/$sw/status")" = 0 ] && ok "swtpm is on the emulator's CPU" \
            || bad "swtpm's CPUs: $(grep Cpus_allowed_list "/proc/$sw/status")"
        ! ls -l "/proc/$sw/fd" 2> /dev/null | grep -qF "$KVMLAUNCH_RUNDIR/" && ok "swtpm holds nothing of the runtime dir" || bad "swtpm holds a runtime dir file"
    else
        bad "swtpm ($sw) or QEMU ($q) not found"
    fi
else
    bad "the guest did not come up"; cat "$tmp/run.out"
fi
"$bin" stop "$(name run)" > /dev/null 2>&1
wait "$kl"; rc=$?
st=$(st_of run)/tpm
[ $rc = 0 ] && wait_for 5 no_swtpm run && [ -z "$(leftovers run)" ] && ok "after stop (exit 0): no swtpm, nothing of the VM left" \
    || { bad "after stop: exit $rc, swtpm $(swtpm_of run), left: $(leftovers run)"; cat "$tmp/run.out"; }
if [ "$(stat -c '%U %a' "$st")" = "$user 700" ] && [ "$(stat -c '%U %a' "$st/tpm2-00.permall")" = "$user 600" ]; then
    ok "the TPM's state stays: $st (0700) and tpm2-00.permall (0600), the VM's user's"
else
    bad "TPM state: $(ls -la "$st" 2>&1)"
fi

# A swtpm that dies under the VM is reported; the VM still stops, leaving
# nothing.
vm_ini die "vm.append=console=ttyS0 quiet kl.tpm=1 kl.stay=1" "[tpm]" "enabled = yes"
"$bin" "$tmp/die.ini" > "$tmp/die.out" 2>&1 &
kl=$!
pids+=($kl)
if wait_for 180 grep -qs "KVMLAUNCH-GUEST: stay" "$tmp/die.serial"; then
    kill -9 "$(swtpm_of die)"
    wait_for 10 grep -qF "swtpm was killed by signal 9 (Killed): the guest lost its TPM" "$tmp/die.out" \
        && ok "a swtpm killed under the VM is reported" || { bad "its death was not reported"; cat "$tmp/die.out"; }
else bad "the guest did not come up"; cat "$tmp/die.out"; fi
"$bin" stop "$(name die)" > /dev/null 2>&1
wait "$kl"; rc=$?
[ $rc = 0 ] && [ -z "$(leftovers die)" ] && ok "the VM still stops (exit 0), nothing left" || { bad "after swtpm died: exit $rc, left: $(leftovers die)"; cat "$tmp/die.out"; }

# tpm/ in the state dir that is not the VM's user's: check FAILs, the run
# refuses (exit 2) and starts nothing.
vm_ini other "$once" "[tpm]" "enabled = yes"
mkdir -p -m 0700 "$(st_of other)/tpm" && chown "$user" "$(st_of other)"
"$bin" check "$tmp/other.ini" > "$tmp/other.chk" 2>&1; rc=$?
[ $rc = 1 ] && grep -qE "^FAIL  tpm +$tmp/other.ini:[0-9]+: \[tpm\] enabled: expected $(st_of other)/tpm to be a directory of uid $(id -u "$user"), found a directory of uid 0" "$tmp/other.chk" \
    && ok "check: a tpm/ of another owner FAILs" || { bad "check other: exit $rc"; cat "$tmp/other.chk"; }
"$bin" "$tmp/other.ini" > "$tmp/other.out" 2>&1; rc=$?
[ $rc = 2 ] && no_swtpm other && [ -z "$(leftovers other)" ] && ok "the run refuses it: exit 2, no swtpm, nothing left" \
    || { bad "run other: exit $rc, left: $(leftovers other)"; cat "$tmp/other.out"; }

# 4. The same state, the same key; another state, another key.
ek1=$(ek_of "$tmp/run.serial")
vm_ini run "$once" "[tpm]" "enabled = yes"
boot run; rc=$?
ek2=$(ek_of "$tmp/run.serial")
[ $rc = 0 ] && [ -n "$ek1" ] && [ "$ek1" = "$ek2" ] && ok "a restart shows the same endorsement key ($ek2)" \
    || { bad "restart: exit $rc, key $ek1 then $ek2"; cat "$tmp/run.out"; }
boot a; rc=$?
eka=$(ek_of "$tmp/a.serial")
[ $rc = 0 ] && [ -n "$eka" ] && [ "$eka" != "$ek2" ] && ok "another VM's TPM has another key" || bad "VM a: exit $rc, key $eka (run's $ek2)"

# 5. kill -9 of kvmlaunch: while the guest runs, then at points of the start.
vm_ini run "vm.append=console=ttyS0 quiet kl.tpm=1 kl.stay=1" "[tpm]" "enabled = yes"
"$bin" "$tmp/run.ini" > "$tmp/run.out" 2>&1 &
kl=$!
pids+=($kl)
if wait_for 180 grep -qs "KVMLAUNCH-GUEST: stay" "$tmp/run.serial"; then
    kill -9 $kl
    wait $kl 2> /dev/null
    wait_for 10 no_swtpm run && wait_for 10 no_qemu run && ok "kill -9 of kvmlaunch while the guest runs: no swtpm, no QEMU" \
        || bad "after kill -9: swtpm $(swtpm_of run), QEMU $(qemu_of run)"
else
    bad "the guest did not come up"; cat "$tmp/run.out"
fi
"$bin" cleanup "$(name run)" > /dev/null 2>&1
left= alive=0
for delay in 0.02 0.05 0.08 0.1 0.15 0.2 0.3 0.4 0.5 0.7 1.0 1.5; do
    "$bin" "$tmp/run.ini" > "$tmp/run.k.out" 2>&1 &
    kl=$!
    pids+=($kl)
    sleep $delay
    # PDEATHSIG's case: swtpm up, QEMU not yet (or not yet connected).
    [ -n "$(swtpm_of run)" ] && alive=$((alive + 1))
    kill -9 $kl 2> /dev/null
    wait $kl 2> /dev/null
    wait_for 10 no_swtpm run && wait_for 10 no_qemu run || left+=" $delay s: swtpm $(swtpm_of run) QEMU $(qemu_of run);"
    "$bin" cleanup "$(name run)" > /dev/null 2>&1
done
[ -z "$left" ] && ok "kill -9 at twelve points of the start ($alive with swtpm running): no swtpm, no QEMU" || bad "left after kill -9 at$left"
[ $alive -gt 0 ] && ok "some of the kills came while swtpm ran" || skip "no kill came while swtpm ran (a slow or fast host): the start's window was missed"
vm_ini run "$once" "[tpm]" "enabled = yes"
boot run; rc=$?
ek3=$(ek_of "$tmp/run.serial")
[ $rc = 0 ] && [ -e "$st/tpm2-00.permall" ] && [ "$ek3" = "$ek2" ] && ok "after the kills the state is intact: the same key again" \
    || { bad "after the kills: exit $rc, key $ek3 (was $ek2)"; cat "$tmp/run.out"; }
finish
