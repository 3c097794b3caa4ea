bb=/nested/bin/busybox
mkdir -p /tmp/bb && $bb --install -s /tmp/bb && export PATH=/tmp/bb:/bin
dmesg | grep -iE 'DMAR|IOMMU|remap' | head -5
ls /sys/kernel/iommu_groups/
for g in /sys/kernel/iommu_groups/*; do echo "group ${g##*/}: $(ls $g/devices)"; done
for d in /sys/bus/pci/devices/*; do echo "${d##*/} $(cat $d/vendor):$(cat $d/device) class=$(cat $d/class) drv=$(basename $(readlink $d/driver) 2>/dev/null)"; done
dev=$(for d in /sys/bus/pci/devices/*; do [ "$(cat $d/device)" = 0x1041 ] && echo ${d##*/}; done)
echo dev=$dev
cat /sys/class/iommu/*/intel-iommu/ecap
echo vfio-pci > /sys/bus/pci/devices/$dev/driver_override
echo $dev > /sys/bus/pci/devices/$dev/driver/unbind
echo $dev > /sys/bus/pci/drivers_probe
echo "now: $(readlink /sys/bus/pci/devices/$dev/driver)"
ls -l /dev/vfio
g=$(basename $(readlink /sys/bus/pci/devices/$dev/iommu_group))
timeout 120 /nested/qemu/qemu -machine q35,accel=tcg -m 64M -S -nographic -nodefaults -qmp stdio -device vfio-pci,host=$dev <<Q
{"execute":"qmp_capabilities"}
{"execute":"query-pci"}
{"execute":"quit"}
Q
echo qemu rc=$?
