#!/usr/bin/env bash
# The real cloud-image test (issue 16): a Debian 12 image made by
# build-image.sh (debootstrap, cached in build/cloud, shared with every run)
# boots under TCG from one vm.ini: its own kernel and initrd by direct kernel
# boot (root=/dev/vda, no boot loader), the disk with snapshot = yes (the
# image stays as built), [net] mode = user with forward = tcp:auto:22,
# [cloud-init] with a user and a key this test makes, and [share "work"]
# (virtiofs), which the generated user-data mounts on /mnt/work (bootcmd,
# before sshd starts). Then
#   kvmlaunch ssh NAME --wait 300s -- sh -c 'uname -r; cat /mnt/work/hello; ...; exit 7'
# prints the image's kernel and the host's file and exits 7, the host sees
# the file the guest wrote, with the guest user's uid and gid (virtiofsd
# keeps the guest's ids: README, "Shared folders"), and
# [vm] guest-agent = yes (issue 21): status shows the guest's OS and
# address from qemu-guest-agent, qmp --agent answers, and a guest made to
# ignore ACPI is stopped through the agent; after `kvmlaunch stop` nothing
# is left: runtime dir (seed), cgroups, QEMU, virtiofsd, the forwarded port. A `measure:` line gives boot-to-ssh.
#
# The plain build only: the boot takes minutes under TCG and the ASan build
# would take as long again for code that tests/cli's busybox cases (forwards,
# seed, 9p and virtiofs mounts) already run under ASan in seconds.
# KLTEST_CLOUD=no skips it (a quick local make check).
set -u
. "$(dirname "$0")/../cli/lib.sh"
need_root "debootstrap, and QEMU is started as another user"
[ "${KLTEST_CLOUD:-yes}" != no ] || skip_all "KLTEST_CLOUD=no"
asan_build && skip_all "plain build only: a multi-minute TCG boot; the ASan build runs the busybox cases of the same features"
need_cmd qemu-system-x86_64 ssh ssh-keygen jq ss -- make deps installs them

img=$top/build/cloud
"$top/tests/cloud/build-image.sh" "$img"
case $? in
0) ;;
3) skip_all "the Debian mirror cannot be reached: the image cannot be built" ;;
*) bad "the image could not be built (tests/cloud/build-image.sh)"; finish ;;
esac
sed -n 's/^/image: /p' "$img/image.txt"
# The build's namespaces took their mounts and processes with them.
awk -v d="$(realpath "$img")/" 'index($2, d) == 1' /proc/mounts | grep -q . &&
    bad "mounts left under $img: $(awk -v d="$(realpath "$img")/" 'index($2, d) == 1 { print $2 }' /proc/mounts)"
pgrep -f "debootstrap.*$(realpath "$img")" > /dev/null && bad "debootstrap processes left: $(pgrep -af debootstrap)"
kver=$(sed -n 's/^kernel: //p' "$img/image.txt")

make_tmp --rundir
make_user klcloud
vms_named klcloud-$$
# The VM's user reads its files here (as vm_preset guest arranges it).
chown "$user" "$tmp" && chmod 0711 "$tmp"

# The key: kvmlaunch ssh uses the private half beside the .pub.
ssh-keygen -q -t ed25519 -N '' -C "kltest@$(hostname)" -f "$tmp/key" || { bad "ssh-keygen"; finish; }
chmod 0644 "$tmp/key.pub"

# The shared folder: any guest user may write in it (the guest's user is
# not the host's); hello is what the guest must read.
mkdir "$tmp/work" && chmod 0777 "$tmp/work"
echo "hello from $$" > "$tmp/work/hello" && chmod 0644 "$tmp/work/hello"

vm_ini img vm.memory=1G vm.vcpus=2 "vm.user=$user" vm.accel=tcg \
    "vm.kernel=$img/vmlinuz" "vm.initrd=$img/initrd.img" \
    "vm.append=console=ttyS0 root=/dev/vda rw fsck.mode=skip" \
    "vm.serial=file:$tmp/img.serial" vm.timeout=15m vm.shutdown-timeout=90s balloon.enabled=no vm.guest-agent=yes \
    "[disk \"root\"]
file = $img/debian12.img
format = raw
snapshot = yes
cache = unsafe
[net \"n0\"]
mode = user
forward = tcp:auto:22
[cloud-init]
user = kl
ssh-key = $tmp/key.pub
[share \"work\"]
path = $tmp/work"
name=$(name img)

# The same file passes the host's checks before anything starts.
"$bin" check "$tmp/img.ini" > "$tmp/check.out" 2>&1 && ok "kvmlaunch check accepts the VM" ||
    { bad "kvmlaunch check: $(grep -E '^FAIL|: \[' "$tmp/check.out" | head -5)"; finish; }

img_sum=$(stat -c '%s %Y' "$img/debian12.img")
t0=$SECONDS
"$bin" "$tmp/img.ini" > "$tmp/img.out" 2>&1 &
sup=$!
pids+=($sup)

# Right after the start, as docs/CI.md does: --wait also waits for the
# VM to run and record its forward, then for sshd.
"$bin" ssh "$name" --wait 300s -- sh -c 'uname -r; cat /mnt/work/hello; echo out > /mnt/work/back; exit 7' \
    > "$tmp/ssh.out" 2> "$tmp/ssh.err"
rc=$?
boot_s=$((SECONDS - t0))
[ $rc = 7 ] && ok "kvmlaunch ssh: the command's exit status, 7" || bad "kvmlaunch ssh exited $rc: $(tail -5 "$tmp/ssh.err")"
[ "$(sed -n 1p "$tmp/ssh.out")" = "$kver" ] && ok "uname -r: $kver, the image's kernel" ||
    bad "uname -r printed '$(sed -n 1p "$tmp/ssh.out")', not $kver"
[ "$(sed -n 2p "$tmp/ssh.out")" = "hello from $$" ] && ok "the guest read the host's file through the share" ||
    bad "cat /mnt/work/hello printed '$(sed -n 2p "$tmp/ssh.out")'"
echo "measure: boot-to-ssh under $( [ -e /dev/kvm ] && echo "TCG (KVM present, not used)" || echo TCG): ${boot_s} s (start to the ssh command's end, 2 vCPUs, 1 GiB)"

# The forward, while the VM still runs: status --json names the host port
# it took for auto, on 127.0.0.1, for guest port 22 (docs/STATUS.md,
# forwards[]).
forward_port() {
    "$bin" status "$name" --json 2> /dev/null |
        jq -er '.forwards[] | select(.proto == "tcp" and .guest_port == 22 and .auto and .address == "127.0.0.1"
                 and .host_port > 0) | .host_port'
}
if port=$(wait_for 60 forward_port > /dev/null && forward_port); then
    ok "status --json: guest port 22 is forwarded from 127.0.0.1:$port"
    ss -Htln "sport = :$port" | grep -q "127.0.0.1:$port" && ok "QEMU listens on 127.0.0.1:$port" ||
        bad "nothing listens on 127.0.0.1:$port: $(ss -Htln | head -5)"
else
    port=
    bad "status --json shows no forward to guest port 22: $("$bin" status "$name" --json 2>&1 | head -c 600)"
fi

# The file the guest wrote, on the host: virtiofsd (as root, sandboxed)
# creates it with the guest's uid and gid, those of the [cloud-init] user.
"$bin" ssh "$name" -- sh -c 'echo "$(id -u):$(id -g)"' > "$tmp/id.out" 2> "$tmp/id.err" ||
    bad "kvmlaunch ssh id: $(tail -3 "$tmp/id.err")"
guest_ids=$(cat "$tmp/id.out")
if [ -f "$tmp/work/back" ]; then
    [ "$(cat "$tmp/work/back")" = out ] && ok "the host sees back = out" || bad "back holds '$(cat "$tmp/work/back")'"
    owner=$(stat -c %u:%g "$tmp/work/back")
    [ -n "$guest_ids" ] && [ "$owner" = "$guest_ids" ] && ok "back is owned by $owner, the guest user's uid:gid" ||
        bad "back is owned by $owner, the guest user is '$guest_ids'"
else
    bad "the host does not see $tmp/work/back"
fi

# What the guest did: sshd started, cloud-init ran from the seed (its last
# stage may still run after sshd answers).
grep -q 'Started .*ssh.service' "$tmp/img.serial" && ok "the serial shows sshd started" ||
    bad "no 'Started ... ssh.service' on the serial"
wait_step=1 wait_for 180 grep -q 'Cloud-init v\. .* finished.*DataSourceNoCloud' "$tmp/img.serial" &&
    ok "the serial shows cloud-init finished, from the NoCloud seed" ||
    bad "no 'Cloud-init ... finished ... DataSourceNoCloud' on the serial"
grep -a -m1 -o 'Cloud-init v\. [^ ]* finished at .*Up [0-9.]* seconds' "$tmp/img.serial" | sed 's/^/measure: serial: /'
if [ $rc != 7 ]; then
    echo "--- kvmlaunch:"; tail -20 "$tmp/img.out"; echo "--- serial:"; tail -40 "$tmp/img.serial"
fi

# The guest agent (issue 21, [vm] guest-agent = yes; the image has
# qemu-guest-agent, which udev starts on its port): status shows the
# guest's OS and its slirp address, qmp --agent passes a command.
agent_addr() { "$bin" status "$name" --json 2> /dev/null | jq -e '.guest_agent.answered and
    ([.guest_agent.interfaces[].addresses[]] | index("10.0.2.15/24"))' > /dev/null; }
if wait_step=2 wait_for 120 agent_addr; then
    ok "status --json: the agent answers, 10.0.2.15/24 among the guest's addresses"
    "$bin" status "$name" > "$tmp/st.out" 2>&1
    grep -q "guest agent: Debian GNU/Linux 12" "$tmp/st.out" && ok "status: the guest's OS from the agent" || bad "status: $(grep agent "$tmp/st.out")"
    grep -q "guest address .* 10.0.2.15/24" "$tmp/st.out" && ok "status: guest address 10.0.2.15/24" || bad "status: $(grep -i 'guest' "$tmp/st.out")"
else
    bad "status shows no agent answer with 10.0.2.15: $("$bin" status "$name" --json 2>&1 | jq -c .guest_agent)"
fi
"$bin" qmp "$name" --agent guest-ping > "$tmp/ping.out" 2>&1 && [ "$(tr -d ' \n' < "$tmp/ping.out")" = "{}" ] &&
    ok "qmp --agent guest-ping answers {}" || bad "qmp --agent guest-ping: $(cat "$tmp/ping.out")"
"$bin" qmp "$name" --agent guest-info > "$tmp/info.out" 2>&1 && jq -e '.version' "$tmp/info.out" > /dev/null &&
    ok "qmp --agent guest-info: agent $(jq -r .version "$tmp/info.out")" || bad "qmp --agent guest-info: $(head -c 300 "$tmp/info.out")"
"$bin" qmp "$name" --agent guest-no-such > "$tmp/nosuch.out" 2>&1; rc=$?
[ $rc = 1 ] && grep -q "CommandNotFound" "$tmp/nosuch.out" && ok "qmp --agent: an agent's error, exit 1" || bad "qmp --agent guest-no-such: rc $rc: $(cat "$tmp/nosuch.out")"

# A guest that ignores ACPI: logind told to ignore the power key (and
# nothing else listens for it in this image).
"$bin" ssh "$name" -- sh -c 'sudo mkdir -p /etc/systemd/logind.conf.d &&
    printf "[Login]\nHandlePowerKey=ignore\n" | sudo tee /etc/systemd/logind.conf.d/kltest.conf > /dev/null &&
    sudo systemctl restart systemd-logind' > "$tmp/ign.out" 2>&1 && ok "the guest now ignores the power key" ||
    bad "could not make the guest ignore ACPI: $(tail -3 "$tmp/ign.out")"

# Stop: the ACPI power-down is ignored; kvmlaunch stop asks the agent
# (after 5 s), the guest powers off (systemd), long before shutdown-timeout
# (90 s) would make the supervisor quit QEMU; kvmlaunch exits 0 and takes
# everything with it.
stop_s=$SECONDS
"$bin" stop "$name" > "$tmp/stop.out" 2>&1 || bad "stop: $(cat "$tmp/stop.out")"
wait $sup; rc=$?
[ $rc = 0 ] && ok "stopped in $((SECONDS - stop_s)) s, exit 0" || { bad "exit $rc after stop"; tail -5 "$tmp/img.out"; }
grep -q "asked its guest agent to shut it down" "$tmp/stop.out" && ok "stop went through the guest agent" ||
    bad "stop did not use the agent: $(cat "$tmp/stop.out")"
grep -q "did not power down in time" "$tmp/img.out" && bad "the supervisor had to quit QEMU: the agent's shutdown did not work" ||
    ok "the guest powered itself off (no quit after shutdown-timeout)"
left=$(leftovers img)
pgrep -f "virtiofsd.*$tmp/work" > /dev/null && left+=" virtiofsd"
[ -n "$port" ] && ss -Htln "sport = :$port" | grep -q . && left+=" a listener on port $port"
[ -z "$left" ] && ok "nothing left: runtime dir, cgroups, QEMU, virtiofsd, the port" || bad "left: $left"
[ "$(stat -c '%s %Y' "$img/debian12.img")" = "$img_sum" ] && ok "snapshot = yes: the image is unchanged" ||
    bad "the image changed"

finish
