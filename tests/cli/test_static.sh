#!/usr/bin/env bash
# `make STATIC=1` (issue 8): the fully static build runs VMs as the
# dynamic one does. Builds build/static/kvmlaunch, checks that it is static
# (no program interpreter, no shared library), that --dry-run prints the
# same QEMU command line as the dynamic build, then runs 5 cycles of the
# soak (start, locked-down supervisor, stop, nothing left) with it, which
# also resolves `user =` through the static glibc.
#
# Runs once, beside the plain build (the ASan build cannot be static).
set -u
. "$(dirname "$0")/lib.sh"
asan_build && skip_all "this is the ASan build, which cannot be static: the static build is tested beside the plain one"

make -s build/static/kvmlaunch 2>/dev/null || { bad "make build/static/kvmlaunch"; finish; }
static=build/static/kvmlaunch
if readelf -l "$static" | grep -q 'Requesting program interpreter'; then bad "$static has a program interpreter"; else ok "no program interpreter"; fi
if readelf -d "$static" | grep -q NEEDED; then bad "$static needs shared libraries: $(readelf -d "$static" | grep NEEDED | tr -s ' ')"; else ok "no shared library needed"; fi
"$static" --version | grep -q '^kvmlaunch ' && ok "--version" || bad "--version: $("$static" --version 2>&1)"

make_tmp
for ini in examples/*.ini; do
    KVMLAUNCH_RUNDIR=$tmp "$bin" --dry-run "$ini" > "$tmp/dyn" 2>&1
    KVMLAUNCH_RUNDIR=$tmp "$static" --dry-run "$ini" > "$tmp/sta" 2>&1
    if cmp -s "$tmp/dyn" "$tmp/sta"; then ok "--dry-run $ini: the same output"; else bad "--dry-run $ini differs:"; diff "$tmp/dyn" "$tmp/sta" | head -5; fi
done

# Users and groups: the static build reads /etc/passwd and /etc/group
# itself (include/userdb.h: a static glibc crashes loading NSS modules), and
# must find the same identity as the dynamic build, supplementary groups
# included, and call a user it does not know unknown, not crash.
if [ "$(id -u)" = 0 ] && command -v useradd >/dev/null; then
    make_user klst
    g=klstg$$
    groupadd --system "$g" && defer groupdel "$g" && usermod -aG "$g" "$user" || bad "groupadd/usermod $g"
    for u in "$user" "klst-none-$$"; do
        vm_ini "id-$u" vm.memory=64M vm.vcpus=1 "vm.user=$u"
        KVMLAUNCH_RUNDIR=$tmp "$bin" check "$tmp/id-$u.ini" 2>&1 | grep -E "^[A-Z]+ +user " > "$tmp/dyn.id"
        KVMLAUNCH_RUNDIR=$tmp "$static" check "$tmp/id-$u.ini" > "$tmp/sta.out" 2>&1; rc=$?
        grep -E "^[A-Z]+ +user " "$tmp/sta.out" > "$tmp/sta.id"
        want=$g; [ "$u" = "$user" ] || want="found no user"
        if [ $rc -lt 128 ] && grep -q "$want" "$tmp/sta.id" && cmp -s "$tmp/dyn.id" "$tmp/sta.id"; then ok "check's user line, static as dynamic: $(head -1 "$tmp/sta.id")"
        else bad "check of user $u: static exit $rc, not /$want/ or not as dynamic:"; cat "$tmp/sta.out" "$tmp/dyn.id"; fi
    done
fi

if [ "$(id -u)" != 0 ] || ! command -v qemu-system-x86_64 >/dev/null; then
    skip "the soak with the static build: starting VMs needs root and qemu-system-x86_64"
    finish
fi
# Its skips are this test's: it says so itself below.
out=$(SOAK_CYCLES=5 KVMLAUNCH_BIN=$static KLTEST_SKIP_LOG= tests/cli/test_soak.sh 2>&1)
rc=$?
echo "$out" | sed 's/^/  soak: /'
if [ $rc = 0 ]; then ok "5 start/stop cycles with the static build"
elif [ $rc = 77 ]; then skip "the soak with the static build: $(echo "$out" | sed -n 's/^SKIP: //p')"
else bad "the soak with the static build exited $rc"; fi
finish
