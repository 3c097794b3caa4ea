#!/usr/bin/env bash
# Builds the Debian 12 cloud image that tests/cloud/test_cloud_image.sh boots:
#   OUTDIR/debian12.img  a raw ext4 file system, no partition table: the
#                        guest's root is the whole disk (root=/dev/vda)
#   OUTDIR/vmlinuz       the image's own kernel (linux-image-cloud-amd64) and
#   OUTDIR/initrd.img    initrd, taken out of it for a direct kernel boot
#                        (-kernel/-initrd): no boot loader in the image
#   OUTDIR/image.txt     what went in: suite, kernel, packages, sizes, time
#   OUTDIR/.recipe       the hash of the recipe (this script, mirror, suite)
# Usage: tests/cloud/build-image.sh [OUTDIR]     (default: build/cloud)
# Env:   MIRROR (default http://deb.debian.org/debian), FORCE=1 rebuilds.
# Exit:  0 built or up to date; 1 failed; 3 the mirror cannot be reached
#        (the test then skips: it needs the network once per build).
#
# The image is made with debootstrap (--variant=minbase, no recommends) and
# mkfs.ext4 -d from the debootstrap tree: no loop device, no mount of the
# image, so it also builds in a CI container. debootstrap (needs root) runs
# in a mount and PID namespace of its own: whatever it mounts (proc, sys in
# the tree) and whatever a package script starts in the chroot goes when it
# ends, on success or failure. The image is built once and reused while the
# recipe's hash is the same; the .debs are cached in OUTDIR/cache.
#
# Inside: systemd (+ udev, dbus), cloud-init with the NoCloud datasource
# only (datasource_list: [NoCloud, None]) rendering its network config for
# systemd-networkd (DHCP on the virtio NIC under QEMU's slirp by default),
# openssh-server (host keys made by cloud-init at first boot: ed25519 only,
# cheap under TCG), qemu-guest-agent (started by udev on its virtio-serial
# port, so only in a VM with [vm] guest-agent = yes). Docs, man pages, locales and apt lists are stripped;
# timers and units a throwaway CI guest does not need are masked.
# The cloud kernel has virtio-fs (module virtiofs) but no 9p.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
OUTDIR=${1:-$TOP/build/cloud}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
# python3-cffi-backend: python3-cryptography (cloud-init's) depends on the
# virtual packages it provides, which debootstrap does not resolve.
INCLUDE=systemd,systemd-sysv,udev,dbus,kmod,iproute2,cloud-init,python3-cffi-backend,openssh-server,sudo
INCLUDE+=,linux-image-cloud-amd64,initramfs-tools
# [vm] guest-agent (issue 21): udev starts it when the port org.qemu.guest_agent.0 appears.
INCLUDE+=,qemu-guest-agent
# Units that only cost boot time in a throwaway VM (masked; missing ones too).
MASK="apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service fstrim.timer
      man-db.timer dpkg-db-backup.timer systemd-timesyncd.service getty@tty1.service"
# The disk: what the tree needs plus this much room for the guest's writes.
SLACK_MIB=512

log() { echo "cloud/build-image.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

mkdir -p "$OUTDIR"
OUTDIR=$(cd "$OUTDIR" && pwd)
IMG=$OUTDIR/debian12.img
recipe() { { cat "$HERE/build-image.sh"; echo "$MIRROR $SUITE"; } | sha256sum | cut -d' ' -f1; }
up_to_date() {
	[ -z "${FORCE:-}" ] && [ -s "$IMG" ] && [ -s "$OUTDIR/vmlinuz" ] && [ -s "$OUTDIR/initrd.img" ] &&
		[ -f "$OUTDIR/.recipe" ] && [ "$(cat "$OUTDIR/.recipe")" = "$(recipe)" ]
}
if up_to_date; then log "up to date ($IMG)"; exit 0; fi

# One build at a time (the plain and the ASan run, or two make checks).
exec 9> "$OUTDIR/.lock"
flock 9
if up_to_date; then log "up to date ($IMG), built meanwhile"; exit 0; fi

[ "$(id -u)" = 0 ] || die "needs root (debootstrap)"
for c in debootstrap mkfs.ext4 unshare flock; do
	command -v "$c" > /dev/null || die "$c is not installed (make deps)"
done
# (Through a proxy, debootstrap's own download says whether it works.)
if [ -z "${http_proxy:-}" ] &&
	! timeout 20 bash -c 'exec 3<>/dev/tcp/$0/80' "$(echo "$MIRROR" | sed -E 's|^[a-z]+://([^/:]+).*|\1|')" 2> /dev/null; then
	log "the mirror $MIRROR cannot be reached"
	exit 3
fi

# What a build killed outright left (under the lock, no build runs now).
rm -rf "$OUTDIR"/work.*
start=$SECONDS
work=$(mktemp -d "$OUTDIR/work.XXXXXX")
root=$work/root
# The namespaces took debootstrap's mounts with them; this is in case.
cleanup() {
	local m
	if [ -d "$root" ]; then
		for m in $(awk -v r="$root" 'index($2, r) == 1 { print $2 }' /proc/mounts | sort -r); do umount -l "$m"; done
	fi
	rm -rf "$work"
}
trap cleanup EXIT

# in_ns CMD...: CMD in a mount and PID namespace of its own (private
# propagation: nothing it mounts reaches the host; its processes die with
# it). Waited for in the background, so that a signal reaches the trap at
# once: killing unshare kills the namespace (--kill-child), which unshare
# itself would not do on SIGTERM or SIGINT (it ignores them).
ns_pid=
in_ns() {
	unshare --mount --propagation private --pid --fork --kill-child --mount-proc -- "$@" &
	ns_pid=$!
	wait "$ns_pid"
}
stop_ns() { [ -z "$ns_pid" ] || kill -KILL "$ns_pid" 2> /dev/null; }
trap 'stop_ns; exit 130' INT
trap 'stop_ns; exit 143' TERM
trap 'stop_ns; exit 129' HUP

mkdir -p "$OUTDIR/cache"
# Two stages, so that what the packages' scripts read is in place before they
# run: the initrd is made once, small; dpkg does not fsync (a throwaway
# tree: --force-unsafe-io); docs are not unpacked; no service is started.
log "debootstrap $SUITE from $MIRROR (this takes a few minutes)"
in_ns debootstrap --foreign --variant=minbase --include="$INCLUDE" --cache-dir="$OUTDIR/cache" \
	"$SUITE" "$root" "$MIRROR" > "$work/debootstrap.log" 2>&1 ||
	{ tail -30 "$work/debootstrap.log" >&2; die "debootstrap (first stage) failed (log above)"; }
log "first stage done after $((SECONDS - start)) s"

# ---- the guest's configuration ---------------------------------------------
mkdir -p "$root/etc/dpkg/dpkg.cfg.d" "$root/etc/initramfs-tools/conf.d" "$root/etc/cloud/cloud.cfg.d" "$root/usr/sbin"
cat > "$root/etc/fstab" << 'EOF'
/dev/vda / ext4 rw,errors=remount-ro 0 1
EOF
echo debian12 > "$root/etc/hostname"
printf '127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n' > "$root/etc/hosts"

cat > "$root/etc/cloud/cloud.cfg.d/90-kvmlaunch.cfg" << 'EOF'
# kvmlaunch's test image (tests/cloud/build-image.sh): the seed is a NoCloud
# ISO (label cidata); the network is rendered for systemd-networkd.
datasource_list: [NoCloud, None]
system_info:
  network:
    renderers: [networkd]
ssh_genkeytypes: [ed25519]
locale: C.UTF-8
EOF

# A VM without a NIC (or one whose DHCP is late) must not hold the boot for
# networkd-wait-online's 2 minutes: cloud-init's network stage waits on it.
mkdir -p "$root/etc/systemd/system/systemd-networkd-wait-online.service.d"
cat > "$root/etc/systemd/system/systemd-networkd-wait-online.service.d/kvmlaunch.conf" << 'EOF'
[Service]
ExecStart=
ExecStart=/lib/systemd/systemd-networkd-wait-online --any --timeout=20
EOF

# A smaller initrd (less to unpack under TCG): only what mounts /dev/vda.
cat > "$root/etc/initramfs-tools/conf.d/kvmlaunch" << 'EOF'
MODULES=list
COMPRESS=gzip
EOF
mkdir -p "$root/etc/initramfs-tools/hooks"
cat > "$root/etc/initramfs-tools/hooks/kvmlaunch" << 'EOF'
#!/bin/sh
# kvmlaunch's test image: the modules that mount root=/dev/vda, loaded at start.
[ "$1" = prereqs ] && exit 0
. /usr/share/initramfs-tools/hook-functions
force_load virtio_pci
force_load virtio_blk
force_load ext4
EOF
chmod 0755 "$root/etc/initramfs-tools/hooks/kvmlaunch"

# Docs, man pages and locales: not unpacked (and stripped below for what the
# first stage put there).
cat > "$root/etc/dpkg/dpkg.cfg.d/01-kvmlaunch-nodoc" << 'EOF'
path-exclude=/usr/share/doc/*
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/locale/*
path-include=/usr/share/locale/locale.alias
path-exclude=/usr/share/lintian/*
EOF
echo force-unsafe-io > "$root/etc/dpkg/dpkg.cfg.d/02-kvmlaunch-build"
printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"
chmod 0755 "$root/usr/sbin/policy-rc.d"

# The second stage, then the units: systemd-networkd on (cloud-init writes
# its .network files), multi-user as the default, the rest masked
# (systemctl works on the tree offline). In the namespaces: nothing stays
# mounted or running.
in_ns bash -c '
	set -e
	root=$1; shift
	mount -t proc proc "$root/proc"
	mount -t sysfs sys "$root/sys"
	mount --bind /dev "$root/dev"
	chroot "$root" /debootstrap/debootstrap --second-stage
	chroot "$root" systemctl enable systemd-networkd.service
	chroot "$root" systemctl set-default multi-user.target
	for u in "$@"; do chroot "$root" systemctl mask "$u"; done
' in_ns "$root" $MASK >> "$work/debootstrap.log" 2>&1 ||
	{ tail -30 "$work/debootstrap.log" >&2; die "debootstrap (second stage) failed (log above)"; }
log "second stage done after $((SECONDS - start)) s"
rm -f "$root/usr/sbin/policy-rc.d" "$root/etc/dpkg/dpkg.cfg.d/02-kvmlaunch-build"

# Made at first boot: each VM is a new machine, with its own host keys.
: > "$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id" "$root"/etc/ssh/ssh_host_*
find "$root/usr/share/doc" "$root/usr/share/man" "$root/usr/share/info" "$root/usr/share/lintian" \
	-mindepth 1 -delete 2> /dev/null || true
find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
	"$root"/var/log/*.log "$root"/var/log/apt/* "$root"/var/cache/debconf/*-old

kver=$(basename "$(ls -d "$root"/lib/modules/*)")
[ -f "$root/lib/modules/$kver/kernel/fs/fuse/virtiofs.ko" ] || die "the kernel $kver has no virtiofs module"
rm -f "$root/var/lib/initramfs-tools/$kver"*.old "$root/boot/initrd.img-$kver.old-dkms"

# ---- the disk ----------------------------------------------------------------
used_mib=$(du -sxm "$root" | cut -f1)
size_mib=$((used_mib + used_mib / 4 + SLACK_MIB))
rm -f "$IMG.new"
truncate -s "${size_mib}M" "$IMG.new"
mkfs.ext4 -q -F -L root -d "$root" "$IMG.new" || die "mkfs.ext4 -d failed"
cp "$root/boot/vmlinuz-$kver" "$OUTDIR/vmlinuz.new"
cp "$root/boot/initrd.img-$kver" "$OUTDIR/initrd.img.new"
chmod 0644 "$IMG.new" "$OUTDIR/vmlinuz.new" "$OUTDIR/initrd.img.new"
mv "$OUTDIR/vmlinuz.new" "$OUTDIR/vmlinuz"
mv "$OUTDIR/initrd.img.new" "$OUTDIR/initrd.img"
mv "$IMG.new" "$IMG"
chmod 0755 "$OUTDIR"

secs=$((SECONDS - start))
{
	echo "suite: $SUITE ($MIRROR)"
	echo "kernel: $kver"
	echo "cloud-init: $(cat "$root/usr/lib/python3/dist-packages/cloudinit/version.py" 2> /dev/null | sed -n 's/^__VERSION__ = "\(.*\)"/\1/p')"
	echo "packages: $(grep -c '^Package:' "$root/var/lib/dpkg/status")"
	echo "tree: $used_mib MiB; image: $size_mib MiB apparent, $(du -m "$IMG" | cut -f1) MiB on disk;" \
		"vmlinuz $(du -k "$OUTDIR/vmlinuz" | cut -f1) KiB, initrd $(du -k "$OUTDIR/initrd.img" | cut -f1) KiB"
	echo "built in: $secs s"
} > "$OUTDIR/image.txt"
recipe > "$OUTDIR/.recipe"
sed 's/^/cloud\/build-image.sh: /' "$OUTDIR/image.txt" >&2
