#!/usr/bin/env bash
# PCI passthrough for real, in a nested host (issue 19): QEMU under TCG
# with q35, an emulated Intel IOMMU with interrupt remapping, and a spare
# virtio-net behind its own root port. Inside, the test guest (the Debian
# cloud kernel: INTEL_IOMMU=y, vfio-pci as a module) runs tests/nested/
# inner.sh from a disk that brings this host's QEMU and the static
# kvmlaunch (build-nested.sh). There kvmlaunch starts a VM with the device
# as [hostdev]: the inner QEMU shows it in query-pci, runs as nobody and
# holds only its group's /dev/vfio node; the device goes back to its
# driver after a stop, and after kill -9 of kvmlaunch and `cleanup`; a
# missing device and groups the host uses are refused with exit 2. The
# inner VM boots no guest (SeaBIOS, nothing to boot): the query and a
# stop are the test. Each "NESTED: ok|FAIL" line inside is a check here.
set -u
. "$(dirname "$0")/../cli/lib.sh"
need_root "the fixture's image is made with mkfs.ext4 -d as root"
need_cmd qemu-system-x86_64 mkfs.ext4 busybox
asan_build && skip_all "the nested host runs the static build: once, in the plain build"
static=$top/build/static/kvmlaunch
[ -x "$static" ] || skip_all "no static build ($static: make build/static/kvmlaunch)"

make_tmp
fix=$top/build/nested
"$top/tests/nested/build-nested.sh" "$static" "$fix" > "$tmp/build.log" 2>&1 || { cat "$tmp/build.log"; bad "building the nested host"; finish; }

start=$SECONDS
timeout 420 qemu-system-x86_64 -machine q35,accel=tcg -m 1G -smp 2 -nographic -no-reboot -nodefaults \
    -serial "file:$tmp/console.log" \
    -device intel-iommu,intremap=on,caching-mode=on \
    -kernel "$fix/guest/vmlinuz" -initrd "$fix/guest/initrd.img" \
    -append "console=ttyS0 intel_iommu=on quiet panic=-1 kl.run=vda" \
    -drive "file=$fix/nested.img,if=none,id=nested,format=raw,readonly=on" -device virtio-blk-pci,drive=nested \
    -device pcie-root-port,id=rp1,chassis=1 \
    -netdev user,id=spare,restrict=on -device virtio-net-pci,bus=rp1,netdev=spare,romfile= \
    > "$tmp/qemu.out" 2>&1
rc=$?
echo "the nested host ran for $((SECONDS - start)) s (exit $rc)"
grep -q '^NESTED: done' "$tmp/console.log" || { bad "the nested host did not finish (exit $rc)"; tail -40 "$tmp/console.log"; cat "$tmp/qemu.out"; }
while IFS= read -r line; do
    line=${line%$'\r'}
    case "$line" in
    "NESTED: ok "*) ok "${line#NESTED: ok }" ;;
    "NESTED: FAIL "*) bad "${line#NESTED: FAIL }" ;;
    "NESTED: "*) echo "  ${line#NESTED: }" ;;
    esac
done < "$tmp/console.log"
n=$(grep -c '^NESTED: ok' "$tmp/console.log")
[ "$n" -ge 17 ] && ok "$n checks passed inside" || bad "only $n checks passed inside (17 expected)"
finish
