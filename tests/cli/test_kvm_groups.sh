#!/usr/bin/env bash
# KVM on stock Debian (issue 15, item 1): QEMU keeps exactly the
# supplementary groups the group database gives its user, as libvirt's qemu
# user does, and none of kvmlaunch's own.
#  1. Without group G, an initrd only G may read (0640 root:G) is a FAIL of
#     `check` that names the group and the fix; the run refuses it (exit 2).
#  2. /dev/kvm as that exact identity, through a fake root (KVMLAUNCH_ROOT:
#     this host has no /dev/kvm) whose dev/kvm is 0660 root:G: accel = kvm
#     FAILs naming `usermod -aG G USER`, auto WARNs that it falls back to
#     TCG; once the user is in G it opens, and `check` and --dry-run name
#     the groups; a tree without dev/kvm says so.
#  3. With the user in G, the VM boots from that initrd, and QEMU's
#     `Groups:` line equals `id -G USER`, though kvmlaunch itself runs with
#     another supplementary group.
#  4. A user in group disk or root (gid 0) is a FAIL of check and run, in
#     shadow a WARN, each naming `gpasswd -d USER GROUP`.
set -u
. "$(dirname "$0")/lib.sh"
need_root "QEMU is started as another user; the test makes users and groups"
need_guest; need_cmd qemu-system-x86_64 setpriv

make_tmp --rundir
make_user klgrp
vms_named klgrp-$$
g=klgrpg$$ gx=klgrpx$$
groupadd --system "$g" && defer groupdel "$g" || bad "groupadd $g"
groupadd --system "$gx" && defer groupdel "$gx" || bad "groupadd $gx"
gid_x=$(getent group "$gx" | cut -d: -f3)

vm_preset guest
cp "$guest/initrd.img" "$tmp/initrd.img"
chown root:"$g" "$tmp/initrd.img" && chmod 0640 "$tmp/initrd.img"
vm() { # ID [SECTION.KEY=VALUE...]
    vm_ini "$1" vm.vcpus=1 "vm.initrd=$tmp/initrd.img" "${@:2}"
}
sorted_ids() { tr ' ' '\n' | grep . | sort -n | tr '\n' ' '; }

# 1. Not in G: the initrd is refused by check and run, with the fix named.
vm boot
"$bin" check "$tmp/boot.ini" > "$tmp/boot.check" 2>&1; rc=$?
want="^FAIL  boot +$tmp/boot.ini:[0-9]+: \[vm\] initrd: $user cannot open $tmp/initrd.img read-only: Permission denied \(group $g may read it, and $user is not in it: usermod -aG $g $user, if it should be\)$"
if [ $rc = 1 ] && grep -qE "$want" "$tmp/boot.check"; then ok "without $g, check FAILs on the initrd and names the fix"
else bad "check without the group: exit $rc"; cat "$tmp/boot.check"; fi
grep -qE "^PASS  user +QEMU runs as $user \(uid [0-9]+, gid [0-9]+, groups $user\), no capabilities$" "$tmp/boot.check" \
    && ok "check names QEMU's one group" || { bad "user line"; grep user "$tmp/boot.check"; }
"$bin" "$tmp/boot.ini" > "$tmp/boot.refused" 2>&1; rc=$?
[ $rc = 2 ] && [ -z "$(leftovers boot)" ] && ok "the run refuses it (exit 2), nothing left" || { bad "run without the group: exit $rc"; cat "$tmp/boot.refused"; }

# 2. /dev/kvm through a fake root: a file of mode 0660 root:G stands for it.
root=$tmp/root
mkdir -p "$root/dev" && chmod 0755 "$root" "$root/dev"
: > "$root/dev/kvm" && chown root:"$g" "$root/dev/kvm" && chmod 0660 "$root/dev/kvm"
fake_check() { # ID: check with the fake root, output in $tmp/ID.check, exit status in $rc
    KVMLAUNCH_ROOT=$root "$bin" check "$tmp/$1.ini" > "$tmp/$1.check" 2> "$tmp/$1.stderr"; rc=$?
}
vm kvm vm.accel=kvm
fake_check kvm
want="^FAIL  kvm +$tmp/kvm.ini:[0-9]+: \[vm\] accel: expected /dev/kvm to open read-write for accel = kvm, found it refused to $user \(uid [0-9]+, gid [0-9]+, groups $user\): Permission denied; /dev/kvm is mode 0660, group $g; fix: usermod -aG $g $user$"
if [ $rc = 1 ] && grep -qE "$want" "$tmp/kvm.check"; then ok "accel = kvm, user not in $g: FAIL, fix: usermod -aG $g $user"
else bad "kvm check without the group: exit $rc"; cat "$tmp/kvm.check" "$tmp/kvm.stderr"; fi
vm auto vm.accel=auto
fake_check auto
if grep -qE "^WARN  kvm +$tmp/auto.ini:[0-9]+: \[vm\] accel: running under TCG, a slow software emulator: /dev/kvm does not open read-write, found it refused to $user .*fix: usermod -aG $g $user$" "$tmp/auto.check" \
    && ! grep -q "^FAIL  kvm" "$tmp/auto.check"; then ok "accel = auto, user not in $g: a WARN that it falls back to TCG, with the fix"
else bad "auto check without the group"; cat "$tmp/auto.check"; fi

usermod -aG "$g" "$user" || bad "usermod -aG $g $user"
fake_check kvm
if grep -qE "^PASS  kvm +/dev/kvm opens read-write as $user \(uid [0-9]+, gid [0-9]+, groups ($user, $g|$g, $user)\)$" "$tmp/kvm.check" \
    && ! grep -q "^FAIL  kvm" "$tmp/kvm.check"; then ok "in $g: /dev/kvm (0660 root:$g) opens as $user with its groups"
else bad "kvm check with the group: exit $rc"; cat "$tmp/kvm.check"; fi
grep -qE "^PASS  user +QEMU runs as $user \(uid [0-9]+, gid [0-9]+, groups ($user, $g|$g, $user)\), no capabilities$" "$tmp/kvm.check" \
    && ok "check names the groups QEMU gets" || { bad "user line with the group"; grep user "$tmp/kvm.check"; }
rm "$root/dev/kvm"
fake_check kvm
grep -qE "^FAIL  kvm +.*accel = kvm, found no /dev/kvm; this host offers no KVM" "$tmp/kvm.check" && ok "no /dev/kvm: said so" \
    || { bad "no /dev/kvm line"; cat "$tmp/kvm.check"; }

KVMLAUNCH_ROOT=$root "$bin" --dry-run "$tmp/kvm.ini" > "$tmp/kvm.dry" 2>&1
grep -qE "^# QEMU runs as $user \(uid [0-9]+, gid [0-9]+, groups ($user, $g|$g, $user)\), no capabilities$" "$tmp/kvm.dry" \
    && ok "--dry-run shows the groups QEMU gets" || { bad "--dry-run identity line"; cat "$tmp/kvm.dry"; }

# 3. In G: the VM boots from the initrd only G may read, and QEMU has
# exactly the user's groups, not kvmlaunch's extra one ($gx).
"$bin" check "$tmp/boot.ini" > "$tmp/boot.check2" 2>&1
grep -q "^PASS  boot .*initrd" "$tmp/boot.check2" && ok "in $g: check passes the initrd" || { bad "boot line with the group"; cat "$tmp/boot.check2"; }
setpriv --groups "$gid_x" "$bin" "$tmp/boot.ini" > "$tmp/boot.out" 2>&1 &
pids+=($!); sup=$!
if wait_for 90 grep -qs "KVMLAUNCH-GUEST: stay" "$tmp/boot.serial"; then
    ok "the guest booted from an initrd only $g may read"
    q=$(qemu_of boot)
    got=$(sed -n 's/^Groups:\t*//p' "/proc/$q/status" | sorted_ids)
    want=$(id -G "$user" | sorted_ids)
    [ -n "$got" ] && [ "$got" = "$want" ] && ok "QEMU's Groups: $got = id -G $user" || bad "QEMU's Groups: '$got', id -G $user: '$want'"
    sed -n 's/^Groups:\t*//p' "/proc/$sup/status" | grep -qw "$gid_x" && ok "kvmlaunch itself ran with group $gx ($gid_x)" \
        || bad "kvmlaunch lacks the extra group: $(grep Groups "/proc/$sup/status")"
    [[ " $got " != *" $gid_x "* ]] && ok "QEMU did not get kvmlaunch's group $gx" || bad "QEMU has kvmlaunch's group $gid_x"
    "$bin" stop "$(name boot)" > /dev/null 2>&1
    wait "$sup"; rc=$?
    [ $rc = 0 ] && ok "stopped, exit 0" || { bad "exit $rc after stop"; tail -5 "$tmp/boot.out"; }
else
    bad "the guest did not boot"; cat "$tmp/boot.out"; tail -5 "$tmp/boot.serial" 2>/dev/null
fi
[ -z "$(leftovers boot)" ] || bad "left: $(leftovers boot)"

# 4. Groups that hand a QEMU escape the host, with the host's real groups
# (a group cannot be named disk otherwise): the user joins each for a while
# (gpasswd -d takes it out again, and userdel at the end in any case).
leave() { gpasswd -d "$user" "$1" > /dev/null 2>&1; }
join() { # GROUP: $user is in it until left
    getent group "$1" > /dev/null || return 1
    gpasswd -a "$user" "$1" > /dev/null && defer leave "$1"
}
if join disk; then
    gid=$(getent group disk | cut -d: -f3)
    "$bin" check "$tmp/boot.ini" > "$tmp/disk.check" 2>&1; rc=$?
    want="^FAIL  user +$tmp/boot.ini:[0-9]+: \[vm\] user: $user is in group disk \(gid $gid\), which QEMU keeps: raw access to the host's disks; a guest that escapes QEMU would have it; fix: gpasswd -d $user disk$"
    [ $rc = 1 ] && grep -qE "$want" "$tmp/disk.check" && ok "in group disk: check FAILs naming it and gpasswd -d $user disk" || { bad "disk: exit $rc"; cat "$tmp/disk.check"; }
    "$bin" "$tmp/boot.ini" > "$tmp/disk.run" 2>&1; rc=$?
    [ $rc = 2 ] && [ -z "$(leftovers boot)" ] && ok "the run refuses it (exit 2), nothing left" || { bad "run in group disk: exit $rc"; cat "$tmp/disk.run"; }
    leave disk
else
    skip "no group disk on this host"
fi
join root || bad "no group root (gid 0)"
"$bin" check "$tmp/boot.ini" > "$tmp/root.check" 2>&1; rc=$?
[ $rc = 1 ] && grep -qE "^FAIL  user +.*$user is in group root \(gid 0\), which QEMU keeps: root's group, .*fix: gpasswd -d $user root$" "$tmp/root.check" &&
    ok "in group root: check FAILs" || { bad "root group: exit $rc"; cat "$tmp/root.check"; }
leave root
if join shadow; then
    "$bin" check "$tmp/boot.ini" > "$tmp/shadow.check" 2>&1; rc=$?
    [ $rc = 0 ] && grep -qE "^WARN  user +.*$user is in group shadow \(gid [0-9]+\), which QEMU keeps: /etc/shadow: every password hash, .*fix: gpasswd -d $user shadow$" "$tmp/shadow.check" &&
        ! grep -q "^FAIL" "$tmp/shadow.check" && ok "in group shadow: a WARN naming it, exit 0" || { bad "shadow: exit $rc"; cat "$tmp/shadow.check"; }
    leave shadow
else
    skip "no group shadow on this host"
fi
"$bin" check "$tmp/boot.ini" > "$tmp/none.check" 2>&1; rc=$?
[ $rc = 0 ] && ! grep -q "which QEMU keeps" "$tmp/none.check" && ok "out of them again: no such line, exit 0" || { bad "after leaving: exit $rc"; cat "$tmp/none.check"; }
[ -z "$(getent group disk root shadow | cut -d: -f4 | tr ',' '\n' | grep -x "$user")" ] && ok "the host's groups no longer list $user" || bad "still a member: $(getent group disk root shadow)"
finish
