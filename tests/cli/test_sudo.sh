#!/usr/bin/env bash
# kvmlaunch for another user (issue 20, item 5; docs/SECURITY.md "Under
# sudo"). As root with SUDO_UID set (what sudo and run0 give root), VM.INI
# is read as that user, their groups included: a file they cannot read is
# refused with one line naming them, exit 2, and none of its lines shown.
# Without SUDO_UID (or SUDO_UID=0) root reads as root. A plain user's check
# and --dry-run work; a plain user's run fails before touching anything and
# says a run needs root. sudo itself need not be installed: the variables
# are what kvmlaunch reads, so the test sets them.
set -u
. "$(dirname "$0")/lib.sh"
need_root "reads files as another user, makes a user and a group"
need_cmd setpriv -- util-linux
make_tmp --rundir
chmod 0755 "$tmp"
make_user klsudo
grp=klsudog$$
groupadd --system "$grp" && defer groupdel "$grp"
usermod -a -G "$grp" "$user"
uid=$(id -u "$user") gid=$(id -g "$user")
as_sudo() { env SUDO_UID="$uid" SUDO_GID="$gid" SUDO_USER="$user" SUDO_COMMAND="$bin $*" "$bin" "$@"; }
as_user() { setpriv --reuid "$user" --regid "$gid" --init-groups env KVMLAUNCH_RUNDIR="$KVMLAUNCH_RUNDIR" "$bin" "$@"; }
refused_line() { echo "$1: cannot be read by $user (the user sudo ran kvmlaunch for): Permission denied"; }

# A root-only file, whatever its content: every mode refuses it the same way.
printf 'root:$6$secretsalt$hashhashhashhashhashhashhashhash:20000:0:99999:7:::\n' > "$tmp/secret"
chmod 0600 "$tmp/secret"
for f in /etc/shadow "$tmp/secret"; do
    [ -e "$f" ] || continue
    for mode in check dry-run run; do
        case $mode in check) args=(check "$f") ;; dry-run) args=(--dry-run "$f") ;; run) args=("$f") ;; esac
        as_sudo "${args[@]}" > "$tmp/out" 2> "$tmp/err"; rc=$?
        if [ $rc = 2 ] && [ ! -s "$tmp/out" ] && [ "$(cat "$tmp/err")" = "$(refused_line "$f")" ]; then
            ok "under sudo, $mode $f: exit 2, one line: $(cat "$tmp/err")"
        else
            bad "under sudo, $mode $f: exit $rc, out: $(head -c 200 "$tmp/out"), err: $(head -c 300 "$tmp/err")"
        fi
        grep -q 'root:' "$tmp/out" "$tmp/err" && bad "under sudo, $mode $f shows the file's content"
    done
done
[ -e "$KVMLAUNCH_RUNDIR" ] && bad "a refused run made $KVMLAUNCH_RUNDIR" || ok "a refused run made no runtime dir"

# The same file as root: root reads it (and says what is wrong with it).
"$bin" check "$tmp/secret" > /dev/null 2> "$tmp/err"; rc=$?
[ $rc = 2 ] && grep -q "^$tmp/secret:1: expected KEY = VALUE" "$tmp/err" && ok "as root without SUDO_UID, the file is read as root" ||
    bad "as root: exit $rc: $(head -c 300 "$tmp/err")"
env SUDO_UID=0 SUDO_GID=0 SUDO_USER=root "$bin" check "$tmp/secret" > /dev/null 2> "$tmp/err"
grep -q "^$tmp/secret:1: expected KEY = VALUE" "$tmp/err" && ok "SUDO_UID=0 (sudo to root by root) reads as root" ||
    bad "SUDO_UID=0: $(head -c 300 "$tmp/err")"
env SUDO_UID=x1 "$bin" check "$tmp/secret" > /dev/null 2> "$tmp/err"
grep -q "^$tmp/secret:1: expected KEY = VALUE" "$tmp/err" && ok "a SUDO_UID that is no number is not a user: read as root" ||
    bad "SUDO_UID=x1: $(head -c 300 "$tmp/err")"

# What the user may read is read: their own file, their primary group's,
# a supplementary group's; and what they cannot reach is refused.
vm_preset bios
vm_ini own vm.name=klsudo-$$ "vm.user=$user"
vm_ini pgrp vm.name=klsudo-$$ "vm.user=$user"
vm_ini sgrp vm.name=klsudo-$$ "vm.user=$user"
chown "$user" "$tmp/own.ini" && chmod 0600 "$tmp/own.ini"
chown "root:$gid" "$tmp/pgrp.ini" && chmod 0640 "$tmp/pgrp.ini"
chown "root:$grp" "$tmp/sgrp.ini" && chmod 0640 "$tmp/sgrp.ini"
for f in own pgrp sgrp; do
    as_sudo --dry-run "$tmp/$f.ini" > "$tmp/out" 2> "$tmp/err"; rc=$?
    [ $rc = 0 ] && grep -q '^# QEMU command line' "$tmp/out" && ok "under sudo, a VM.INI the user reads ($f: $(stat -c '%U:%G %a' "$tmp/$f.ini")) is read" ||
        bad "under sudo, $f.ini: exit $rc: $(head -c 300 "$tmp/err")"
done
chgrp root "$tmp/sgrp.ini"
as_sudo --dry-run "$tmp/sgrp.ini" > /dev/null 2> "$tmp/err"; rc=$?
[ $rc = 2 ] && [ "$(cat "$tmp/err")" = "$(refused_line "$tmp/sgrp.ini")" ] && ok "the same file, mode 0640 root:root: refused" ||
    bad "0640 root:root under sudo: exit $rc: $(head -c 300 "$tmp/err")"
# A link the user may make, to a file they may not read: the open follows
# it as the user.
mkdir "$tmp/mine" && chown "$user" "$tmp/mine"
ln -s "$tmp/secret" "$tmp/mine/vm.ini"
as_sudo check "$tmp/mine/vm.ini" > /dev/null 2> "$tmp/err"; rc=$?
[ $rc = 2 ] && [ "$(cat "$tmp/err")" = "$(refused_line "$tmp/mine/vm.ini")" ] && ok "a symlink to a root-only file: refused" ||
    bad "symlink under sudo: exit $rc: $(head -c 300 "$tmp/err")"
# A readable file in a folder the user cannot enter.
mkdir -m 0700 "$tmp/closed" && cp "$tmp/own.ini" "$tmp/closed/vm.ini" && chmod 0644 "$tmp/closed/vm.ini"
as_sudo check "$tmp/closed/vm.ini" > /dev/null 2> "$tmp/err"; rc=$?
[ $rc = 2 ] && [ "$(cat "$tmp/err")" = "$(refused_line "$tmp/closed/vm.ini")" ] && ok "a 0644 file in a 0700 root folder: refused" ||
    bad "closed folder under sudo: exit $rc: $(head -c 300 "$tmp/err")"
unset_sudo=$(env SUDO_UID="$uid" sh -c 'unset SUDO_UID; "$0" --dry-run "$1" > /dev/null 2>&1; echo $?' "$bin" "$tmp/closed/vm.ini")
[ "$unset_sudo" = 0 ] && ok "unset SUDO_UID (a root shell from sudo -i) reads as root again" || bad "unset SUDO_UID: exit $unset_sudo"

# A plain user (no sudo): the kernel answers for the file; check and
# --dry-run work; a run fails before it touches anything, and says why.
cp "$tmp/own.ini" "$tmp/plain.ini" && chown "$user" "$tmp/plain.ini"
as_user check /etc/shadow > "$tmp/out" 2> "$tmp/err"; rc=$?
[ $rc = 2 ] && [ "$(cat "$tmp/err")" = "/etc/shadow: cannot open the VM definition: Permission denied" ] &&
    ok "a plain user's check /etc/shadow: exit 2, Permission denied" || bad "plain check /etc/shadow: exit $rc: $(head -c 300 "$tmp/err")"
as_user check "$tmp/plain.ini" > "$tmp/out" 2> "$tmp/err"; rc=$?
[ $rc = 0 ] && grep -q "0 failed" "$tmp/out" && ok "a plain user's check works" || bad "plain check: exit $rc: $(cat "$tmp/out" "$tmp/err" | head -c 400)"
as_user --dry-run "$tmp/plain.ini" > "$tmp/out" 2> "$tmp/err"; rc=$?
[ $rc = 0 ] && grep -q '^# QEMU command line' "$tmp/out" && ok "a plain user's --dry-run works" || bad "plain --dry-run: exit $rc: $(head -c 300 "$tmp/err")"
timeout -k 5 60 setpriv --reuid "$user" --regid "$gid" --init-groups "$bin" "$tmp/plain.ini" > "$tmp/out" 2> "$tmp/err"; rc=$?
if [ $rc = 1 ] && grep -q "kvmlaunch ran as $user (uid $uid), not root: a run prepares the host" "$tmp/err"; then
    ok "a plain user's run: exit 1, $(grep -c . "$tmp/err") lines, the last: $(grep 'not root' "$tmp/err" | cut -c1-90)..."
else
    bad "plain run: exit $rc: $(head -c 500 "$tmp/err")"
fi
[ -e "$KVMLAUNCH_RUNDIR" ] && bad "the plain run made $KVMLAUNCH_RUNDIR" || ok "the plain run made no runtime dir"
[ -e "/sys/fs/cgroup/cpuset/kvmlaunch/klsudo-$$" ] || [ -e "/sys/fs/cgroup/kvmlaunch/klsudo-$$" ] && bad "the plain run made a cgroup"
finish
