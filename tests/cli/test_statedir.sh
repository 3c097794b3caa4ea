#!/usr/bin/env bash
# The VM's state dir ([vm] state-dir, issue 17 item 1), with real VMs: made
# at the first start for the VM's user, mode 0700, missing parents 0755;
# kept, with what is in it, across runs and `cleanup`; the default is
# $KVMLAUNCH_STATEDIR/NAME. `check` says where it is, and refuses (FAIL,
# and the run exits 2 before anything is made) one with another owner or
# mode, a symbolic link on its path, or a file in its place.
set -u
. "$(dirname "$0")/lib.sh"
need_root "the state dir is made for the VM's user"
need_cmd qemu-system-x86_64

make_tmp --rundir
make_user klsd
vms_named klsd-$$
chmod 0755 "$tmp"
vm_preset bios
vm_defaults+=(vm.timeout=1s)

st=$tmp/states/a/vm1
vm_ini one "vm.state-dir=$st"
owner_mode() { stat -c '%U %a' "$1"; }

# check before the first start: where, for whom; nothing made.
"$bin" check "$tmp/one.ini" > "$tmp/one.chk" 2>&1
grep -qE "^PASS  state +state dir $st: made at the start for $user, mode 0700" "$tmp/one.chk" && [ ! -e "$tmp/states" ] \
    && ok "check names the state dir to be made, and makes nothing" || { bad "check before the first start"; cat "$tmp/one.chk"; }

# The first run makes it (the [vm] timeout ends the VM: exit 124).
"$bin" "$tmp/one.ini" > "$tmp/one.out" 2>&1; rc=$?
if [ $rc = 124 ] && [ "$(owner_mode "$st")" = "$user 700" ] && [ "$(owner_mode "$tmp/states/a")" = "root 755" ]; then
    ok "the first run made $st for $user, mode 0700 (parents root's, 0755)"
else
    bad "first run: exit $rc, state dir $(owner_mode "$st" 2>&1), parent $(owner_mode "$tmp/states/a" 2>&1)"; cat "$tmp/one.out"
fi
grep -q "Made the state dir $st" "$tmp/one.out" && ok "the run says it made it" || bad "no line about making the state dir"

# Kept: what is in it stays, through a second run and cleanup.
echo kept > "$st/marker"; chown "$user" "$st/marker"
"$bin" "$tmp/one.ini" > "$tmp/one2.out" 2>&1; rc=$?
"$bin" cleanup "$(name one)" > /dev/null 2>&1
"$bin" cleanup --all > /dev/null 2>&1
if [ $rc = 124 ] && [ "$(cat "$st/marker" 2>/dev/null)" = kept ] && ! grep -q "Made the state dir" "$tmp/one2.out"; then
    ok "a second run and cleanup keep the state dir and its files"
else
    bad "second run: exit $rc, marker $(cat "$st/marker" 2>&1)"; cat "$tmp/one2.out"
fi
"$bin" check "$tmp/one.ini" 2>&1 | grep -qE "^PASS  state +state dir $st: there, $user's, mode 0700" \
    && ok "check: an existing state dir passes" || bad "check after the runs"

# The default: $KVMLAUNCH_STATEDIR/NAME.
vm_ini two
"$bin" "$tmp/two.ini" > "$tmp/two.out" 2>&1; rc=$?
[ $rc = 124 ] && [ "$(owner_mode "$KVMLAUNCH_STATEDIR/$(name two)")" = "$user 700" ] \
    && ok "default state dir \$KVMLAUNCH_STATEDIR/NAME" || { bad "default state dir: exit $rc"; cat "$tmp/two.out"; }

# refused ID REGEX WHAT: check FAILs with REGEX, the run exits 2 and
# leaves nothing of the VM.
refused() {
    "$bin" check "$tmp/$1.ini" > "$tmp/$1.chk" 2>&1; local rc=$?
    if [ $rc = 1 ] && grep -qE "^FAIL  state +$tmp/$1.ini:[0-9]+: \[vm\] state-dir: $2" "$tmp/$1.chk"; then ok "check: $3"
    else bad "check $1: exit $rc"; cat "$tmp/$1.chk"; fi
    "$bin" "$tmp/$1.ini" > "$tmp/$1.run" 2>&1; rc=$?
    if [ $rc = 2 ] && grep -qE "state-dir: $2" "$tmp/$1.run" && [ -z "$(leftovers "$1")" ]; then ok "run: $3: exit 2, nothing made"
    else bad "run $1: exit $rc, left: $(leftovers "$1")"; cat "$tmp/$1.run"; fi
}
mkdir -p "$tmp/wrong"
vm_ini owner "vm.state-dir=$tmp/wrong"
refused owner "expected a directory owned by uid $(id -u "$user") with mode 0700, found owner uid 0, mode 0755" "a state dir of another owner"
mkdir -m 0755 "$tmp/open"; chown "$user" "$tmp/open"
vm_ini mode "vm.state-dir=$tmp/open"
refused mode "expected a directory owned by uid $(id -u "$user") with mode 0700, found owner uid $(id -u "$user"), mode 0755" "a state dir others may read"
mkdir -p "$tmp/elsewhere"; ln -s elsewhere "$tmp/link"
vm_ini link "vm.state-dir=$tmp/link/vm"
refused link "expected a path without symbolic links, found one on the way to $tmp/link/vm" "a symbolic link on the way"
[ ! -e "$tmp/elsewhere/vm" ] && ok "nothing made through the link" || bad "a state dir was made through the link"
touch "$tmp/file"
vm_ini file "vm.state-dir=$tmp/file"
refused file "expected a directory" "a file in its place"

# Bad input: a relative path is an error of the file (exit 2).
vm_ini rel "vm.state-dir=states/x"
"$bin" check "$tmp/rel.ini" > "$tmp/rel.chk" 2>&1; rc=$?
[ $rc = 2 ] && grep -q "\[vm\] state-dir: expected an absolute path, found \"states/x\"" "$tmp/rel.chk" \
    && ok "a relative state-dir: exit 2, file:line" || { bad "relative state-dir: exit $rc"; cat "$tmp/rel.chk"; }
finish
