#!/usr/bin/env bash
# Build the kvmlaunch test guest from Debian packages:
#   OUTDIR/vmlinuz     Debian cloud kernel (linux-image-*-cloud-amd64)
#   OUTDIR/initrd.img  gzip'd newc cpio: static busybox, /init, virtio modules
#   OUTDIR/kernel.txt  kernel package name and version that was used
# Usage: tests/guest/build.sh [OUTDIR]        (default: tests/guest/out)
# Env:   FORCE=1            rebuild even if the outputs look up to date
#        KERNEL_PKG=name    use this linux-image-* package instead of the one
#                           linux-image-cloud-amd64 currently depends on
#        EXTRA_MODULES="a b" additional kernel modules to put in the initrd
# Downloads are cached in OUTDIR/cache. See README.md.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUTDIR=${1:-$HERE/out}
mkdir -p "$OUTDIR"
OUTDIR=$(cd "$OUTDIR" && pwd)
CACHE=$OUTDIR/cache

KERNEL_META=linux-image-cloud-amd64
# Loaded by /init in dependency order (deps are added automatically).
# button + evdev make the ACPI power button visible to busybox acpid;
# pvpanic_mmio drives the pvpanic device kvmlaunch always adds.
MODULES="virtio_pci virtio_blk virtio_net virtio_balloon button evdev pvpanic_mmio ${EXTRA_MODULES:-}"
APPLETS="sh mount umount cat echo sleep insmod lsmod poweroff reboot halt acpid
         nproc ls readlink kill dmesg mkdir wc hwclock setsid cttyhack yes head stty ip nc mknod tail printf"

# isa-debug-exit (see isa-debug-exit.S): a 203-byte static ELF, because the
# cloud kernel has no /dev/port (CONFIG_DEVPORT unset).
IDE_ELF_HDR="7f454c4602010100000000000000000002003e00010000007800400000000000\
4000000000000000000000000000000000000000400038000100000000000000\
0100000005000000000000000000000000004000000000000000400000000000\
cb00000000000000cb000000000000000010000000000000"
IDE_CODE="488b7424104885f6743d31db0fb60684c0741283e83083f809772c6bdb0a01c3\
48ffc6ebe7b8ad000000bff4000000be04000000ba010000000f0585c0750889d8\
baf4000000eeb83c000000bf010000000f05"

log() { echo "guest/build.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

as_root() {
	if [ "$(id -u)" = 0 ]; then "$@"
	elif command -v sudo >/dev/null; then sudo "$@"
	else die "need root to run: $*"
	fi
}

# ---- up to date? -----------------------------------------------------------
inputs_hash() {
	{
		cat "$HERE/build.sh" "$HERE/init" "$HERE/memprobe.c"
		echo "$MODULES ${KERNEL_PKG:-}"
		if [ -f /bin/busybox ]; then sha256sum </bin/busybox; fi
	} | sha256sum | cut -d' ' -f1
}
STAMP=$OUTDIR/.stamp
if [ -z "${FORCE:-}" ] && [ -s "$OUTDIR/vmlinuz" ] && [ -s "$OUTDIR/initrd.img" ] &&
	[ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$(inputs_hash)" ]; then
	log "up to date ($OUTDIR)"
	exit 0
fi

# ---- host tools ------------------------------------------------------------
missing=()
dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed' ||
	missing+=(busybox-static)
command -v cpio >/dev/null || missing+=(cpio)
# memprobe is a static C program: gcc, and libc.a from libc6-dev.
command -v gcc >/dev/null || missing+=(gcc)
[ -f /usr/lib/x86_64-linux-gnu/libc.a ] || missing+=(libc6-dev)
if [ ${#missing[@]} -gt 0 ]; then
	log "installing ${missing[*]}"
	as_root apt-get update -q
	as_root env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
[ -x /bin/busybox ] || die "/bin/busybox missing"

TMP=$(mktemp -d "$OUTDIR/.tmp.XXXXXX")
DLTMP=
cleanup() { rm -rf "$TMP" ${DLTMP:+"$DLTMP"}; }
trap cleanup EXIT

# ---- kernel package --------------------------------------------------------
resolve_kpkg() {
	apt-cache depends "$KERNEL_META" 2>/dev/null |
		awk '$1 ~ /Depends:$/ && $2 ~ /^linux-image-.*-cloud-amd64$/ { print $2; exit }'
}
download() { # pkg -> deb in $CACHE
	DLTMP=$(mktemp -d)  # under /tmp so apt's _apt sandbox user can write it
	if id _apt >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then chown _apt "$DLTMP"; fi
	(cd "$DLTMP" && apt-get -q download "$1") || return 1
	mkdir -p "$CACHE"
	mv "$DLTMP"/"$1"_*.deb "$CACHE"/
	rm -rf "$DLTMP"; DLTMP=
}

kpkg=${KERNEL_PKG:-}
if [ -z "$kpkg" ]; then
	kpkg=$(resolve_kpkg || true)
	if [ -z "$kpkg" ] && ! ls "$CACHE"/linux-image-*-cloud-amd64_*.deb >/dev/null 2>&1; then
		log "no apt lists for $KERNEL_META, running apt-get update"
		as_root apt-get update -q
		kpkg=$(resolve_kpkg || true)
	fi
fi
deb=
if [ -n "$kpkg" ]; then
	deb=$(ls -t "$CACHE/${kpkg}"_*.deb 2>/dev/null | head -n1 || true)
	if [ -z "$deb" ]; then
		log "downloading $kpkg"
		if ! download "$kpkg"; then
			log "download failed, retrying after apt-get update"
			as_root apt-get update -q
			download "$kpkg" || die "apt-get download $kpkg failed"
		fi
		deb=$(ls -t "$CACHE/${kpkg}"_*.deb | head -n1)
		# drop other cached kernels
		for f in "$CACHE"/linux-image-*.deb; do
			[ "$f" = "$deb" ] || rm -f "$f"
		done
	fi
else
	# offline and no apt lists: use whatever is cached
	deb=$(ls -t "$CACHE"/linux-image-*-cloud-amd64_*.deb 2>/dev/null | head -n1 || true)
	[ -n "$deb" ] || die "cannot resolve $KERNEL_META (apt-cache depends) and nothing cached"
	log "using cached $(basename "$deb")"
fi

log "extracting $(basename "$deb")"
dpkg-deb -x "$deb" "$TMP/k"
vmlinuz=$(ls "$TMP"/k/boot/vmlinuz-* | head -n1)
kver=${vmlinuz##*/vmlinuz-}
moddir=$TMP/k/lib/modules/$kver
[ -d "$moddir" ] || die "no $moddir in $deb"

# ---- modules (resolve deps from each .ko's .modinfo "depends=") ------------
declare -A KO=() BUILTIN=() SEEN=()
while IFS= read -r f; do
	n=${f##*/}; n=${n%.ko}; KO[${n//-/_}]=$f
done < <(find "$moddir" -name '*.ko')
while IFS= read -r f; do
	n=${f##*/}; n=${n%.ko}; BUILTIN[${n//-/_}]=1
done < "$moddir/modules.builtin"
ORDER=()
add_mod() {
	local m=${1//-/_} f deps d
	[ -z "${SEEN[$m]:-}" ] || return 0
	SEEN[$m]=1
	[ -z "${BUILTIN[$m]:-}" ] || return 0
	f=${KO[$m]:-}
	[ -n "$f" ] || die "module $m neither built in nor in $(basename "$deb")"
	deps=$(tr '\0' '\n' <"$f" | sed -n 's/^depends=//p')
	deps=${deps%%$'\n'*}
	for d in ${deps//,/ }; do add_mod "$d"; done
	ORDER+=("$m")
}
for m in $MODULES; do add_mod "$m"; done

# ---- initramfs tree --------------------------------------------------------
R=$TMP/root
mkdir -p "$R"/{bin,dev,proc,sys,run,tmp,lib/modules,etc/acpi/PWRF}
cp /bin/busybox "$R/bin/busybox"
for a in $APPLETS; do ln -s busybox "$R/bin/$a"; done
# shellcheck disable=SC2001
printf '%b' "$(sed 's/../\\x&/g' <<<"$IDE_ELF_HDR$IDE_CODE")" >"$R/bin/isa-debug-exit"
[ "$(stat -c %s "$R/bin/isa-debug-exit")" = 203 ] || die "isa-debug-exit ELF has wrong size"
chmod 755 "$R/bin/isa-debug-exit"
# The memory probe of bench/run (kl.memprobe=MIB); static, stripped.
gcc -std=c11 -O2 -Wall -Wextra -Werror -static -s -o "$R/bin/memprobe" "$HERE/memprobe.c" ||
	die "cannot build memprobe"
install -m 755 "$HERE/init" "$R/init"
printf '#!/bin/sh\n# ACPI power button (busybox acpid): ask /init to shut down\nkill -USR2 1\n' \
	>"$R/etc/acpi/PWRF/00000080"
chmod 755 "$R/etc/acpi/PWRF/00000080"
: >"$R/lib/modules/load.list"
for m in "${ORDER[@]}"; do
	cp "${KO[$m]}" "$R/lib/modules/$m.ko"
	echo "$m" >>"$R/lib/modules/load.list"
done

# newc entry written by hand so /dev/console exists without mknod (no root
# needed); the kernel opens it for /init's stdin/stdout/stderr.
cpio_entry() { # name mode rdevmajor rdevminor
	local ns=$((${#1} + 1))
	printf '070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X' \
		$((0x7fff0000 + ns)) "$2" 0 0 1 0 0 0 0 "$3" "$4" "$ns" 0
	printf '%s\0' "$1"
	head -c $(((4 - (110 + ns) % 4) % 4)) /dev/zero
}
find "$R" -exec touch -h -d @0 {} +   # reproducible cpio (mtimes)
{
	(cd "$R" && find . -mindepth 1 | LC_ALL=C sort |
		cpio -o -H newc -R 0:0 --reproducible --quiet)
	cpio_entry dev/console $((0020600)) 5 1
	cpio_entry 'TRAILER!!!' 0 0 0
} | gzip -9n >"$TMP/initrd.img"

cp "$vmlinuz" "$TMP/vmlinuz"
kdebver=$(dpkg-deb -f "$deb" Version)
kdebpkg=$(dpkg-deb -f "$deb" Package)
printf 'package=%s\nversion=%s\nkernel=%s\nmodules=%s\n' \
	"$kdebpkg" "$kdebver" "$kver" "${ORDER[*]}" >"$TMP/kernel.txt"
mv -f "$TMP/vmlinuz" "$OUTDIR/vmlinuz"
mv -f "$TMP/initrd.img" "$OUTDIR/initrd.img"
mv -f "$TMP/kernel.txt" "$OUTDIR/kernel.txt"
inputs_hash >"$STAMP"
log "built $OUTDIR/vmlinuz ($kdebpkg $kdebver) and initrd.img ($(stat -c %s "$OUTDIR/initrd.img") bytes)"
