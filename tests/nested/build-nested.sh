#!/usr/bin/env bash
# Builds the nested host of the passthrough test (tests/nested/test_passthrough.sh)
# under OUTDIR (default build/nested), once, reused while its inputs match:
#   OUTDIR/guest/      the test guest (tests/guest/build.sh) with the vfio
#                      modules; the Debian cloud kernel has INTEL_IOMMU=y
#                      and VFIO_PCI=m, and ext4 built in
#   OUTDIR/nested.img  an ext4 image (mkfs.ext4 -d: no loop mount) with what
#                      the nested host runs: this QEMU with its libraries
#                      and firmware, the static kvmlaunch, busybox, and
#                      inner.sh, the test's part inside the nested host
# Usage: tests/nested/build-nested.sh KVMLAUNCH_STATIC [OUTDIR]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
kl=$(realpath "$1")
out=${2:-$top/build/nested}
mkdir -p "$out"
out=$(cd "$out" && pwd)
qemu=$(command -v qemu-system-x86_64)

# The guest, with the vfio modules (its kernel cache shared with tests/guest/out).
if [ -d "$top/tests/guest/out/cache" ] && [ ! -d "$out/guest/cache" ]; then
    mkdir -p "$out/guest" && cp -a "$top/tests/guest/out/cache" "$out/guest/"
fi
EXTRA_MODULES="vfio_pci vfio_iommu_type1" "$top/tests/guest/build.sh" "$out/guest" >&2

# The image: rebuilt when one of its inputs changed.
stamp=$( (sha256sum "$kl" "$qemu" /usr/lib/x86_64-linux-gnu/qemu/accel-tcg-x86_64.so /bin/busybox "$here/inner.sh" "$0"; dpkg-query -W qemu-system-x86) | sha256sum | cut -c1-16)
if [ -f "$out/nested.img" ] && [ "$(cat "$out/nested.txt" 2>/dev/null)" = "$stamp" ]; then
    echo "build-nested.sh: $out/nested.img is current" >&2
    exit 0
fi
stage=$(mktemp -d "$out/stage.XXXXXX")
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin" "$stage/qemu/lib"
cp "$kl" "$stage/bin/kvmlaunch"
cp /bin/busybox "$stage/bin/busybox"
cp "$here/inner.sh" "$stage/inner.sh"
cp "$qemu" "$stage/qemu/qemu-system-x86_64"
# Its libraries and loader, as this host resolves them.
ldd "$qemu" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | while read -r lib; do
    cp -L "$lib" "$stage/qemu/lib/"
done
cp -rL /usr/share/qemu "$stage/qemu/share"
# Debian keeps SeaBIOS apart (QEMU also looks there; -L is the one place here).
cp -L /usr/share/seabios/*.bin "$stage/qemu/share/"
# TCG is a module in Debian's QEMU; without KVM in the nested host it is the accelerator.
mkdir -p "$stage/qemu/modules"
cp /usr/lib/x86_64-linux-gnu/qemu/accel-tcg-x86_64.so "$stage/qemu/modules/"
# QEMU through its own loader and libraries, with its firmware: what
# [vm] qemu names inside the nested host.
cat > "$stage/qemu/qemu" <<'WRAP'
#!/bin/sh
d=/nested/qemu
export QEMU_MODULE_DIR=$d/modules
exec $d/lib/ld-linux-x86-64.so.2 --library-path $d/lib $d/qemu-system-x86_64 -L $d/share "$@"
WRAP
chmod 0755 "$stage/qemu/qemu" "$stage/inner.sh"
size=$(( $(du -sm "$stage" | cut -f1) + 32 ))
rm -f "$out/nested.img.tmp"
truncate -s "${size}M" "$out/nested.img.tmp"
mkfs.ext4 -q -F -L nested -d "$stage" "$out/nested.img.tmp"
mv "$out/nested.img.tmp" "$out/nested.img"
echo "$stamp" > "$out/nested.txt"
echo "build-nested.sh: built $out/nested.img (${size}M)" >&2
