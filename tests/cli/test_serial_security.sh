#!/usr/bin/env bash
# The serial log, the one host file the guest writes (issue 20, item 1;
# include/seriallog.h has the rules). As root, with a user this test makes:
# 1. a root-owned 0600 file (in /root and in a directory the user can
#    reach) is refused by `check` (exit 1, FAIL naming FILE:LINE [vm]
#    serial) and by the run (exit 2), nothing written into it, nothing left;
# 2. directories others can write (0777, sticky 1777, group-writable,
#    another user's) and a symbolic link on the way are refused, nothing
#    created;
# 3. the race: the VM's user swaps a directory of the path for a symbolic
#    link to a root-only directory, in a loop, while VMs start one after
#    another (20 starts or 30 s): nothing ever lands in the root-only one;
# 4. the log in the user's directory gets the guest's console, owned by
#    the user; the default log (serial.log in the runtime dir, kvmlaunch's
#    own, mode 0700) too, written by the supervisor, which relays the
#    console (include/serialrelay.h): QEMU holds no descriptor of it.
set -u
. "$(dirname "$0")/lib.sh"
need_root "the log is opened as another user"
need_guest; need_cmd qemu-system-x86_64 setpriv

make_tmp --rundir
make_user klser
vms_named klser-$$
vm_preset guest                       # $tmp is now $user's, 0700
chmod 0755 "$tmp"                     # others may reach what is below
ugid=$(id -g "$user")
as_user() { setpriv --reuid="$user" --regid="$ugid" --clear-groups -- "$@"; }

# A guest that prints its console and powers off (today's kvmlaunch wrote
# that console into whatever the path named).
vm() { # ID SERIALPATH [KEY=VALUE...]
    local id=$1 path=$2; shift 2
    vm_ini "$id" "vm.append=console=ttyS0 quiet" "vm.serial=file:$path" "$@"
}
line_of() { grep -n '^serial' "$tmp/$1.ini" | cut -d: -f1; }
# refused ID PATTERN WHAT: check exits 1 with the FAIL line, the run exits
# 2 with the same message, and nothing of the VM is left.
refused() {
    local id=$1 pat=$2 what=$3 rc l
    l=$(line_of "$id")
    "$bin" check "$tmp/$id.ini" > "$tmp/$id.check" 2>&1; rc=$?
    if [ $rc = 1 ] && grep -qE "^FAIL +boot +$tmp/$id.ini:$l: \[vm\] serial: $pat" "$tmp/$id.check"; then ok "$what: check FAILs at $id.ini:$l"
    else bad "$what: check exit $rc, expected 1 with a FAIL matching '$pat'"; cat "$tmp/$id.check"; fi
    timeout -k 5 90 "$bin" "$tmp/$id.ini" > "$tmp/$id.out" 2>&1; rc=$?
    if [ $rc = 2 ] && grep -qE "^$tmp/$id.ini:$l: \[vm\] serial: $pat" "$tmp/$id.out"; then ok "$what: the run exits 2 before anything starts"
    else bad "$what: run exit $rc, expected 2"; cat "$tmp/$id.out"; fi
    [ -z "$(leftovers "$id")" ] && ok "$what: nothing of the VM is left" || bad "$what: left: $(leftovers "$id")"
}

# 1. Root-owned 0600 files.
precious=/root/klser-precious-$$.txt
echo "precious $$" > "$precious" && chmod 0600 "$precious" && defer rm -f "$precious"
vm rootfile "$precious"
refused rootfile "$user cannot (reach the log's directory /root|append to $precious): Permission denied" "a root file 0600 in /root"
[ "$(cat "$precious")" = "precious $$" ] && ok "$precious is as it was" || bad "$precious was written: $(head -c 200 "$precious" | tr -d '\0')"

mkdir -m 0755 "$tmp/pub"
echo "precious $$" > "$tmp/pub/precious" && chmod 0600 "$tmp/pub/precious"
vm pubfile "$tmp/pub/precious"
refused pubfile "$user cannot append to $tmp/pub/precious: Permission denied" "a root file 0600 the user can reach"
[ "$(cat "$tmp/pub/precious")" = "precious $$" ] && ok "$tmp/pub/precious is as it was" || bad "$tmp/pub/precious was written"
vm pubnew "$tmp/pub/new.log"
refused pubnew "$user cannot create $tmp/pub/new.log: Permission denied" "a new log in root's 0755 directory"
[ -e "$tmp/pub/new.log" ] && bad "$tmp/pub/new.log was created" || ok "$tmp/pub/new.log was not created"

# 2. Directories other users can write, and a link on the way (or as the
# log's old copy).
mkdir -m 0700 "$tmp/rootonly"
mkdir "$tmp/ww" "$tmp/st" "$tmp/gw" "$tmp/other" "$tmp/u"
chmod 0777 "$tmp/ww"; chmod 1777 "$tmp/st"
chgrp "$ugid" "$tmp/gw"; chmod 0775 "$tmp/gw"
chown nobody "$tmp/other"; chmod 0755 "$tmp/other"
chown "$user" "$tmp/u"; chmod 0755 "$tmp/u"
ln -s "$tmp/rootonly" "$tmp/u/lnk"
shared="expected a directory only root and $user can write, found"
vm ww "$tmp/ww/log";       refused ww "$shared $tmp/ww \(owner uid 0, mode 0777\) writable by every user$" "a world-writable directory"
vm st "$tmp/st/log";       refused st "$shared $tmp/st \(owner uid 0, mode 1777\) writable by every user$" "a sticky world-writable directory (/tmp)"
vm gw "$tmp/gw/log";       refused gw "$shared $tmp/gw \(owner uid 0, mode 0775\) writable by its group$" "a group-writable directory (the user's group)"
vm other "$tmp/other/log"; refused other "$shared $tmp/other \(owner uid [0-9]+, mode 0755\) owned by another user$" "another user's directory"
vm lnk "$tmp/u/lnk/log";   refused lnk "expected a path without symbolic links \(none is followed\), found one on the way to $tmp/u/lnk/log$" "a symbolic link on the way"
# The log's old copy (PATH.1, serial-log-size) under the same rules: a
# link there to a root file is refused, and the file is untouched.
ln -s "$precious" "$tmp/u/rot.log.1"
vm rot "$tmp/u/rot.log";   refused rot "the rotated copy: expected a regular file \(or none: it is created\), found a symbolic link at $tmp/u/rot.log.1$" "a symbolic link as the old copy"
[ "$(cat "$precious")" = "precious $$" ] && ok "$precious is as it was" || bad "$precious was written through the old copy"
left=$(find "$tmp/ww" "$tmp/st" "$tmp/gw" "$tmp/other" "$tmp/rootonly" -mindepth 1)
[ -z "$left" ] && ok "no log was created in any of them" || bad "created: $left"

# 3. The race. $user owns race/ and swaps race/x between a directory of its
# own and a link to root's rootonly/; starts follow one another meanwhile.
mkdir -m 0755 "$tmp/race" && chown "$user" "$tmp/race"
as_user mkdir "$tmp/race/x"
# Each state holds 0 to 90 ms, so a start's checks and its open (tens of
# ms apart) meet every mix of the two. setpriv execs bash in place: $! is
# the loop; it also ends by itself.
setpriv --reuid="$user" --regid="$ugid" --clear-groups -- bash -c \
    'cd "$1" || exit; while [ $SECONDS -lt 90 ]; do rm -rf x; ln -s "$2" x; sleep 0.0$((RANDOM % 10)); rm -f x; mkdir x; sleep 0.0$((RANDOM % 10)); done 2>/dev/null' \
    swap "$tmp/race" "$tmp/rootonly" &
swapper=$!; defer kill "$swapper"
# A VM without a kernel (it sits in the BIOS) that its timeout stops: each
# start opens the log once.
vm_ini race "vm.kernel=" "vm.initrd=" "vm.append=" "vm.memory=64M" "vm.vcpus=1" "vm.serial=file:$tmp/race/x/console.log" \
    vm.timeout=1s vm.shutdown-timeout=0s
declare -A outcome
starts=0 end=$((SECONDS + 30))
while [ $starts -lt 20 ] && [ $SECONDS -lt $end ]; do
    out=$tmp/race.$starts.out
    timeout -k 5 30 "$bin" "$tmp/race.ini" > "$out" 2>&1; rc=$?
    starts=$((starts + 1))
    case $rc in
    124) k="started" ;;
    2) k="refused by the checks" ;;
    1) grep -q "Refusing the serial log" "$out" && k="refused at the open" || { k="exit 1"; cat "$out"; } ;;
    *) k="exit $rc"; cat "$out" ;;
    esac
    outcome[$k]=$((${outcome[$k]:-0} + 1))
    [ -n "$(find "$tmp/rootonly" -mindepth 1)" ] && break
done
kill "$swapper"; wait "$swapper" 2>/dev/null
summary=$(for k in "${!outcome[@]}"; do echo "$k: ${outcome[$k]}"; done | sort | paste -sd, - | sed 's/,/, /g')
left=$(find "$tmp/rootonly" -mindepth 1)
[ -z "$left" ] && ok "the swap raced $starts starts ($summary): nothing landed in the root-only directory" ||
    { bad "after $starts starts ($summary) the log landed in the root-only directory: $(ls -l "$tmp/rootonly")"; }
[ "${outcome[started]:-0}" -gt 0 ] && ok "some starts got through the race (the log opened where it should)" ||
    skip "no start got through the race ($summary): only the refusals were exercised"
[ -z "$(leftovers race)" ] && ok "nothing of the racing VM is left" || bad "left after the race: $(leftovers race)"

# 4. Where the log may be: the user's directory, and the default one.
vm own "$tmp/u/own.log"
timeout -k 5 90 "$bin" "$tmp/own.ini" > "$tmp/own.out" 2>&1; rc=$?
[ $rc = 0 ] && grep -q "KVMLAUNCH-GUEST: bye" "$tmp/u/own.log" && ok "a log in the user's directory gets the guest's console" || { bad "own log: exit $rc"; cat "$tmp/own.out"; }
[ "$(stat -c %U "$tmp/u/own.log" 2>/dev/null)" = "$user" ] && ok "the log was created by $user" || bad "the log's owner: $(stat -c %U "$tmp/u/own.log" 2>&1)"

# The default: stdout is no terminal, pipe or file here, so serial.log in
# the runtime dir.
vm_ini dflt "vm.append=console=ttyS0 quiet kl.stay=1" "vm.serial="
"$bin" "$tmp/dflt.ini" > /dev/null 2> "$tmp/dflt.err" &
sup=$!; pids+=($sup)
rlog=$KVMLAUNCH_RUNDIR/$vm_prefix-dflt/serial.log
if wait_for 90 grep -qs "KVMLAUNCH-GUEST: stay" "$rlog"; then
    ok "the default log $rlog gets the guest's console"
    [ "$(stat -c '%U %a' "$KVMLAUNCH_RUNDIR/$vm_prefix-dflt")" = "root 700" ] && ok "the runtime dir is kvmlaunch's own, 0700" ||
        bad "the runtime dir: $(stat -c '%U %a' "$KVMLAUNCH_RUNDIR/$vm_prefix-dflt")"
    q=$(qemu_of dflt)
    [ -n "$q" ] && [ "$(stat -c %U "/proc/$q")" = "$user" ] && ! find "/proc/$q/fd" -lname "$rlog*" | grep -q . &&
        find "/proc/$sup/fd" -lname "$rlog" | grep -q . && find "/proc/$sup/fd" -lname "$rlog.1" | grep -q . &&
        ok "the supervisor holds the log and its old copy; QEMU, as $user, holds neither" ||
        { bad "who holds $rlog: QEMU ($q): $(find "/proc/$q/fd" -lname "$rlog*" | wc -l) fds, the supervisor: $(find "/proc/$sup/fd" -lname "$rlog*" | wc -l)"; }
else
    bad "no guest output in $rlog"; cat "$tmp/dflt.err"
fi
"$bin" stop "$vm_prefix-dflt" > /dev/null 2>&1
wait_for 30 bash -c "! kill -0 $sup 2>/dev/null"
[ -z "$(leftovers dflt)" ] && ok "nothing left after stop" || bad "left after stop: $(leftovers dflt)"

finish
