#!/usr/bin/env bash
# The disks of tests/cli/test_uefi.sh's Secure Boot cases, built without
# root or loop mounts (sfdisk, mkfs.vfat, mtools):
#   OUTDIR/signed.img    GPT with one EFI system partition holding Debian's
#                        signed chain: shimx64.efi.signed as
#                        \EFI\BOOT\BOOTX64.EFI, grubx64.efi.signed beside it
#                        (shim loads it from its own directory), the grub.cfg
#                        that signed grub looks for in \EFI\debian\, and
#                        GUESTDIR's kernel (Debian's signed generic one) and
#                        initrd
#   OUTDIR/unsigned.img  the same with shim's signature taken off, so that
#                        Secure Boot must refuse BOOTX64.EFI (without
#                        Secure Boot it boots as signed.img does)
# Usage: tests/uefi/build-esp.sh OUTDIR GUESTDIR
# The packages (shim-signed, grub-efi-amd64-signed) are downloaded into
# OUTDIR/cache and unpacked there, never installed: their scripts would
# install a boot loader on the host. Rebuilt only when this script, the
# guest or the packages change (OUTDIR/.stamp).
set -euo pipefail
OUTDIR=$1 GUESTDIR=$2
mkdir -p "$OUTDIR/cache"
CACHE=$(cd "$OUTDIR/cache" && pwd)
log() { echo "uefi/build-esp.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }
for c in sfdisk mkfs.vfat mcopy mmd python3; do command -v "$c" > /dev/null || die "$c is not installed"; done

download() { # PKG: its .deb in $CACHE (kept)
	ls "$CACHE/$1"_*.deb > /dev/null 2>&1 && return 0
	local d
	d=$(mktemp -d) # apt's _apt sandbox user writes it
	if id _apt > /dev/null 2>&1 && [ "$(id -u)" = 0 ]; then chown _apt "$d"; fi
	(cd "$d" && apt-get -q download "$1" > /dev/null) || { rm -rf "$d"; return 1; }
	mv "$d/$1"_*.deb "$CACHE/" && rm -rf "$d"
}
for p in shim-signed grub-efi-amd64-signed; do download "$p" || die "apt-get download $p failed"; done

recipe() {
	{ cat "$0" "$GUESTDIR/.stamp" 2> /dev/null; ls "$CACHE"; } | sha256sum | cut -d' ' -f1
}
if [ -s "$OUTDIR/signed.img" ] && [ -s "$OUTDIR/unsigned.img" ] && [ "$(cat "$OUTDIR/.stamp" 2> /dev/null)" = "$(recipe)" ]; then
	exit 0
fi

TMP=$(mktemp -d "$OUTDIR/.tmp.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
for p in shim-signed grub-efi-amd64-signed; do dpkg-deb -x "$(ls -t "$CACHE/$p"_*.deb | head -n1)" "$TMP/x"; done
shim=$TMP/x/usr/lib/shim/shimx64.efi.signed
grub=$TMP/x/usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed
[ -f "$shim" ] || die "no shimx64.efi.signed in shim-signed"
[ -f "$grub" ] || die "no grubx64.efi.signed in grub-efi-amd64-signed"

# shim without its Authenticode signature: the PE's certificate table
# (data directory 4) emptied and the signature cut off the end.
python3 - "$shim" "$TMP/shim-unsigned.efi" <<'PY'
import struct, sys
b = bytearray(open(sys.argv[1], 'rb').read())
pe = struct.unpack_from('<I', b, 0x3c)[0]
assert b[pe:pe + 4] == b'PE\0\0'
opt = pe + 24
assert struct.unpack_from('<H', b, opt)[0] == 0x20b  # PE32+
sec = opt + 112 + 4 * 8
off, size = struct.unpack_from('<II', b, sec)
assert off and size, 'shim is not signed'
struct.pack_into('<II', b, sec, 0, 0)
open(sys.argv[2], 'wb').write(bytes(b[:off]))
PY

cat > "$TMP/grub.cfg" <<'CFG'
set timeout=0
linux /vmlinuz console=ttyS0 quiet kl.efi=1
initrd /initrd.img
boot
CFG

# disk IMG BOOTX64: a 64 MiB GPT disk, its ESP from 1 MiB to the end.
disk() {
	local img=$1 fat=$TMP/fat.img
	rm -f "$fat"
	mkfs.vfat -C -n KLESP "$fat" $((62 * 1024)) > /dev/null
	mmd -i "$fat" ::/EFI ::/EFI/BOOT ::/EFI/debian
	mcopy -i "$fat" "$2" ::/EFI/BOOT/BOOTX64.EFI
	mcopy -i "$fat" "$grub" ::/EFI/BOOT/grubx64.efi
	mcopy -i "$fat" "$TMP/grub.cfg" ::/EFI/debian/grub.cfg
	mcopy -i "$fat" "$GUESTDIR/vmlinuz" ::/vmlinuz
	mcopy -i "$fat" "$GUESTDIR/initrd.img" ::/initrd.img
	truncate -s 64M "$TMP/disk.img"
	printf 'label: gpt\nstart=2048, size=%d, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name="ESP"\n' $((62 * 2048)) |
		sfdisk -q "$TMP/disk.img"
	dd if="$fat" of="$TMP/disk.img" bs=1M seek=1 conv=notrunc status=none
	mv "$TMP/disk.img" "$img"
}
disk "$OUTDIR/signed.img" "$shim"
disk "$OUTDIR/unsigned.img" "$TMP/shim-unsigned.efi"
recipe > "$OUTDIR/.stamp"
log "built $OUTDIR/signed.img and unsigned.img"
