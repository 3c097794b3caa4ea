#!/usr/bin/env bash
# [cloud-init] and `kvmlaunch ssh` on running VMs (one that sits in the
# BIOS: the seed is made, attached and removed whatever the guest does).
# The seed is read back with isoinfo, blkid and cloud-init's own NoCloud
# reader (its Python code from the Debian package, unpacked under build/,
# never installed: it would act on the host's next boot). ssh is checked
# against a stand-in: KVMLAUNCH_SSH names a script that records its argv
# and exits with a code, and a Python listener plays sshd's banner for
# --wait, and tests/helpers/sshd_stub.py (paramiko) plays a whole sshd for
# the real ssh (this host has no sshd and gets none); the cloud-image test
# (tests/cloud/) logs into a real guest's sshd.
set -u
. "$(dirname "$0")/lib.sh"
need_root "QEMU is started as another user"
need_cmd qemu-system-x86_64 ssh-keygen
need_cmd isoinfo -- make deps installs genisoimage
need_cmd blkid losetup python3 jq

make_tmp --rundir
vms_named klci-$$
vm_preset bios
chmod go+x "$tmp"
py=/usr/bin/python3

ssh-keygen -q -t ed25519 -N '' -C kl@test -f "$tmp/id" || exit 1
printf 'version: 2\nethernets:\n  eth0:\n    dhcp4: true\n' > "$tmp/net.yaml"
printf '#cloud-config\nruncmd: [ [ touch, /made ] ]\n' > "$tmp/user.yaml"

# --- Bad input: exit 2 with file:line, no runtime dir left. ---------------
bad_case() { # WHAT REGEX ID ARGS...
    local what=$1 re=$2 id=$3
    shift 3
    vm_ini "$id" "$@"
    for how in run check; do
        if [ $how = run ]; then "$bin" "$tmp/$id.ini" > "$tmp/$id.out" 2>&1; else "$bin" check "$tmp/$id.ini" > "$tmp/$id.out" 2>&1; fi
        rc=$?
        want=2
        [ $how = check ] && want=1
        if [ $rc = $want ] && grep -Eq "$re" "$tmp/$id.out" && [ -z "$(leftovers "$id")" ]; then ok "$what: $how exits $want, names the line"
        else bad "$what: $how exit $rc (want $want), or no \"$re\" in: $(cat "$tmp/$id.out"); left: $(leftovers "$id")"; fi
    done
}
bad_case "a missing public key" "$tmp/m1.ini:[0-9]+: \\[cloud-init\\] ssh-key: expected a readable public key, found $tmp/none.pub: No such file" \
    m1 "cloud-init.user=kl" "cloud-init.ssh-key=$tmp/none.pub"
cp "$tmp/id.pub" "$tmp/lonely.pub"
bad_case "a public key without its private half" "$tmp/m2.ini:[0-9]+: \\[cloud-init\\] ssh-key: expected the private key beside it.*$tmp/lonely: No such file" \
    m2 "cloud-init.user=kl" "cloud-init.ssh-key=$tmp/lonely.pub"
: > "$tmp/empty.pub"; cp "$tmp/id" "$tmp/empty"
bad_case "a public key file without a key" "$tmp/m3.ini:[0-9]+: \\[cloud-init\\] ssh-key: $tmp/empty.pub: expected a public key" \
    m3 "cloud-init.ssh-key=$tmp/empty.pub"
bad_case "a missing user-data file" "$tmp/m4.ini:[0-9]+: \\[cloud-init\\] user-data: expected a readable user-data file" \
    m4 "cloud-init.user-data=$tmp/none.yaml"
bad_case "a network-config that is a directory" "$tmp/m5.ini:[0-9]+: \\[cloud-init\\] network-config: .*not a regular file" \
    m5 "cloud-init.network-config=$tmp"

# --- The seed of a running VM. ---------------------------------------------
mkdir "$tmp/work" && chown nobody "$tmp/work"  # 9p: QEMU, as the VM's user, serves it
vm_ini a "cloud-init.user=kl" "cloud-init.ssh-key=$tmp/id.pub" "cloud-init.hostname=box-a" "cloud-init.network-config=$tmp/net.yaml" "[share \"work\"]
path = $tmp/work
driver = 9p"
"$bin" "$tmp/a.ini" > "$tmp/a.out" 2>&1 &
pids+=($!); sup_a=$!
run_a=$KVMLAUNCH_RUNDIR/$(name a)
seed=$run_a/cidata.iso
wait_for 30 vm_running a || { cat "$tmp/a.out"; bad "VM a did not start"; finish; }
[ -s "$seed" ] && ok "the seed is in the runtime dir" || bad "no seed at $seed"
cp "$seed" "$tmp/a.iso"
qemu=$(qemu_of a)
# QEMU holds it read-only through a descriptor kvmlaunch opened.
fdseed=
for f in /proc/"$qemu"/fd/*; do [ "$(readlink "$f")" = "$seed" ] && fdseed=${f##*/}; done
if [ -n "$fdseed" ] && [ "$(awk '/^flags:/ {print $2}' /proc/"$qemu"/fdinfo/"$fdseed")" ] &&
    [ $(( 0$(awk '/^flags:/ {print $2}' /proc/"$qemu"/fdinfo/"$fdseed") & 3 )) = 0 ]; then ok "QEMU holds the seed read-only (fd $fdseed)"
else bad "QEMU ($qemu) holds no read-only descriptor of $seed"; fi
grep -q '"driver":"virtio-blk-pci","id":"cloud-init-seed"' /proc/"$qemu"/cmdline && grep -q '"read-only":true' /proc/"$qemu"/cmdline &&
    ok "the seed is a read-only virtio-blk disk" || bad "no read-only seed disk on QEMU's command line"

info=$(isoinfo -d -i "$tmp/a.iso")
grep -q '^Volume id: CIDATA' <<< "$info" && ok "isoinfo: volume id CIDATA" || bad "isoinfo -d: $info"
grep -q 'Rock Ridge signatures' <<< "$info" && ok "isoinfo: Rock Ridge" || bad "no Rock Ridge: $info"
grep -q 'Joliet with UCS level' <<< "$info" && ok "isoinfo: Joliet" || bad "no Joliet: $info"
names=$(isoinfo -R -l -i "$tmp/a.iso" | awk '/^-/ {print $NF}' | sort | tr '\n' ' ')
[ "$names" = "meta-data network-config user-data " ] && ok "Rock Ridge names: $names" || bad "Rock Ridge names: $names"
jnames=$(isoinfo -J -l -i "$tmp/a.iso" | awk '/^-/ {print $NF}' | sort | tr '\n' ' ')
[ "$jnames" = "meta-data network-config user-data " ] && ok "Joliet names: $jnames" || bad "Joliet names: $jnames"
isoinfo -R -x /network-config -i "$tmp/a.iso" | cmp -s - "$tmp/net.yaml" && ok "network-config is the file, byte for byte" ||
    bad "network-config differs from $tmp/net.yaml"
ud=$(isoinfo -R -x /user-data -i "$tmp/a.iso")
grep -qx '  - name: "kl"' <<< "$ud" && grep -qF "      - \"$(cat "$tmp/id.pub")\"" <<< "$ud" && grep -qx '#cloud-config' <<< "$ud" &&
    ok "user-data: the user and the key" || bad "user-data: $ud"
md=$(isoinfo -R -x /meta-data -i "$tmp/a.iso")
grep -qx 'local-hostname: "box-a"' <<< "$md" && grep -Eqx 'instance-id: "kvmlaunch-[0-9a-f]{16}"' <<< "$md" &&
    ok "meta-data: instance-id and local-hostname" || bad "meta-data: $md"
blk=$(blkid -o export "$tmp/a.iso")
grep -qx 'LABEL=cidata' <<< "$blk" && grep -qx 'TYPE=iso9660' <<< "$blk" && ok "blkid: LABEL=cidata TYPE=iso9660" || bad "blkid: $blk"

# cloud-init's own reader: how NoCloud finds the volume (blkid, by label
# and type) and reads it (mount_cb mounts it read-only, pathprefix2dict
# reads the files, load_yaml the meta-data).
ci_root=$top/build/cloud-init
ci_py=$ci_root/root/usr/lib/python3/dist-packages
if [ ! -d "$ci_py/cloudinit" ]; then
    mkdir -p "$ci_root" && (cd "$ci_root" && rm -f cloud-init_*.deb && apt-get download cloud-init > /dev/null 2>&1 &&
        dpkg-deb -x cloud-init_*.deb root) || rm -rf "$ci_root/root"
fi
if [ ! -d "$ci_py/cloudinit" ]; then
    skip "cloud-init's reader: apt-get download cloud-init failed (no mirror here?)"
elif ! PYTHONPATH=$ci_py $py -c 'from cloudinit.sources import DataSourceNoCloud; from cloudinit.config import schema' 2> "$tmp/py.err"; then
    skip "cloud-init's reader: its Python modules do not load ($(tail -1 "$tmp/py.err"); make deps installs python3-yaml, -configobj, -jinja2, -requests, -jsonschema, -jsonpatch)"
else
    loop=$(losetup -r -f --show "$tmp/a.iso") || loop=
    [ -n "$loop" ] && defer losetup -d "$loop"
    mkdir -p "$tmp/citmp" "$tmp/cifiles"
    # Without iso9660 in this kernel (a container's host may lack isofs;
    # the test loads no module) cloud-init cannot mount it here: its reader
    # then reads the files isoinfo took out, and the guest mounts it.
    mount_it=1
    grep -qw iso9660 /proc/filesystems || mount_it=0
    if [ $mount_it = 0 ]; then
        skip "cloud-init mounting the seed: this kernel has no iso9660 (it reads the files isoinfo extracts instead)"
        for f in meta-data user-data network-config; do isoinfo -R -x "/$f" -i "$tmp/a.iso" > "$tmp/cifiles/$f"; done
    fi
    if [ -z "$loop" ]; then skip "cloud-init's reader: no loop device"
    elif PYTHONPATH=$ci_py $py - "$loop" "$tmp/citmp" "$mount_it" "$tmp/cifiles" > "$tmp/ci.out" 2>&1 <<'EOF'
import json, sys
from cloudinit import temp_utils, util
from cloudinit.sources import DataSourceNoCloud as nocloud
dev, tmpdir, mount_it, files = sys.argv[1], sys.argv[2], sys.argv[3] == "1", sys.argv[4]
temp_utils._TMPDIR = tmpdir          # its mount point under the test's dir, not /run/cloud-init
devs = nocloud.DataSourceNoCloud._get_devices(None, "cidata")
assert dev in devs, "NoCloud does not find %s by label: %s" % (dev, devs)
kwargs = {"required": ["user-data", "meta-data"], "optional": ["vendor-data", "network-config"]}
if mount_it:
    seeded = util.mount_cb(dev, lambda mp, data: util.pathprefix2dict(mp, **data), kwargs)
else:
    seeded = util.pathprefix2dict(files, **kwargs)
md = util.load_yaml(seeded["meta-data"])
ud = util.load_yaml(seeded["user-data"])
# cloud-init's own schema of cloud-config, strictly: a key it would ignore fails.
from cloudinit.config.schema import get_schema, validate_cloudconfig_schema
validate_cloudconfig_schema(ud, get_schema(), strict=True)
nc = util.load_yaml(seeded["network-config"])
print(json.dumps({"md": md, "user": ud["users"][0], "nc": nc, "bootcmd": ud["bootcmd"]}, sort_keys=True))
EOF
    then
        out=$(cat "$tmp/ci.out")
        $py - "$out" "$(cat "$tmp/id.pub")" <<'EOF' && ok "cloud-init's NoCloud reader finds the volume by label, reads it, and its schema takes the user-data: $out" || bad "cloud-init read: $out"
import json, sys
d = json.loads(sys.argv[1])
assert d["md"]["local-hostname"] == "box-a" and d["md"]["instance-id"].startswith("kvmlaunch-"), d
u = d["user"]
assert u["name"] == "kl" and u["sudo"] == "ALL=(ALL) NOPASSWD:ALL" and u["shell"] == "/bin/bash", u
assert u["ssh_authorized_keys"] == [sys.argv[2]], u
assert d["nc"]["ethernets"]["eth0"]["dhcp4"] is True, d
assert d["bootcmd"] == ["mkdir -p /mnt/work && { mountpoint -q /mnt/work || mount -t 9p -o trans=virtio,version=9p2000.L,msize=524288 work /mnt/work; }"], d
EOF
    else bad "cloud-init's reader failed: $(cat "$tmp/ci.out")"; fi
    if [ $mount_it = 1 ]; then
        if grep -q " $tmp/citmp" /proc/mounts; then bad "cloud-init's mount is left"; else ok "cloud-init unmounted it"; fi
    fi
fi

# --- kvmlaunch ssh, with stand-ins for ssh and sshd. ------------------------
# It also says which file its -i /proc/PID/fd/N is (the key kvmlaunch
# opened as the caller and holds while ssh runs).
cat > "$tmp/fakessh" <<EOF
#!/bin/sh
printf "%s\\n" "\$@" > "$tmp/ssh.argv"
for a; do case \$a in /proc/*/fd/*) readlink "\$a" > "$tmp/ssh.key";; esac; done
exit "\${KL_FAKE_RC:-0}"
EOF
chmod +x "$tmp/fakessh"
# A listener that stands for QEMU's forward: kvmlaunch ssh logs in only
# where QEMU holds the listening socket; KVMLAUNCH_SSH_LISTENER_PID names
# the stand-in's pid for that check instead.
cat > "$tmp/listen.py" <<'EOF'
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(8)
print("listening", flush=True)
while True:
    c, _ = s.accept()
    if len(sys.argv) > 2: c.sendall(b"SSH-2.0-kltest\r\n")
    c.close()
EOF
lpid=
kssh() { KVMLAUNCH_SSH=$tmp/fakessh KVMLAUNCH_SSH_LISTENER_PID=$lpid "$bin" ssh "$@"; }
kssh "$(name a)" -- true 2> "$tmp/s.err"; rc=$?
[ $rc = 2 ] && grep -q "no forward to guest port 22" "$tmp/s.err" && ok "no forward to port 22: exit 2" || bad "no forward: exit $rc: $(cat "$tmp/s.err")"
# The forwards as the run records them (mode = user writes forwards.json;
# one on 0.0.0.0 is reached on 127.0.0.1).
port=$($py -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
fwd() { printf '{"net":"u","proto":"tcp","address":"%s","host_port":%s,"guest_port":%s,"auto":true}' "$@"; }
echo "[$(fwd 127.0.0.1 8080 80),$(fwd 0.0.0.0 "$port" 22)]" > "$run_a/forwards.json"
$py "$tmp/listen.py" "$port" > "$tmp/l1.out" 2>&1 &
lpid=$!; pids+=($lpid)
wait_for 10 grep -q listening "$tmp/l1.out" || bad "the stand-in listener did not start: $(cat "$tmp/l1.out")"
KL_FAKE_RC=7 kssh "$(name a)" -- sh -c 'uname -r; exit 7' "it's" 2> "$tmp/s.err"; rc=$?
[ $rc = 7 ] && ok "the exit status is the command's (7)" || bad "exit $rc, not 7: $(cat "$tmp/s.err")"
want="-F none -i /proc/PID/fd/N -p $port -o UserKnownHostsFile=$run_a/known_hosts -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=accept-new -o BatchMode=yes -o IdentitiesOnly=yes -o LogLevel=ERROR -- kl@127.0.0.1 sh -c 'uname -r; exit 7' 'it'\\''s'"
got=$(tr '\n' ' ' < "$tmp/ssh.argv" | sed -E 's|/proc/[0-9]+/fd/[0-9]+|/proc/PID/fd/N|'); got=${got% }
[ "$got" = "$want" ] && ok "ssh's argv: the key, the port, the known hosts in the runtime dir, the words quoted" || bad "ssh's argv: $got"
kssh "$(name a)" 2> /dev/null; rc=$?
[ $rc = 0 ] && [ "$(tail -1 "$tmp/ssh.argv")" = kl@127.0.0.1 ] && ok "no command: a login" || bad "no command: exit $rc, $(tail -1 "$tmp/ssh.argv")"
[ "$(cat "$tmp/ssh.key" 2> /dev/null)" = "$tmp/id" ] && ok "ssh reads the key through the descriptor kvmlaunch opened as the caller" ||
    bad "ssh's -i /proc/PID/fd/N is $(cat "$tmp/ssh.key" 2> /dev/null), not $tmp/id"
# A listener on the recorded port that QEMU does not hold (another user
# took the port): refused before ssh runs, which would keep its host key.
rm -f "$tmp/ssh.argv"
KVMLAUNCH_SSH=$tmp/fakessh "$bin" ssh "$(name a)" -- true 2> "$tmp/s.err"; rc=$?
if [ $rc = 1 ] && grep -q "127.0.0.1:$port is not the VM's forward: another program listens on it, not QEMU" "$tmp/s.err" && [ ! -e "$tmp/ssh.argv" ]; then
    ok "a listener on the forward's port that is not QEMU's is refused (exit 1), ssh not run"
else bad "an impostor listener: exit $rc, ssh $([ -e "$tmp/ssh.argv" ] && echo ran || echo "not run"): $(cat "$tmp/s.err")"; fi
kill "$lpid"; wait "$lpid" 2> /dev/null
kssh "$(name a)" --bogus 2> "$tmp/s.err"; rc=$?
[ $rc = 2 ] && grep -q 'unexpected argument "--bogus"' "$tmp/s.err" && ok "a bad option: exit 2" || bad "a bad option: exit $rc"
kssh "$(name a)" --wait soon 2> "$tmp/s.err"; rc=$?
[ $rc = 2 ] && grep -q -- '--wait:' "$tmp/s.err" && ok "a bad duration: exit 2" || bad "a bad duration: exit $rc"
kssh "$(name zz)" 2> "$tmp/s.err"; rc=$?
[ $rc = 1 ] && grep -q "is not running" "$tmp/s.err" && ok "a VM that does not run: exit 1" || bad "not running: exit $rc"

# --wait: nothing listens: 255 (as ssh's failed connection) after DURATION.
rm -f "$tmp/ssh.argv"
t0=$(date +%s%N)
kssh "$(name a)" --wait 1500ms -- true 2> "$tmp/s.err"; rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
[ $rc = 255 ] && [ $ms -ge 1400 ] && [ $ms -lt 4000 ] && [ ! -e "$tmp/ssh.argv" ] && grep -q "did not answer on 127.0.0.1:$port within 1500ms" "$tmp/s.err" &&
    ok "--wait 1500ms with no sshd: exit 255 after $ms ms, ssh not run" || bad "--wait: exit $rc after $ms ms: $(cat "$tmp/s.err")"
# A listener that accepts but says nothing is no sshd (slirp accepts every
# connection to a forward); the banner comes from 1 s on.
$py - "$port" > "$tmp/sshd.log" 2>&1 <<'EOF' &
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(8)
t0 = time.time()
while time.time() - t0 < 20:
    c, _ = s.accept()
    if time.time() - t0 > 1:
        print("banner", flush=True); c.sendall(b"SSH-2.0-kltest\r\n"); time.sleep(0.5); c.close()
    else:
        print("silent", flush=True); time.sleep(0.3); c.close()
EOF
pids+=($!); sshd=$!
sleep 0.2
lpid=$sshd
KL_FAKE_RC=3 kssh "$(name a)" --wait 10s -- true 2> "$tmp/s.err"; rc=$?
[ $rc = 3 ] && grep -q silent "$tmp/sshd.log" && grep -q banner "$tmp/sshd.log" && ok "--wait retries past a silent listener until the banner, then runs ssh" ||
    bad "--wait with a late sshd: exit $rc: $(cat "$tmp/s.err") $(cat "$tmp/sshd.log")"
# The real ssh against a listener that is no sshd: its 255 comes through.
KVMLAUNCH_SSH= KVMLAUNCH_SSH_LISTENER_PID=$sshd "$bin" ssh "$(name a)" -- true > /dev/null 2>&1; rc=$?
[ $rc = 255 ] && ok "ssh's connection failure is 255" || bad "the real ssh against no sshd: exit $rc"
kill "$sshd" 2> /dev/null
wait "$sshd" 2> /dev/null

# The real ssh against a stand-in sshd (paramiko: a library, no service)
# that lets in kl with this key, runs the command with /bin/sh -c and
# returns its exit status: the login, the words as they are, the host key
# kept in the runtime dir, a changed one refused.
stub=$top/tests/helpers/sshd_stub.py
if $py -c 'import paramiko' 2> /dev/null; then
    ssh-keygen -q -t ed25519 -N '' -f "$tmp/hk1" && ssh-keygen -q -t ed25519 -N '' -f "$tmp/hk2" || bad "ssh-keygen host keys"
    start_stub() { # HOSTKEY
        rm -f "$tmp/stub.out"  # before the start: its "listening" is the new one's
        $py "$stub" "$port" "$1" "$tmp/id.pub" "$tmp/stub.log" > "$tmp/stub.out" 2>&1 &
        stub_pid=$!
        pids+=($stub_pid)
        wait_for 10 grep -q listening "$tmp/stub.out" || bad "the sshd stand-in did not start: $(cat "$tmp/stub.out")"
    }
    start_stub "$tmp/hk1"
    rm -f "$run_a/known_hosts"
    KVMLAUNCH_SSH= KVMLAUNCH_SSH_LISTENER_PID=$stub_pid "$bin" ssh "$(name a)" --wait 20s -- sh -c 'printf "%s|" "$@"; exit 7' argv0 "a b" "it's" '$HOME' > "$tmp/r.out" 2> "$tmp/r.err"; rc=$?
    [ $rc = 7 ] && ok "ssh: the command's exit status (7)" || bad "ssh: exit $rc: $(cat "$tmp/r.err")"
    [ "$(cat "$tmp/r.out")" = "a b|it's|\$HOME|" ] && ok "ssh: each word reaches the guest as one argument" || bad "ssh: the guest got $(cat "$tmp/r.out")"
    grep -qx "user kl" "$tmp/stub.log" && ok "ssh: logged in as [cloud-init] user with its key" || bad "ssh: no login as kl: $(cat "$tmp/stub.log")"
    kh=$(cut -d' ' -f2- "$run_a/known_hosts" 2> /dev/null)
    [ "$kh" = "$(cut -d' ' -f1-2 "$tmp/hk1.pub")" ] && ok "the guest's host key is kept in the runtime dir" || bad "known_hosts: $kh"
    KVMLAUNCH_SSH= KVMLAUNCH_SSH_LISTENER_PID=$stub_pid "$bin" ssh "$(name a)" -- true 2> "$tmp/r.err"; rc=$?
    [ $rc = 0 ] && ok "ssh again with the kept key: exit 0" || bad "ssh again: exit $rc: $(cat "$tmp/r.err")"
    kill "$stub_pid"; wait "$stub_pid" 2> /dev/null
    start_stub "$tmp/hk2"
    : > "$tmp/stub.log"
    KVMLAUNCH_SSH= KVMLAUNCH_SSH_LISTENER_PID=$stub_pid "$bin" ssh "$(name a)" -- touch "$tmp/must-not" 2> "$tmp/r.err"; rc=$?
    [ $rc = 255 ] && grep -qi "host key" "$tmp/r.err" && [ ! -e "$tmp/must-not" ] && ! grep -q exec "$tmp/stub.log" &&
        ok "a changed host key is refused (255), nothing run" || bad "changed host key: exit $rc: $(cat "$tmp/r.err")"
    [ "$(cut -d' ' -f2- "$run_a/known_hosts")" = "$(cut -d' ' -f1-2 "$tmp/hk1.pub")" ] && ok "the kept host key stays" || bad "known_hosts changed: $(cat "$run_a/known_hosts")"
    kill "$stub_pid"; wait "$stub_pid" 2> /dev/null
else
    skip "ssh against a stand-in sshd: no python3-paramiko (make deps installs it)"
fi

# A VM without ssh-key: exit 2.
vm_ini b "cloud-init.user-data=$tmp/user.yaml"
"$bin" "$tmp/b.ini" > "$tmp/b.out" 2>&1 &
pids+=($!); sup_b=$!
wait_for 30 vm_running b || bad "VM b did not start: $(cat "$tmp/b.out")"
isoinfo -R -x /user-data -i "$KVMLAUNCH_RUNDIR/$(name b)/cidata.iso" | cmp -s - "$tmp/user.yaml" && ok "a user-data file is taken as is" ||
    bad "user-data of b differs from $tmp/user.yaml"
if isoinfo -R -l -i "$KVMLAUNCH_RUNDIR/$(name b)/cidata.iso" | grep -q network-config; then bad "b has a network-config"; else ok "no network-config when none is given"; fi
echo "[$(fwd 127.0.0.1 "$port" 22)]" > "$KVMLAUNCH_RUNDIR/$(name b)/forwards.json"
kssh "$(name b)" -- true 2> "$tmp/s.err"; rc=$?
[ $rc = 2 ] && grep -q "has no \[cloud-init\] ssh-key" "$tmp/s.err" && ok "a VM without ssh-key: exit 2" || bad "no ssh-key: exit $rc: $(cat "$tmp/s.err")"

# A real mode = user forward (QEMU's slirp) to a guest with no sshd (this
# one sits in the BIOS): slirp takes the connection, no banner comes,
# --wait runs out (255) at the port the run recorded.
vm_ini u "cloud-init.user=kl" "cloud-init.ssh-key=$tmp/id.pub" "[net \"n0\"]
mode = user
forward = tcp:auto:22"
"$bin" "$tmp/u.ini" > "$tmp/u.out" 2>&1 &
pids+=($!); sup_u=$!
if wait_for 30 vm_running u; then
    uport=$(jq -r '.[] | select(.guest_port == 22) | .host_port' "$KVMLAUNCH_RUNDIR/$(name u)/forwards.json" 2> /dev/null)
    KVMLAUNCH_SSH=$tmp/fakessh "$bin" ssh "$(name u)" --wait 2s -- true 2> "$tmp/u.err"; rc=$?
    [ $rc = 255 ] && [ -n "$uport" ] && grep -q "did not answer on 127.0.0.1:$uport within 2s" "$tmp/u.err" &&
        ok "--wait through a real forward ($uport) to no sshd: 255, slirp's accepted connection is no sshd" ||
        bad "--wait through a real forward: exit $rc, port $uport: $(cat "$tmp/u.err")"
    # Without --wait: QEMU holds the forward's listener, so ssh runs.
    rm -f "$tmp/ssh.argv"
    KVMLAUNCH_SSH=$tmp/fakessh "$bin" ssh "$(name u)" -- true 2> "$tmp/u.err"; rc=$?
    [ $rc = 0 ] && grep -qx -- "$uport" "$tmp/ssh.argv" && ok "QEMU's own forward listener ($uport) passes the check: ssh runs" ||
        bad "ssh through QEMU's forward: exit $rc: $(cat "$tmp/u.err")"
    "$bin" stop "$(name u)" > /dev/null 2>&1
else
    bad "VM u (mode = user) did not start: $(cat "$tmp/u.out")"
fi
wait "$sup_u"

# --wait started before the VM (docs/CI.md: `kvmlaunch vm.ini &` then
# `kvmlaunch ssh NAME --wait`): not running yet, no ssh file, no forwards
# are waited for too. The forwards come from the test (this VM has none),
# to a banner listener standing for QEMU's.
$py "$tmp/listen.py" "$port" banner > "$tmp/l2.out" 2>&1 &
lpid=$!; pids+=($lpid)
wait_for 10 grep -q listening "$tmp/l2.out" || bad "the banner listener did not start: $(cat "$tmp/l2.out")"
vm_ini w "cloud-init.user=kl" "cloud-init.ssh-key=$tmp/id.pub"
KL_FAKE_RC=5 kssh "$(name w)" --wait 60s -- true 2> "$tmp/w.err" &
early=$!; pids+=($early)
sleep 1
"$bin" "$tmp/w.ini" > "$tmp/w.out" 2>&1 &
pids+=($!); sup_w=$!
if wait_for 30 vm_running w; then
    sleep 1
    kill -0 "$early" 2> /dev/null && ok "ssh --wait started before the VM still waits once it runs" || bad "ssh --wait ended early: $(cat "$tmp/w.err")"
    echo "[$(fwd 127.0.0.1 "$port" 22)]" > "$tmp/w.fwd" && mv "$tmp/w.fwd" "$KVMLAUNCH_RUNDIR/$(name w)/forwards.json"
    wait "$early"; rc=$?
    [ $rc = 5 ] && ok "ssh --wait started before the VM logs in once it is up (exit 5 from ssh)" || bad "early ssh --wait: exit $rc: $(cat "$tmp/w.err")"
    "$bin" stop "$(name w)" > /dev/null 2>&1
else
    bad "VM w did not start: $(cat "$tmp/w.out")"
fi
wait "$sup_w"
kill "$lpid"; wait "$lpid" 2> /dev/null

# The guest sees the seed as a read-only disk of its size (the test guest
# lists its block devices, then powers off).
if [ -f "$guest/vmlinuz" ] && [ -f "$guest/initrd.img" ]; then
    # The serial log is created as the VM's user, in a directory of its own.
    mkdir "$tmp/glog" && chown nobody "$tmp/glog"
    vm_ini g "vm.memory=256M" "vm.kernel=$guest/vmlinuz" "vm.initrd=$guest/initrd.img" "vm.append=console=ttyS0 quiet" \
        "vm.serial=file:$tmp/glog/g.serial" "cloud-init.hostname=g"
    "$bin" "$tmp/g.ini" > "$tmp/g.out" 2>&1; rc=$?
    kb=$(( $(stat -c %s "$tmp/a.iso") / 1024 ))
    line=$(grep -o 'blkdev=vd[a-z] size_kb=[0-9]* ro=[01]' "$tmp/glog/g.serial" 2> /dev/null)
    [ $rc = 0 ] && grep -Eq "^blkdev=vda size_kb=[0-9]+ ro=1$" <<< "$line" && ok "the guest sees the seed as a read-only virtio disk: $line" ||
        bad "guest: exit $rc, block devices: $line $(tail -3 "$tmp/g.out")"
else
    skip "the guest's view of the seed: the test guest is not built (tests/guest/build.sh)"
fi

# Stopped: the seed, the ssh file, known_hosts and the forwards go with the runtime dir.
: > "$run_a/known_hosts"
"$bin" stop "$(name a)" > /dev/null 2>&1
"$bin" stop "$(name b)" > /dev/null 2>&1
wait "$sup_a" "$sup_b"
left=$(leftovers a; leftovers b; leftovers g; leftovers u; leftovers w)
[ -z "$left" ] && ok "nothing left after stop" || bad "left after stop: $left"
finish
