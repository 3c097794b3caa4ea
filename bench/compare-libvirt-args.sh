#!/usr/bin/env bash
# bench/compare-libvirt-args.sh: kvmlaunch's QEMU command line next to
# libvirt's for the same tuned VM (docs/QEMU-ARGS.md), option by option.
# kvmlaunch's side: `kvmlaunch --dry-run` of tests/golden/libvirt-tuned.ini
# (its disk and bridge may be missing here: --dry-run prints the line all
# the same). libvirt's: `virsh domxml-to-native qemu-argv` of the domain
# below, which needs libvirtd running (bench/run installs and starts it).
# Where libvirt is absent it says so and exits 77 (skipped). Changes
# nothing: domxml-to-native defines no domain.
# Usage: bench/compare-libvirt-args.sh [KVMLAUNCH]   (default ./kvmlaunch)
set -u
cd "$(dirname "$0")/.." || exit 1
bin=${1:-./kvmlaunch}
ini=tests/golden/libvirt-tuned.ini
if ! command -v virsh > /dev/null; then
    echo "SKIP: libvirt is not installed (virsh missing); bench/run installs libvirt-daemon-system and libvirt-clients"
    exit 77
fi
if ! virsh -c qemu:///system version > /dev/null 2>&1; then
    echo "SKIP: libvirtd does not answer on qemu:///system (bench/run starts it)"
    exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/tuned.xml" << 'XML'
<domain type='kvm'>
  <name>tuned</name>
  <memory unit='GiB'>4</memory>
  <memoryBacking><source type='memfd'/><access mode='private'/></memoryBacking>
  <vcpu placement='static'>4</vcpu>
  <iothreads>1</iothreads>
  <cputune>
    <vcpupin vcpu='0' cpuset='2'/><vcpupin vcpu='1' cpuset='3'/>
    <vcpupin vcpu='2' cpuset='4'/><vcpupin vcpu='3' cpuset='5'/>
    <emulatorpin cpuset='0'/><iothreadpin iothread='1' cpuset='1'/>
  </cputune>
  <numatune><memory mode='strict' nodeset='0'/></numatune>
  <os><type arch='x86_64' machine='q35'>hvm</type><boot dev='hd'/></os>
  <features><acpi/><apic/></features>
  <cpu mode='host-passthrough'/>
  <clock offset='utc'>
    <timer name='rtc' tickpolicy='catchup'/><timer name='pit' tickpolicy='delay'/><timer name='hpet' present='no'/>
  </clock>
  <on_poweroff>destroy</on_poweroff>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2' cache='none' io='native' iothread='1'/>
      <source file='/var/lib/kvmlaunch/tuned.qcow2'/><target dev='vda' bus='virtio'/>
    </disk>
    <interface type='bridge'>
      <source bridge='br0'/><model type='virtio'/><driver name='vhost' queues='4'/>
    </interface>
    <channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>
    <memballoon model='virtio' freePageReporting='on'/>
  </devices>
</domain>
XML
virsh -c qemu:///system domxml-to-native qemu-argv "$tmp/tuned.xml" > "$tmp/libvirt.txt" 2> "$tmp/virsh.err" ||
    { echo "FAIL: virsh domxml-to-native: $(cat "$tmp/virsh.err")"; exit 1; }
"$bin" --dry-run "$ini" > "$tmp/kvmlaunch.txt" 2> /dev/null
# One option a line for both.
tr -s ' ' '\n' < "$tmp/libvirt.txt" | sed -n '/^-/{N;s/\n/ /;p}' | sort > "$tmp/libvirt.opts"
sed -n 's/^ *\(-[a-z-]*\) \(.*\) \\$/\1 \2/p; s/^ *\(-[a-z-]*\)  *\\$/\1/p' "$tmp/kvmlaunch.txt" | sort > "$tmp/kvmlaunch.opts"
echo "== libvirt $(virsh -c qemu:///system version --daemon 2> /dev/null | sed -n 's/.*libvirt \([0-9.]*\).*/\1/p' | head -1) vs kvmlaunch ($ini)"
for o in -machine dump-guest-core hpet -rtc kvm-pit -boot -cpu -smp -m -numa -sandbox org.qemu.guest_agent.0 free-page-reporting; do
    l=$(grep -F -- "$o" "$tmp/libvirt.opts" | head -1)
    k=$(grep -F -- "$o" "$tmp/kvmlaunch.opts" | head -1)
    printf '%s\n  libvirt:   %s\n  kvmlaunch: %s\n' "$o" "${l:-(none)}" "${k:-(none)}"
done
echo "== only libvirt:"; cut -d' ' -f1 "$tmp/libvirt.opts" | sort -u | comm -23 - <(cut -d' ' -f1 "$tmp/kvmlaunch.opts" | sort -u)
echo "== only kvmlaunch:"; cut -d' ' -f1 "$tmp/kvmlaunch.opts" | sort -u | comm -13 <(cut -d' ' -f1 "$tmp/libvirt.opts" | sort -u) -
