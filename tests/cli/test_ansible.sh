#!/usr/bin/env bash
# contrib/ansible/kvmlaunch.yml (docs/FLEET.md) with ansible-core
# (DEB_PACKAGES): `ansible-playbook --check --diff -c local` against this
# machine, with a stand-in kvmlaunch .deb and the VM's directory in a temp
# dir: every task passes or is skipped for a reason the playbook states
# (kvmlaunch check needs the file written; the unit needs systemd), the
# rendered vm.ini is what the template says, and nothing is written.
set -u
KVMLAUNCH_BIN=${KVMLAUNCH_BIN:-build/plain/kvmlaunch}
. "$(dirname "$0")/lib.sh"
need_cmd ansible-playbook dpkg-deb -- "make deps installs ansible-core"
need_root "the playbook becomes root (apt)"
make_tmp
mkdir -p "$tmp/pkg/DEBIAN"
printf 'Package: kvmlaunch\nVersion: 0.0~check\nArchitecture: all\nMaintainer: test <test@example.invalid>\nDescription: stand-in for ansible --check\n' > "$tmp/pkg/DEBIAN/control"
dpkg-deb -b "$tmp/pkg" "$tmp/kvmlaunch.deb" > /dev/null || exit 1
ANSIBLE_HOME=$tmp/ansible-home ANSIBLE_LOCAL_TEMP=$tmp/ansible ANSIBLE_REMOTE_TEMP=$tmp/ansible-remote ANSIBLE_NOCOLOR=1 ansible-playbook --check --diff -c local -i localhost, \
    "$top/contrib/ansible/kvmlaunch.yml" -e vm_hosts=localhost -e "kvmlaunch_deb=$tmp/kvmlaunch.deb" -e "kvmlaunch_etc=$tmp/etc" \
    > "$tmp/out" 2>&1; rc=$?
[ $rc = 0 ] && ok "ansible-playbook --check -c local: $(grep -o 'ok=.*' "$tmp/out" | tr -s ' ')" || { bad "ansible-playbook --check: exit $rc"; cat "$tmp/out"; }
grep -q "failed=0" "$tmp/out" && ok "no task failed" || bad "a task failed: $(grep -A2 FAILED "$tmp/out")"
grep -q "^+pin = auto" "$tmp/out" && grep -q "^+name = web" "$tmp/out" && ok "the template renders vm.ini ([vm] name = web, [cpu] pin = auto)" ||
    bad "the rendered vm.ini: $(grep '^+' "$tmp/out")"
[ ! -e "$tmp/etc" ] && ok "--check wrote nothing" || bad "--check made $tmp/etc"
dpkg-query -W kvmlaunch 2> /dev/null | grep -q '0.0~check' && bad "the stand-in .deb got installed"
finish
