#!/usr/bin/env bash
# `make install DESTDIR=... PREFIX=/usr` puts exactly the expected files in
# place (a unit file too, when the tree has one) and `make uninstall` takes
# them all away again; the default PREFIX is /usr/local; the installed binary
# runs; debian/changelog carries the version of include/cli.h; `make dist`
# holds what a build and the package need. It installs ./kvmlaunch (what
# `make` built), so it runs once, with the plain build.
set -u
. "$(dirname "$0")/lib.sh"
asan_build && skip_all "this is the ASan build: make install installs ./kvmlaunch, the plain build checks it"
need_cmd make
[ -x kvmlaunch ] || skip_all "./kvmlaunch is not built (make)"
make_tmp
version=$(sed -n 's/^#define KVMLAUNCH_VERSION "\(.*\)"/\1/p' include/cli.h)

# -o kvmlaunch: install what is built, never rebuild in the tree from a test.
mk() { make -s --no-print-directory -o kvmlaunch "$@"; }

# The files PREFIX=/usr must give, UNITDIR holding the unit when there is one.
expected() {
    local p=$1 unitdir=$2
    echo "$p/sbin/kvmlaunch"
    echo "$p/share/man/man1/kvmlaunch.1"
    echo "$p/share/man/man5/kvmlaunch.ini.5"
    echo "$p/share/bash-completion/completions/kvmlaunch"
    for f in README.md docs/*.md; do echo "$p/share/doc/kvmlaunch/${f##*/}"; done
    for f in examples/README.md examples/*.ini; do echo "$p/share/doc/kvmlaunch/examples/${f##*/}"; done
    [ -n "$unitdir" ] && echo "$unitdir/kvmlaunch@.service"
}
files_under() { (cd "$1" && find . ! -type d | sed 's|^\.||' | LC_ALL=C sort); }

# A unit file of our own (the real one, systemd/kvmlaunch@.service, may not
# exist yet): it must land in /lib/systemd/system with its path rewritten.
printf '[Service]\nExecStart=/usr/sbin/kvmlaunch run /etc/kvmlaunch/%%i.ini\n' > "$tmp/kvmlaunch@.service"

root=$tmp/usr-root
if ! mk install DESTDIR="$root" PREFIX=/usr UNIT_FILES="$tmp/kvmlaunch@.service" > "$tmp/log" 2>&1; then
    bad "make install DESTDIR=$root PREFIX=/usr: $(cat "$tmp/log")"
fi
want=$(expected /usr /lib/systemd/system | LC_ALL=C sort)
have=$(files_under "$root")
if [ "$have" = "$want" ]; then
    ok "make install PREFIX=/usr: $(echo "$have" | wc -l) files, as expected"
else
    bad "make install PREFIX=/usr (< expected, > installed):"
    diff <(echo "$want") <(echo "$have") | grep '^[<>]'
fi
[ "$(stat -c %a "$root/usr/sbin/kvmlaunch" 2>/dev/null)" = 755 ] && ok "the binary is 0755" || bad "the binary is not 0755"
[ "$(stat -c %a "$root/usr/share/man/man1/kvmlaunch.1" 2>/dev/null)" = 644 ] && ok "the man page is 0644" || bad "the man page is not 0644"
got=$("$root/usr/sbin/kvmlaunch" --version 2>&1)
[ "$got" = "kvmlaunch $version" ] && ok "the installed binary says '$got'" || bad "the installed binary says '$got'"
grep -qx 'ExecStart=/usr/sbin/kvmlaunch run /etc/kvmlaunch/%i.ini' "$root/lib/systemd/system/kvmlaunch@.service" 2>/dev/null &&
    ok "the unit keeps /usr/sbin/kvmlaunch with PREFIX=/usr" || bad "the unit's ExecStart changed with PREFIX=/usr"
if [ -f systemd/kvmlaunch@.service ]; then
    mk install DESTDIR="$tmp/real-unit" PREFIX=/usr > /dev/null 2>&1
    [ -f "$tmp/real-unit/lib/systemd/system/kvmlaunch@.service" ] && ok "systemd/kvmlaunch@.service is installed" ||
        bad "systemd/kvmlaunch@.service is in the tree but not installed"
fi
# The metrics timer and its service, the service's ExecStart rewritten.
if [ -f systemd/kvmlaunch-metrics.service ]; then
    mk install DESTDIR="$tmp/metrics-unit" PREFIX=/opt/kl > /dev/null 2>&1
    u=$tmp/metrics-unit/opt/kl/lib/systemd/system
    [ -f "$u/kvmlaunch-metrics.timer" ] && grep -q '^ExecStart=/opt/kl/sbin/kvmlaunch metrics --output ' "$u/kvmlaunch-metrics.service" 2>/dev/null &&
        ok "kvmlaunch-metrics.service and .timer are installed, ExecStart under PREFIX" || bad "metrics units: $(ls "$u" 2>&1)"
    mk uninstall DESTDIR="$tmp/metrics-unit" PREFIX=/opt/kl > /dev/null 2>&1
    [ -z "$(find "$tmp/metrics-unit" -type f)" ] && ok "make uninstall takes the metrics units away too" || bad "left: $(find "$tmp/metrics-unit" -type f)"
fi

mk uninstall DESTDIR="$root" PREFIX=/usr UNIT_FILES="$tmp/kvmlaunch@.service" > "$tmp/log" 2>&1 || bad "make uninstall: $(cat "$tmp/log")"
left=$(files_under "$root")
[ -z "$left" ] && ok "make uninstall leaves no file" || bad "make uninstall left: $left"
[ ! -e "$root/usr/share/doc/kvmlaunch" ] && ok "make uninstall removes share/doc/kvmlaunch" || bad "share/doc/kvmlaunch is left"

# The default PREFIX, and no unit file given: none is installed.
root=$tmp/default-root
mk install DESTDIR="$root" UNIT_FILES= > "$tmp/log" 2>&1 || bad "make install DESTDIR=$root: $(cat "$tmp/log")"
want=$(expected /usr/local "" | LC_ALL=C sort)
have=$(files_under "$root")
[ "$have" = "$want" ] && ok "make install (PREFIX=/usr/local): $(echo "$have" | wc -l) files" ||
    bad "make install PREFIX=/usr/local: $(diff <(echo "$want") <(echo "$have") | grep '^[<>]')"
mk uninstall DESTDIR="$root" UNIT_FILES= > /dev/null 2>&1
[ -z "$(files_under "$root")" ] && ok "make uninstall (PREFIX=/usr/local) leaves no file" || bad "left: $(files_under "$root")"

# With PREFIX=/opt/kvmlaunch the unit follows the binary.
mk install DESTDIR="$tmp/opt" PREFIX=/opt/kl UNIT_FILES="$tmp/kvmlaunch@.service" > /dev/null 2>&1
grep -qx 'ExecStart=/opt/kl/sbin/kvmlaunch run /etc/kvmlaunch/%i.ini' "$tmp/opt/opt/kl/lib/systemd/system/kvmlaunch@.service" 2>/dev/null &&
    ok "with PREFIX=/opt/kl the unit runs /opt/kl/sbin/kvmlaunch" || bad "the unit does not follow PREFIX=/opt/kl"

# The system user the examples run QEMU as: make install creates it when it
# installs into this system (no DESTDIR); a staged install leaves users alone.
mk install DESTDIR="$tmp/staged" PREFIX=/usr UNIT_FILES= > "$tmp/log" 2>&1
grep -q "DESTDIR is set, so the user kvmlaunch is not created here" "$tmp/log" && ok "make install DESTDIR=...: no user made, said" ||
    bad "make install DESTDIR=... says nothing of the user: $(cat "$tmp/log")"
# Not root, into a PREFIX of its own (PREFIX=$HOME/.local): installed, the
# user left alone with a warning, exit 0.
home=$tmp/home
mkdir -p "$home"
as_user=()
if [ "$(id -u)" = 0 ]; then
    chown nobody "$home"; chmod 0711 "$tmp"
    as_user=(setpriv --reuid nobody --regid nogroup --clear-groups)
fi
"${as_user[@]}" make -s --no-print-directory -o kvmlaunch install PREFIX="$home/.local" UNIT_FILES= > "$tmp/user.log" 2>&1; rc=$?
[ $rc = 0 ] && [ -x "$home/.local/sbin/kvmlaunch" ] && grep -q "warning: not root, so the user kvmlaunch is not created" "$tmp/user.log" &&
    ok "make install PREFIX=~/.local as a user: exit 0, installed, warns of the user ($(head -1 "$tmp/user.log"))" ||
    bad "make install as a user: exit $rc: $(cat "$tmp/user.log")"
"${as_user[@]}" make -s --no-print-directory -o kvmlaunch uninstall PREFIX="$home/.local" UNIT_FILES= > /dev/null 2>&1

# make install-user itself, with names of this test's own (the host's kvm
# group and kvmlaunch user, if any, are not touched): a system group for
# kvm where missing, a system user with no login and no home, in that group.
if [ "$(id -u)" = 0 ]; then
    u=klinst$$ g=klkvm$$
    defer groupdel "$g"
    defer userdel "$u"
    sys_max=$(awk '$1 == "SYS_UID_MAX" { print $2 }' /etc/login.defs); sys_max=${sys_max:-999}
    mk install-user KVMLAUNCH_USER="$u" KVM_GROUP="$g" > "$tmp/log" 2>&1 || bad "make install-user: $(cat "$tmp/log")"
    IFS=: read -r _ _ gid _ <<<"$(getent group "$g")"
    [ -n "$gid" ] && [ "$gid" -le "$sys_max" ] && ok "group $g made as a system group (gid $gid)" || bad "group $g: '$(getent group "$g")'"
    IFS=: read -r _ _ uid _ _ home shell <<<"$(getent passwd "$u")"
    [ -n "$uid" ] && [ "$uid" -le "$sys_max" ] && [ "$shell" = /usr/sbin/nologin ] && [ "$home" = /nonexistent ] && [ ! -e /nonexistent ] &&
        ok "user $u: system uid $uid, shell $shell, no home ($home)" || bad "user $u: '$(getent passwd "$u")'"
    id -nG "$u" | tr ' ' '\n' | grep -qx "$g" && ok "$u is in group $g" || bad "$u is not in $g: $(id -nG "$u")"
    before=$(getent passwd "$u"; getent group "$g" "$u")
    mk install-user KVMLAUNCH_USER="$u" KVM_GROUP="$g" > "$tmp/log" 2>&1
    [ ! -s "$tmp/log" ] && [ "$(getent passwd "$u"; getent group "$g" "$u")" = "$before" ] && ok "again: nothing to do, nothing changed" ||
        bad "a second make install-user: $(cat "$tmp/log")"
    gpasswd -d "$u" "$g" > /dev/null
    mk install-user KVMLAUNCH_USER="$u" KVM_GROUP="$g" > "$tmp/log" 2>&1
    id -nG "$u" | tr ' ' '\n' | grep -qx "$g" && grep -q "usermod -aG $g $u" "$tmp/log" && ok "a user that left $g is put back in it" ||
        bad "user out of $g: $(cat "$tmp/log"; id -nG "$u")"
    mk uninstall DESTDIR="$tmp/none" KVMLAUNCH_USER="$u" > /dev/null 2>&1
    getent passwd "$u" > /dev/null && ok "make uninstall keeps the user" || bad "make uninstall removed $u"
else
    skip "not root: make install-user is not tried"
fi

changelog=$(sed -n '1s/^kvmlaunch (\([^)-]*\).*/\1/p' debian/changelog)
[ "$changelog" = "$version" ] && ok "debian/changelog is at $version too" ||
    bad "debian/changelog says $changelog, include/cli.h $version: add a changelog entry (dch -v $version)"

# make dist: HEAD as a tarball (committed files only, so this checks what is committed).
if git rev-parse --git-dir >/dev/null 2>&1; then
    if mk dist DIST_DIR="$tmp" > "$tmp/log" 2>&1 && [ -f "$tmp/kvmlaunch-$version.tar.gz" ]; then
        tar -tzf "$tmp/kvmlaunch-$version.tar.gz" | LC_ALL=C sort > "$tmp/dist"
        missing=""
        for f in GNUmakefile include/cli.h launcher/cli/main.c man/kvmlaunch.1 man/kvmlaunch.ini.5 completions/kvmlaunch \
            debian/control debian/rules debian/changelog examples/ci.ini; do
            grep -qx "kvmlaunch-$version/$f" "$tmp/dist" || missing="$missing $f"
        done
        [ -z "$missing" ] && ok "make dist: kvmlaunch-$version.tar.gz, $(wc -l < "$tmp/dist") entries" ||
            bad "kvmlaunch-$version.tar.gz lacks:$missing (committed?)"
    else
        bad "make dist: $(cat "$tmp/log")"
    fi
else
    skip "not a git checkout: make dist is not tried"
fi
finish
