#!/usr/bin/env bash
# UEFI ([vm] firmware, firmware-vars; issue 17 item 2), with real VMs
# under Debian's OVMF (package ovmf) and the test guest on Debian's signed
# generic kernel with efivarfs (build/guest-efi):
#  1. check: the OVMF files and the vars store to be made; uefi-secure
#     without q35 is refused (exit 2, file:line); without the ovmf package
#     check FAILs naming it and the run exits 2.
#  2. firmware = uefi, direct kernel boot: the guest sees /sys/firmware/efi,
#     Secure Boot off; the vars store is made once in the state dir (the
#     VM's user's, 0600) from OVMF_VARS_4M.fd.
#  3. A variable the guest writes through efivarfs is read back at the next
#     start (the store is kept, not copied again).
#  4. firmware = uefi-secure: the guest reports Secure Boot enabled.
#  5. Booted from disk (no kernel): an ESP whose BOOTX64.EFI is shim without
#     its signature boots the guest under uefi, and under uefi-secure OVMF
#     refuses it (Access Denied) and the guest never runs.
#  6. Debian's signed chain on an ESP (shim-signed, grub-efi-amd64-signed,
#     the signed generic kernel; tests/uefi/build-esp.sh) boots under
#     uefi-secure and the guest reports Secure Boot enabled.
# OVMF under TCG takes tens of seconds to reach the kernel: the limits are
# generous.
set -u
. "$(dirname "$0")/lib.sh"
need_root "QEMU runs as another user"
need_cmd qemu-system-x86_64
ovmf=/usr/share/OVMF
for f in OVMF_CODE_4M.fd OVMF_VARS_4M.fd OVMF_CODE_4M.secboot.fd OVMF_VARS_4M.ms.fd; do
    [ -f "$ovmf/$f" ] || { bad "no $ovmf/$f: install the package ovmf (make deps)"; finish; }
done
need_cmd sfdisk mkfs.vfat mcopy -- "make deps: fdisk, dosfstools, mtools"

efiguest=$top/build/guest-efi
kpkg=${KL_EFI_KERNEL_PKG:-$(apt-cache depends linux-image-amd64 2> /dev/null | awk '$1 == "Depends:" && $2 ~ /^linux-image-/ { print $2; exit }')}
if ! KERNEL_PKG=$kpkg EXTRA_MODULES=efivarfs tests/guest/build.sh "$efiguest" > /dev/null 2>&1 || [ ! -s "$efiguest/vmlinuz" ]; then
    skip_all "the UEFI guest (generic kernel $kpkg) could not be built under $efiguest"
fi
guest=$efiguest
esp=$top/build/uefi
tests/uefi/build-esp.sh "$esp" "$efiguest" > "$esp.log" 2>&1 || { bad "the ESP images could not be built: $(tail -3 "$esp.log")"; finish; }

make_tmp --rundir
make_user kluefi
vms_named kluefi-$$
vm_preset guest
# Guests that end by themselves (no kl.stay): power off, exit 0. No
# isa-debug-exit: under Secure Boot the kernel's lockdown refuses raw ports.
# One vCPU: under TCG, OVMF's SMM (uefi-secure) with two takes minutes
# longer. 1G: signed grub runs out of memory loading the generic kernel
# in 256M.
vm_defaults+=(vm.vcpus=1 vm.memory=1G vm.timeout=600s vm.shutdown-timeout=5s "vm.append=console=ttyS0 quiet kl.efi=1")
says() { grep -aqE "KVMLAUNCH-GUEST: $2"$'\r?$' "$tmp/$1.serial"; } # (the serial's lines end in CR LF)
run_vm() { # ID: runs it to its end; $rc
    "$bin" "$tmp/$1.ini" > "$tmp/$1.out" 2>&1; rc=$?
}
st=$KVMLAUNCH_STATEDIR

# 1. check.
vm_ini uefi vm.firmware=uefi "vm.append=console=ttyS0 quiet kl.efi=1 kl.efivar=kept-$$"
"$bin" check "$tmp/uefi.ini" > "$tmp/uefi.chk" 2>&1; rc=$?
if [ $rc = 0 ] && grep -qE "^PASS  boot +kernel, initrd, firmware, firmware-vars open read-only as $user" "$tmp/uefi.chk" &&
    grep -qE "^PASS  boot +UEFI vars $st/$(name uefi)/efivars.fd: made from $ovmf/OVMF_VARS_4M.fd at the first start" "$tmp/uefi.chk"; then
    ok "check: the OVMF code and vars template open as $user; the store is made at the first start"
else
    bad "check uefi: exit $rc"; cat "$tmp/uefi.chk"
fi
vm_ini secpc vm.firmware=uefi-secure vm.machine=pc
"$bin" check "$tmp/secpc.ini" > "$tmp/secpc.chk" 2>&1; rc=$?
"$bin" "$tmp/secpc.ini" > "$tmp/secpc.out" 2>&1; rrc=$?
if [ $rc = 2 ] && [ $rrc = 2 ] && grep -q "secpc.ini:[0-9]*: \[vm\] firmware: expected machine = q35 with firmware = uefi-secure" "$tmp/secpc.out" &&
    [ -z "$(leftovers secpc)" ] && [ ! -e "$st/$(name secpc)" ]; then
    ok "uefi-secure with machine = pc: refused, exit 2, file:line, nothing made"
else
    bad "uefi-secure on pc: check exit $rc, run exit $rrc"; cat "$tmp/secpc.out"
fi

# Without the ovmf package (hidden by a tmpfs over its directory in a mount
# namespace of this test's own): check FAILs naming the package, once, and
# the run exits 2 before anything is made.
vm_ini noovmf vm.firmware=uefi-secure
if unshare -m true 2> /dev/null; then
    hide() { unshare -m sh -c 'mount -t tmpfs none "$1" && shift && exec "$@"' sh "$ovmf" "$bin" "$@"; }
    hide check "$tmp/noovmf.ini" > "$tmp/noovmf.chk" 2>&1; rc=$?
    hide "$tmp/noovmf.ini" > "$tmp/noovmf.out" 2>&1; rrc=$?
    want="noovmf.ini:[0-9]*: \[vm\] firmware: expected OVMF's $ovmf/OVMF_CODE_4M.secboot.fd for firmware = uefi-secure, found none: .*install the package ovmf"
    if [ $rc = 1 ] && [ "$(grep -c "^FAIL  boot .*$want" "$tmp/noovmf.chk")" = 1 ] && ! grep -q "^FAIL.*OVMF_VARS" "$tmp/noovmf.chk" &&
        [ $rrc = 2 ] && grep -q "$want" "$tmp/noovmf.out" && [ ! -e "$st/$(name noovmf)" ] && [ -z "$(leftovers noovmf)" ]; then
        ok "without OVMF's files: check FAILs once, naming the package ovmf; the run exits 2 and makes nothing"
    else
        bad "without OVMF: check exit $rc, run exit $rrc"; cat "$tmp/noovmf.chk" "$tmp/noovmf.out"
    fi
else
    skip "no mount namespace (unshare -m) to hide the ovmf package in"
fi

# 2. The first boot through OVMF.
t0=$SECONDS
run_vm uefi
vars=$st/$(name uefi)/efivars.fd
if [ $rc = 0 ] && says uefi "efi=yes" && says uefi "secureboot=0"; then
    ok "firmware = uefi: the guest booted through OVMF (-kernel) and sees /sys/firmware/efi, Secure Boot off ($((SECONDS - t0))s)"
else
    bad "uefi boot: exit $rc"; tail -5 "$tmp/uefi.out"; grep -a KVMLAUNCH-GUEST "$tmp/uefi.serial"
fi
[ "$(stat -c '%U %a %s' "$vars" 2>&1)" = "$user 600 $(stat -c %s "$ovmf/OVMF_VARS_4M.fd")" ] &&
    grep -q "UEFI vars $vars made from $ovmf/OVMF_VARS_4M.fd" "$tmp/uefi.out" &&
    ok "the vars store was made from OVMF_VARS_4M.fd: $user's, mode 0600" || bad "vars store: $(stat -c '%U %a %s' "$vars" 2>&1)"
[ -z "$(find "$st/$(name uefi)" -name '.efivars*')" ] && ok "no temporary file left in the state dir" || bad "a temporary file was left"
says uefi "efivar=none" && says uefi "efivar-written=kept-$$" && ok "the guest wrote a variable through efivarfs" ||
    bad "the guest did not write its variable"

# 3. The second boot reads it back; the store is not made again.
cp "$vars" "$tmp/vars.after1"
"$bin" check "$tmp/uefi.ini" 2>&1 | grep -qE "^PASS  boot +UEFI vars $vars: kept from an earlier start, opens read-write as $user" &&
    ok "check: the kept store opens read-write as $user" || bad "check after the first boot"
run_vm uefi
if [ $rc = 0 ] && says uefi "efivar=kept-$$" && ! grep -q "UEFI vars .* made from" "$tmp/uefi.out"; then
    ok "the variable survived a restart (second boot read it back; the store was kept)"
else
    bad "second boot: exit $rc"; tail -5 "$tmp/uefi.out"; grep -a KVMLAUNCH-GUEST "$tmp/uefi.serial"
fi
cmp -s "$tmp/vars.after1" "$ovmf/OVMF_VARS_4M.fd" && bad "the store is still the template after the guest wrote" ||
    ok "the store holds what the guest wrote (it differs from the template)"

# 4. uefi-secure, direct kernel boot.
vm_ini sec vm.firmware=uefi-secure
t0=$SECONDS
run_vm sec
if [ $rc = 0 ] && says sec "efi=yes" && says sec "secureboot=1"; then
    ok "firmware = uefi-secure: the guest reports Secure Boot enabled ($((SECONDS - t0))s)"
else
    bad "uefi-secure boot: exit $rc"; tail -5 "$tmp/sec.out"; grep -a KVMLAUNCH-GUEST "$tmp/sec.serial"
fi
grep -q "UEFI vars $st/$(name sec)/efivars.fd made from $ovmf/OVMF_VARS_4M.ms.fd" "$tmp/sec.out" &&
    ok "uefi-secure's store came from OVMF_VARS_4M.ms.fd (Microsoft's keys)" || bad "no vars store for uefi-secure"

# 5. An unsigned BOOTX64.EFI from disk: boots without Secure Boot...
disk() { printf '[disk "esp"]\nfile = %s\nformat = raw\nreadonly = yes\n' "$1"; }
vm_ini nosb vm.firmware=uefi vm.kernel= vm.initrd= vm.append= "$(disk "$esp/unsigned.img")"
t0=$SECONDS
run_vm nosb
if [ $rc = 0 ] && says nosb "efi=yes" && says nosb "secureboot=0"; then
    ok "the ESP with an unsigned shim boots the guest under uefi ($((SECONDS - t0))s)"
else
    bad "unsigned ESP under uefi: exit $rc"; tail -5 "$tmp/nosb.out"; tail -c 2000 "$tmp/nosb.serial"
fi
# ... and is refused under Secure Boot: the VM sits in OVMF, stopped here.
vm_ini refused vm.firmware=uefi-secure vm.kernel= vm.initrd= vm.append= "$(disk "$esp/unsigned.img")"
"$bin" "$tmp/refused.ini" > "$tmp/refused.out" 2>&1 &
pids+=($!)
if wait_for 400 grep -aq "Access Denied" "$tmp/refused.serial"; then
    sleep 5
    ! grep -aq "KVMLAUNCH-GUEST\|Linux version" "$tmp/refused.serial" && ok "uefi-secure refuses the unsigned BOOTX64.EFI (Access Denied); the guest never ran" ||
        bad "the guest ran after all"
else
    bad "no Access Denied from OVMF within 400s"; tail -c 2000 "$tmp/refused.serial"
fi
"$bin" stop "$(name refused)" > /dev/null 2>&1
wait_for 60 eval '[ -z "$(leftovers refused)" ]' || bad "refused left: $(leftovers refused)"

# 6. The signed chain from disk.
vm_ini chain vm.firmware=uefi-secure vm.kernel= vm.initrd= vm.append= "$(disk "$esp/signed.img")"
t0=$SECONDS
run_vm chain
if [ $rc = 0 ] && says chain "efi=yes" && says chain "secureboot=1"; then
    ok "shim-signed + grub-efi-amd64-signed + the signed kernel boot from the ESP under uefi-secure; Secure Boot enabled ($((SECONDS - t0))s)"
else
    bad "signed chain: exit $rc"; tail -5 "$tmp/chain.out"; tail -c 2000 "$tmp/chain.serial"
fi
finish
