#!/usr/bin/env bash
# [share "TAG"] (issue 16, item 4) with the busybox test guest, built once
# under build/guest-fs with Debian's generic kernel (the cloud kernel has no
# 9p) and its virtiofs and 9p modules (tests/guest/build.sh, KERNEL_PKG,
# EXTRA_MODULES); its /init mounts each kl.mount=TAG:DRIVER.
#  1. --dry-run: the shares' plan lines, the RAM made shareable (memfd
#     share=on; memfd hugetlb=on share=on with huge pages), 9p by default
#     without a virtiofsd, and virtiofs asked for without one refused;
#     KVMLAUNCH_VIRTIOFSD ignored under sudo (SUDO_UID).
#  2. A VM with four shares: virtiofs (the default here), 9p, and both
#     read-only. The guest reads each host file and writes one back: the
#     writable ones land on the host (virtiofs: as the guest's root, root:root;
#     9p: as QEMU's user), the read-only ones refuse the write. While it runs,
#     each virtiofsd (and the child of its sandbox) is in the VM's emulator
#     cgroup and on its CPU ([cpu] emulator = 0), its socket in the runtime dir; after `stop`, no virtiofsd,
#     no socket, nothing of the VM is left.
#  3. A virtiofsd killed under a running VM is reported; the VM still stops
#     cleanly and leaves nothing.
#     virtiofsd serves RUNDIR/NAME/vfs-N.root, a bind mount of the share in
#     its own mount namespace (nosuid, nodev, ro when readonly), not seen on
#     the host; it runs with modcaps=-mknod: the guest's mknod of a block
#     device fails on every share.
#  4. 9p needs QEMU's user to write the directory: check FAILs naming it,
#     the run refuses (exit 2) and leaves nothing.
#  5. A virtiofs share whose path has a symlink (the share itself, or a
#     directory above it): check FAILs naming it, the run refuses (exit 2),
#     no virtiofsd, nothing left.
set -u
. "$(dirname "$0")/lib.sh"
need_root "virtiofsd runs as root; QEMU as another user"
need_cmd qemu-system-x86_64
[ -x /usr/lib/qemu/virtiofsd ] || skip_all "no /usr/lib/qemu/virtiofsd (package qemu-system-common)"

fsguest=$top/build/guest-fs
if ! KERNEL_PKG=${KL_FS_KERNEL_PKG:-$(apt-cache depends linux-image-amd64 2> /dev/null | awk '$1 == "Depends:" && $2 ~ /^linux-image-/ { print $2; exit }')} \
    EXTRA_MODULES="virtiofs 9p 9pnet_virtio" tests/guest/build.sh "$fsguest" > /dev/null 2>&1 ||
    [ ! -s "$fsguest/vmlinuz" ]; then
    skip_all "the share guest (generic kernel) could not be built under $fsguest"
fi
guest=$fsguest

make_tmp --rundir
make_user klshr
vms_named klshr-$$
vm_preset guest
vm_defaults+=(vm.vcpus=1)
for d in vfs p9 ro ro9; do
    mkdir -p "$tmp/$d" && echo "hello-$d" > "$tmp/$d/hello" && chmod 0755 "$tmp/$d"
done
chown "$user" "$tmp/p9"
share() { printf '[share "%s"]\npath = %s\n%s' "$1" "$tmp/$1" "${2:+$2$'\n'}${3:+$3$'\n'}"; }
no_virtiofsd() { ! pgrep -f "source=$KVMLAUNCH_RUNDIR/" > /dev/null; }

# 1. The plan.
vm_ini plan "$(share vfs)" "$(share p9 'driver = 9p')"
"$bin" --dry-run "$tmp/plan.ini" > "$tmp/plan.out" 2> "$tmp/plan.err"; rc=$?
if [ $rc = 0 ] && grep -qF "# share \"vfs\": $tmp/vfs over virtiofs, served by /usr/lib/qemu/virtiofsd as root (sandbox=namespace" "$tmp/plan.out" &&
    grep -qF "socket $KVMLAUNCH_RUNDIR/$(name plan)/vfs-0.sock" "$tmp/plan.out" &&
    grep -qF "# share \"p9\": $tmp/p9 over 9p, served by QEMU as $user" "$tmp/plan.out" &&
    grep -qF "# guest RAM shareable for virtiofs: memory-backend-memfd share=on" "$tmp/plan.out" &&
    grep -qF '"qom-type":"memory-backend-memfd","id":"ram-node0"' "$tmp/plan.out" && grep -qF '"share":true' "$tmp/plan.out" &&
    grep -qE '^    -chardev socket,id=vfs-vfs,fd=[0-9]+ \\$' "$tmp/plan.out" &&
    grep -qF '"driver":"vhost-user-fs-pci","id":"share-vfs","chardev":"vfs-vfs","tag":"vfs"' "$tmp/plan.out" &&
    grep -qF -- "-fsdev local,id=fs-p9,path=$tmp/p9,security_model=none " "$tmp/plan.out" &&
    grep -qF '"driver":"virtio-9p-pci","id":"share-p9","fsdev":"fs-p9","mount_tag":"p9"' "$tmp/plan.out"
then ok "--dry-run: virtiofs by default with its socket and fd, 9p as asked, the RAM memfd share=on said and done"
else bad "dry-run of two shares: exit $rc"; cat "$tmp/plan.out" "$tmp/plan.err"; fi
vm_ini huge memory.backing=hugepages "$(share vfs)"
"$bin" --dry-run "$tmp/huge.ini" > "$tmp/huge.out" 2> /dev/null
grep -qF "# guest RAM shareable for virtiofs: memory-backend-memfd hugetlb=on share=on" "$tmp/huge.out" &&
    grep -qE '"qom-type":"memory-backend-memfd".*"hugetlb":true.*"share":true' "$tmp/huge.out" \
    && ok "with huge pages: memfd hugetlb=on share=on" || { bad "hugepages plan"; cat "$tmp/huge.out"; }
vm_ini none "$(share p9)"
KVMLAUNCH_VIRTIOFSD=none "$bin" --dry-run "$tmp/none.ini" > "$tmp/none.out" 2>&1; rc=$?
[ $rc = 0 ] && grep -qF "# share \"p9\": $tmp/p9 over 9p" "$tmp/none.out" && grep -qF '"memory-backend-ram"' "$tmp/none.out" &&
    ! grep -q vhost-user "$tmp/none.out" \
    && ok "no virtiofsd: 9p by default, the RAM left as it was" || { bad "default without virtiofsd: exit $rc"; cat "$tmp/none.out"; }
# Under sudo the variable is the user's: virtiofsd would run as root.
vm_ini sudo "$(share vfs)"
SUDO_UID=$(id -u "$user") SUDO_GID=$(id -g "$user") KVMLAUNCH_VIRTIOFSD=none "$bin" --dry-run "$tmp/sudo.ini" > "$tmp/sudo.out" 2>&1; rc=$?
[ $rc = 0 ] && grep -qF "# share \"vfs\": $tmp/vfs over virtiofs, served by /usr/lib/qemu/virtiofsd as root" "$tmp/sudo.out" \
    && ok "under sudo, KVMLAUNCH_VIRTIOFSD is ignored" || { bad "KVMLAUNCH_VIRTIOFSD under sudo: exit $rc"; cat "$tmp/sudo.out"; }
vm_ini asked "$(share vfs 'driver = virtiofs')"
KVMLAUNCH_VIRTIOFSD=none "$bin" "$tmp/asked.ini" > "$tmp/asked.out" 2>&1; rc=$?
[ $rc = 2 ] && grep -qE "^$tmp/asked.ini:[0-9]+: \[share \"vfs\"\] driver: expected a virtiofsd for driver = virtiofs" "$tmp/asked.out" &&
    [ -z "$(leftovers asked)" ] \
    && ok "virtiofs asked for without a virtiofsd: exit 2 naming driver, nothing left" || { bad "virtiofs without virtiofsd: exit $rc"; cat "$tmp/asked.out"; }

# 2. Four shares in a running guest.
vm_ini fs "vm.append=console=ttyS0 quiet kl.mount=vfs:virtiofs kl.mount=p9:9p kl.mount=ro:virtiofs kl.mount=ro9:9p kl.stay=1" cpu.emulator=0 \
    "$(share vfs)" "$(share p9 'driver = 9p')" "$(share ro 'readonly = yes')" "$(share ro9 'driver = 9p' 'readonly = yes')"
"$bin" "$tmp/fs.ini" > "$tmp/fs.out" 2>&1 &
pids+=($!)
kl=$!
serial=$tmp/fs.serial
if wait_for 90 grep -qs "KVMLAUNCH-GUEST: stay" "$serial"; then
    ok "the guest with four shares came up"
else bad "the guest did not come up"; cat "$tmp/fs.out" "$serial"; fi
for want in "share=vfs read=hello-vfs" "share=vfs write=ok" "share=p9 read=hello-p9" "share=p9 write=ok" \
    "share=ro read=hello-ro" "share=ro write=failed" "share=ro9 read=hello-ro9" "share=ro9 write=failed" \
    "share=vfs mknod=failed" "share=ro mknod=failed" "share=p9 mknod=failed"; do
    grep -qF "KVMLAUNCH-GUEST: $want" "$serial" && ok "guest: $want" || bad "guest did not say $want"
done
emu=
for c in "${cgroup_bases[@]}"; do [ -d "$c/$(name fs)/emulator" ] && emu=$c/$(name fs)/emulator; done
rdir=$KVMLAUNCH_RUNDIR/$(name fs)
vfsd=$(pgrep -f "source=$rdir/vfs-0.root -o" | sort) rod=$(pgrep -f "source=$rdir/vfs-2.root -o" | sort)
main=$(pgrep -P "$kl" -f "source=$rdir/vfs-0.root -o") romain=$(pgrep -P "$kl" -f "source=$rdir/vfs-2.root -o")
if [ -n "$main" ] && [ -n "$romain" ]; then
    tr '\0' ' ' < /proc/$main/cmdline | grep -qF -- "-o modcaps=-mknod" && ok "virtiofsd runs with modcaps=-mknod" \
        || { bad "virtiofsd's command line"; tr '\0' ' ' < /proc/$main/cmdline; }
    # virtiofsd's sandboxed child pivots into what it serves: its root
    # mount is ours (mountinfo field 5: the mountpoint, 6: its options).
    root_opts() { awk '$5 == "/" { o = $6 } END { print o }' "/proc/$(pgrep -P "$1" | head -1)/mountinfo"; }
    mi=$(root_opts "$main") romi=$(root_opts "$romain")
    [[ ,$mi, == *,rw,* && ,$mi, == *,nosuid,* && ,$mi, == *,nodev,* && ,$romi, == *,ro,* && ,$romi, == *,nosuid,* && ,$romi, == *,nodev,* ]] \
        && ok "virtiofsd's namespace: the share bound on vfs-N.root nosuid,nodev (ro when readonly)" || bad "virtiofsd's mounts: '$mi' '$romi'"
    ! grep -qF "$rdir/vfs-" /proc/self/mountinfo && [ "$(stat -c %a "$rdir/vfs-0.root")" = 700 ] \
        && ok "the host sees no mount there, an empty directory 0700" || { bad "host mounts"; grep -F "$rdir" /proc/self/mountinfo; }
else bad "no virtiofsd main processes found ('$main' '$romain')"; fi
if [ -z "$emu" ]; then skip "no cgroup of the VM (no cpuset hierarchy)"
elif [ "$(echo "$vfsd" | wc -w)" = 2 ] && [ "$(echo "$rod" | wc -w)" = 2 ]; then
    missing=
    for p in $vfsd $rod; do grep -qx "$p" "$emu/cgroup.procs" || missing+=" $p"; done
    [ -z "$missing" ] && ok "both virtiofsds (and their sandboxed children) are in the emulator cgroup" \
        || { bad "not in $emu:$missing"; cat "$emu/cgroup.procs"; }
else bad "expected two virtiofsd processes per virtiofs share, found '$vfsd' and '$rod'"; fi
cpus=
for p in $vfsd $rod; do cpus+=" $(awk '/^Cpus_allowed_list/ { print $2 }' /proc/$p/status)"; done
[ -n "$vfsd" ] && [ "$cpus" = "$(printf ' 0%.0s' $vfsd $rod)" ] && ok "every virtiofsd process runs on the emulator's CPU 0" \
    || bad "virtiofsd CPUs:$cpus"
[ -S "$KVMLAUNCH_RUNDIR/$(name fs)/vfs-0.sock" ] && [ -S "$KVMLAUNCH_RUNDIR/$(name fs)/vfs-2.sock" ] &&
    [ ! -e "$KVMLAUNCH_RUNDIR/$(name fs)/vfs-1.sock" ] && ok "a vhost-user socket per virtiofs share in the runtime dir" \
    || { bad "sockets"; ls -la "$KVMLAUNCH_RUNDIR/$(name fs)"; }
"$bin" stop "$(name fs)" > /dev/null 2>&1
wait "$kl"; rc=$?
[ $rc = 0 ] && ok "stopped, exit 0" || { bad "the run ended with $rc"; cat "$tmp/fs.out"; }
[ "$(cat "$tmp/vfs/back" 2> /dev/null)" = from-guest ] && [ "$(stat -c %U:%G "$tmp/vfs/back")" = root:root ] \
    && ok "virtiofs: the guest's file is on the host as the guest's root (root:root)" || { bad "vfs/back"; ls -la "$tmp/vfs"; }
[ "$(cat "$tmp/p9/back" 2> /dev/null)" = from-guest ] && [ "$(stat -c %U "$tmp/p9/back")" = "$user" ] \
    && ok "9p: the guest's file is on the host as QEMU's user ($user)" || { bad "p9/back"; ls -la "$tmp/p9"; }
[ ! -e "$tmp/ro/back" ] && [ ! -e "$tmp/ro9/back" ] && ok "read-only shares: nothing written on the host" || bad "a read-only share was written"
[ ! -e "$tmp/vfs/blockdev" ] && ok "no device node made in the share" || { bad "a device node in the share"; ls -la "$tmp/vfs"; }
wait_for 5 no_virtiofsd && ok "no virtiofsd left" || { bad "virtiofsd left"; pgrep -af "source=$tmp/"; }
left=$(leftovers fs)
[ -z "$left" ] && ok "nothing of the VM left (runtime dir and sockets, cgroups, QEMU)" || bad "left: $left"

# 3. A virtiofsd that dies under the VM is reported.
vm_ini die "$(share vfs)"
"$bin" "$tmp/die.ini" > "$tmp/die.out" 2>&1 &
pids+=($!)
kl=$!
if wait_for 90 grep -qs "KVMLAUNCH-GUEST: stay" "$tmp/die.serial"; then
    main=$(pgrep -P "$kl" -f "source=$KVMLAUNCH_RUNDIR/$(name die)/vfs-0.root")
    kill -9 $main
    wait_for 10 grep -qF "virtiofsd of [share \"vfs\"] was killed by signal 9" "$tmp/die.out" \
        && ok "a virtiofsd killed under the VM is reported" || { bad "its death was not reported"; cat "$tmp/die.out"; }
else bad "the guest did not come up"; cat "$tmp/die.out"; fi
"$bin" stop "$(name die)" > /dev/null 2>&1
wait "$kl"; rc=$?
[ $rc = 0 ] && wait_for 5 no_virtiofsd && [ -z "$(leftovers die)" ] && ok "the VM still stops cleanly (exit 0), nothing left" \
    || { bad "after the virtiofsd died: exit $rc, left: $(leftovers die)"; cat "$tmp/die.out"; }

# A virtiofsd that cannot serve (here: /bin/false): QEMU cannot come up,
# the run fails (exit 1), says why, and leaves nothing.
vm_ini false "$(share vfs)"
KVMLAUNCH_VIRTIOFSD=/bin/false "$bin" "$tmp/false.ini" > "$tmp/false.out" 2>&1; rc=$?
[ $rc = 1 ] && grep -qF "virtiofsd of [share \"vfs\"] exited with status 1" "$tmp/false.out" && [ -z "$(leftovers false)" ] && no_virtiofsd \
    && ok "a virtiofsd that fails at once: exit 1, reported, nothing left" || { bad "virtiofsd /bin/false: exit $rc, left: $(leftovers false)"; cat "$tmp/false.out"; }

# 4. 9p: QEMU's user must be able to write the directory.
mkdir -p "$tmp/rootonly" && chmod 0755 "$tmp/rootonly"
vm_ini perm "$(printf '[share "w"]\npath = %s\ndriver = 9p\n' "$tmp/rootonly")"
"$bin" check "$tmp/perm.ini" > "$tmp/perm.check" 2>&1; rc=$?
want="^FAIL  shares +$tmp/perm.ini:[0-9]+: \[share \"w\"\] path: $user \(who serves 9p: QEMU\) cannot write $tmp/rootonly: Permission denied"
[ $rc = 1 ] && grep -qE "$want" "$tmp/perm.check" && ok "check: QEMU's user cannot write the 9p directory, FAIL" \
    || { bad "check of a root-only 9p dir: exit $rc"; cat "$tmp/perm.check"; }
"$bin" "$tmp/perm.ini" > "$tmp/perm.out" 2>&1; rc=$?
[ $rc = 2 ] && [ -z "$(leftovers perm)" ] && ok "the run refuses it (exit 2), nothing left" || { bad "run: exit $rc"; cat "$tmp/perm.out"; }
vm_ini permro "$(printf '[share "w"]\npath = %s\ndriver = 9p\nreadonly = yes\n' "$tmp/rootonly")"
"$bin" check "$tmp/permro.ini" 2>&1 | grep -qE "^PASS  shares +share \"w\": $tmp/rootonly over 9p read-only, served by QEMU as $user" \
    && ok "read-only, the same directory passes" || bad "read-only 9p check"

# 5. Symlinks: virtiofsd (root) would follow them; none is.
ln -s "$tmp/vfs" "$tmp/link" && ln -s "$tmp" "$tmp/up"
for p in link up/vfs; do
    n=sym${p%%/*}
    vm_ini $n "$(printf '[share "s"]\npath = %s\ndriver = virtiofs\n' "$tmp/$p")"
    "$bin" check "$tmp/$n.ini" > "$tmp/$n.check" 2>&1; rc=$?
    want="^FAIL  shares +$tmp/$n.ini:[0-9]+: \[share \"s\"\] path: expected a path without symbolic links .*found one on the way to $tmp/$p\$"
    [ $rc = 1 ] && grep -qE "$want" "$tmp/$n.check" && ok "check: a symlink in $p, FAIL naming it" || { bad "check of $p: exit $rc"; cat "$tmp/$n.check"; }
    "$bin" "$tmp/$n.ini" > "$tmp/$n.out" 2>&1; rc=$?
    [ $rc = 2 ] && grep -qF "found one on the way to $tmp/$p" "$tmp/$n.out" && no_virtiofsd && [ -z "$(leftovers $n)" ] \
        && ok "the run refuses $p (exit 2), no virtiofsd, nothing left" || { bad "run of $p: exit $rc, left: $(leftovers $n)"; cat "$tmp/$n.out"; }
done

finish
