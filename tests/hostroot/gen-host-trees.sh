#!/usr/bin/env bash
# Writes the fake host trees host-2x8/ and host-numa4/ (README.md says what
# each holds). They are committed; rerun this after changing it and review
# the diff. Values are what the kernel prints, trailing newlines included.
set -eu
cd "$(dirname "$0")"

w() { mkdir -p "$(dirname "$1")"; printf '%b' "$2" > "$1"; }

# cpuinfo BLOCKS: one block per CPU (the fields kvmlaunch and people read).
cpuinfo() { # ROOT NCPU MODEL FLAGS CORES_PER_PKG THREADS
    local root=$1 n=$2 model=$3 flags=$4 cpp=$5 thr=$6 i out=""
    for ((i = 0; i < n; i++)); do
        out+="processor\t: $i\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 85\nmodel name\t: $model\n"
        out+="physical id\t: $((i / (cpp * thr)))\nsiblings\t: $((cpp * thr))\ncpu cores\t: $cpp\nflags\t\t: $flags\n\n"
    done
    w "$root/proc/cpuinfo" "$out"
}

node_meminfo() { # FILE NODE TOTAL_KB FREE_KB HP_TOTAL HP_FREE
    local f=$1 n=$2
    w "$f" "Node $n MemTotal:       $3 kB\nNode $n MemFree:        $4 kB\nNode $n MemUsed:        $(($3 - $4)) kB\nNode $n Active:          1525336 kB\nNode $n AnonHugePages:    268288 kB\nNode $n HugePages_Total:  $5\nNode $n HugePages_Free:   $6\nNode $n HugePages_Surp:      0\n"
}

pool() { # DIR TOTAL FREE
    w "$1/nr_hugepages" "$2\n"; w "$1/free_hugepages" "$3\n"; w "$1/surplus_hugepages" "0\n"
}

common_mm() { # ROOT HP2M_TOTAL HP2M_FREE HP1G_TOTAL HP1G_FREE
    local r=$1
    w "$r/sys/kernel/mm/transparent_hugepage/enabled" "always [madvise] never\n"
    w "$r/sys/kernel/mm/transparent_hugepage/defrag" "always defer defer+madvise [madvise] never\n"
    w "$r/sys/kernel/mm/ksm/run" "0\n"; w "$r/sys/kernel/mm/ksm/merge_across_nodes" "1\n"
    w "$r/sys/kernel/mm/ksm/pages_to_scan" "100\n"; w "$r/sys/kernel/mm/ksm/sleep_millisecs" "20\n"
    w "$r/sys/kernel/mm/ksm/pages_shared" "0\n"; w "$r/sys/kernel/mm/ksm/pages_sharing" "0\n"
    w "$r/proc/sys/vm/zone_reclaim_mode" "0\n"; w "$r/proc/sys/vm/nr_hugepages" "$2\n"
    local s
    for s in "2048kB $2 $3" "1048576kB $4 $5"; do
        set -- $s
        local d=$r/sys/kernel/mm/hugepages/hugepages-$1
        pool "$d" "$2" "$3"; w "$d/resv_hugepages" "0\n"; w "$d/nr_overcommit_hugepages" "0\n"; w "$d/nr_hugepages_mempolicy" "$2\n"
    done
    w "$r/dev/kvm" ""; w "$r/dev/vhost-net" ""; w "$r/dev/net/tun" ""
}

cpu_files() { # ROOT CPU PACKAGE CORE SIBLINGS
    local t=$1/sys/devices/system/cpu/cpu$2/topology
    w "$t/physical_package_id" "$3\n"; w "$t/core_id" "$4\n"
    w "$t/thread_siblings_list" "$5\n"; w "$t/core_cpus_list" "$5\n"
}

# ---- host-2x8: two sockets, one node each, 4 cores x 2 threads per node
# (Intel numbering: CPU i and i+4 are siblings within a node), cgroup v2
# with cpuset enabled, one NIC with MSI-X, an SSD and a disk.
gen_2x8() {
    local r=host-2x8 i
    rm -rf "$r"
    cpuinfo "$r" 16 "Intel(R) Xeon(R) Gold 6130 CPU @ 2.10GHz" "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ss ht syscall nx pdpe1gb rdtscp lm constant_tsc vmx ssse3 fma cx16 sse4_1 sse4_2 x2apic popcnt aes xsave avx f16c rdrand hypervisor lahf_lm abm ept vpid avx2 avx512f" 4 2
    w "$r/sys/devices/system/cpu/online" "0-15\n"; w "$r/sys/devices/system/cpu/possible" "0-15\n"; w "$r/sys/devices/system/cpu/present" "0-15\n"
    for ((i = 0; i < 16; i++)); do
        local base=$(( (i / 8) * 8 )) core=$(( i % 4 )) lo
        lo=$(( base + (i % 8) % 4 ))
        cpu_files "$r" $i $((i / 8)) $core "$lo,$((lo + 4))"
    done
    local n=$r/sys/devices/system/node
    w "$n/online" "0-1\n"; w "$n/possible" "0-1\n"; w "$n/has_cpu" "0-1\n"; w "$n/has_memory" "0-1\n"; w "$n/has_normal_memory" "0-1\n"
    w "$n/node0/cpulist" "0-7\n"; w "$n/node1/cpulist" "8-15\n"
    w "$n/node0/distance" "10 21\n"; w "$n/node1/distance" "21 10\n"
    node_meminfo "$n/node0/meminfo" 0 16303908 12582912 1024 1024
    node_meminfo "$n/node1/meminfo" 1 16515072 14680064 0 0
    pool "$n/node0/hugepages/hugepages-2048kB" 1024 1024; pool "$n/node0/hugepages/hugepages-1048576kB" 0 0
    pool "$n/node1/hugepages/hugepages-2048kB" 0 0; pool "$n/node1/hugepages/hugepages-1048576kB" 4 4
    common_mm "$r" 1024 1024 4 4
    w "$r/proc/meminfo" "MemTotal:       32818980 kB\nMemFree:        27262976 kB\nMemAvailable:   28311552 kB\nHugePages_Total:    1024\nHugePages_Free:     1024\nHugePages_Rsvd:        0\nHugePages_Surp:        0\nHugepagesize:       2048 kB\nHugetlb:         6291456 kB\n"
    w "$r/proc/mounts" "sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0\nproc /proc proc rw,nosuid,nodev,noexec,relatime 0 0\n/dev/sda1 / ext4 rw,relatime 0 0\ncgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec,relatime,nsdelegate,memory_recursiveprot 0 0\nhugetlbfs /dev/hugepages hugetlbfs rw,nosuid,nodev,relatime,pagesize=2M 0 0\nhugetlbfs /dev/hugepages1G hugetlbfs rw,relatime,pagesize=1024M 0 0\n"
    local cg=$r/sys/fs/cgroup
    w "$cg/cgroup.controllers" "cpuset cpu io memory hugetlb pids rdma misc\n"; w "$cg/cgroup.subtree_control" "cpuset cpu io memory pids\n"
    w "$cg/cpuset.cpus.effective" "0-15\n"; w "$cg/cpuset.mems.effective" "0-1\n"; w "$cg/cgroup.procs" "1\n412\n"
    # eth0: ixgbe on node 1, MSI-X vectors 100-104 (one for the link, four queues).
    local e=$r/sys/class/net/eth0 q irqs="" cols=""
    w "$e/device/uevent" "DRIVER=ixgbe\nPCI_CLASS=20000\nPCI_ID=8086:10FB\nPCI_SLOT_NAME=0000:5e:00.0\n"
    w "$e/device/numa_node" "1\n"; w "$e/device/local_cpulist" "8-15\n"
    for i in 100 101 102 103 104; do w "$e/device/msi_irqs/$i" "msix\n"; done
    for q in 0 1 2 3; do
        w "$e/queues/rx-$q/rps_cpus" "0000\n"; w "$e/queues/rx-$q/rps_flow_cnt" "0\n"
        w "$e/queues/tx-$q/xps_cpus" "$(printf '%04x' $((1 << (8 + q))))\n"; w "$e/queues/tx-$q/xps_rxqs" "0\n"
    done
    # lo: virtual, no device/.
    w "$r/sys/class/net/lo/queues/rx-0/rps_cpus" "0000\n"; w "$r/sys/class/net/lo/queues/tx-0/xps_cpus" "0000\n"
    for ((i = 0; i < 16; i++)); do cols+=$(printf '%11s' "CPU$i"); done
    irqs=$(printf '%s\n' "$cols")
    local line
    for i in 0 100 101 102 103 104; do
        line=$(printf '%4s:' $i)
        for ((c = 0; c < 16; c++)); do line+=$(printf '%11s' 0); done
        case $i in
            0) line+="   IO-APIC   2-edge      timer" ;;
            100) line+="   IR-PCI-MSIX-0000:5e:00.0    0-edge      eth0" ;;
            *) line+="   IR-PCI-MSIX-0000:5e:00.0    $((i - 100))-edge      eth0-TxRx-$((i - 101))" ;;
        esac
        irqs+=$'\n'"$line"
    done
    irqs+=$'\n'" NMI:$(for ((c = 0; c < 16; c++)); do printf '%11s' 0; done)   Non-maskable interrupts"$'\n'" ERR:          0"
    w "$r/proc/interrupts" "$irqs\n"
    w "$r/proc/irq/0/smp_affinity_list" "0-15\n"; w "$r/proc/irq/0/smp_affinity" "ffff\n"
    w "$r/proc/irq/100/smp_affinity_list" "8-15\n"; w "$r/proc/irq/100/smp_affinity" "ff00\n"
    for q in 0 1 2 3; do
        w "$r/proc/irq/$((101 + q))/smp_affinity_list" "$((8 + q))\n"; w "$r/proc/irq/$((101 + q))/smp_affinity" "$(printf '%04x' $((1 << (8 + q))))\n"
    done
    w "$r/proc/1/comm" "systemd\n"; w "$r/proc/812/comm" "irqbalance\n"
    # Disks: an SSD with none, a spinning disk with mq-deadline (size: 512-byte
    # sectors, 1 TB and 4 TB), an unattached loop device (size 0) and a zram
    # device, which has no scheduler file at all on current kernels.
    for d in "nvme0n1 259:0 0 1953525168 [none] mq-deadline kyber bfq " "sda 8:0 1 7814037168 none [mq-deadline] kyber bfq " \
             "loop0 7:0 1 0 [none] mq-deadline kyber bfq "; do
        set -- $d
        local dev=$1 mm=$2 rot=$3 size=$4; shift 4
        w "$r/sys/block/$dev/dev" "$mm\n"; w "$r/sys/block/$dev/size" "$size\n"
        w "$r/sys/block/$dev/queue/rotational" "$rot\n"; w "$r/sys/block/$dev/queue/scheduler" "$* \n"
    done
    w "$r/sys/block/zram0/dev" "252:0\n"; w "$r/sys/block/zram0/size" "8388608\n"; w "$r/sys/block/zram0/queue/rotational" "0\n"
    # IOMMU: two groups, the NIC alone in one.
    # On a host these are links to the devices; here directories, with a file
    # in each so that git keeps them.
    w "$r/sys/kernel/iommu_groups/0/devices/0000:00:00.0/vendor" "0x8086\n"
    w "$r/sys/kernel/iommu_groups/17/devices/0000:5e:00.0/vendor" "0x8086\n"
    w "$r/sys/kernel/iommu_groups/17/type" "DMA\n"; w "$r/sys/kernel/iommu_groups/0/type" "identity\n"
}

# ---- host-numa4: the seed's four-node machine scaled down: 4 CPUs per node
# (no SMT), distances 10/16/22, node 3 has CPUs but no memory (a
# memory-less node), cgroup v1, no NIC, no /dev/vhost-net, no IOMMU.
gen_numa4() {
    local r=host-numa4 i
    rm -rf "$r"
    cpuinfo "$r" 16 "AMD EPYC 7302 16-Core Processor" "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ht syscall nx mmxext pdpe1gb rdtscp lm constant_tsc pni ssse3 svm fma cx16 sse4_1 sse4_2 popcnt aes xsave avx npt" 4 1
    w "$r/sys/devices/system/cpu/online" "0-15\n"; w "$r/sys/devices/system/cpu/possible" "0-15\n"; w "$r/sys/devices/system/cpu/present" "0-15\n"
    for ((i = 0; i < 16; i++)); do cpu_files "$r" $i $((i / 4)) $((i % 4)) "$i"; done
    local n=$r/sys/devices/system/node d=("10 16 16 22" "16 10 22 16" "16 22 10 16" "22 16 16 10")
    w "$n/online" "0-3\n"; w "$n/possible" "0-3\n"; w "$n/has_cpu" "0-3\n"; w "$n/has_memory" "0-2\n"; w "$n/has_normal_memory" "0-2\n"
    for i in 0 1 2 3; do
        w "$n/node$i/cpulist" "$((4 * i))-$((4 * i + 3))\n"; w "$n/node$i/distance" "${d[$i]}\n"
        if [ $i = 3 ]; then node_meminfo "$n/node$i/meminfo" $i 0 0 0 0
        else node_meminfo "$n/node$i/meminfo" $i 8388608 $((6291456 - i * 1048576)) 0 0
        fi
        pool "$n/node$i/hugepages/hugepages-2048kB" 0 0
    done
    common_mm "$r" 0 0 0 0
    rm -rf "$r/sys/kernel/mm/hugepages/hugepages-1048576kB" "$r/dev/vhost-net"
    w "$r/proc/meminfo" "MemTotal:       25165824 kB\nMemFree:        15728640 kB\nMemAvailable:   16777216 kB\nHugePages_Total:       0\nHugePages_Free:        0\nHugePages_Rsvd:        0\nHugePages_Surp:        0\nHugepagesize:       2048 kB\nHugetlb:               0 kB\n"
    w "$r/proc/mounts" "sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0\nproc /proc proc rw,nosuid,nodev,noexec,relatime 0 0\n/dev/vda1 / ext4 rw,relatime 0 0\ntmpfs /sys/fs/cgroup tmpfs ro,nosuid,nodev,noexec,mode=755,inode64 0 0\ncgroup2 /sys/fs/cgroup/unified cgroup2 rw,nosuid,nodev,noexec,relatime,nsdelegate 0 0\ncgroup /sys/fs/cgroup/cpuset cgroup rw,nosuid,nodev,noexec,relatime,cpuset 0 0\n"
    local cg=$r/sys/fs/cgroup/cpuset
    w "$cg/cpuset.cpus" "0-15\n"; w "$cg/cpuset.mems" "0-2\n"; w "$cg/cpuset.effective_cpus" "0-15\n"; w "$cg/cpuset.effective_mems" "0-2\n"
    w "$cg/tasks" ""; w "$cg/cgroup.procs" ""; w "$cg/cgroup.clone_children" "0\n"
    w "$r/sys/fs/cgroup/unified/cgroup.controllers" ""; w "$r/sys/fs/cgroup/unified/cgroup.subtree_control" ""
    w "$r/sys/block/vda/dev" "254:0\n"; w "$r/sys/block/vda/size" "41943040\n"; w "$r/sys/block/vda/queue/rotational" "1\n"; w "$r/sys/block/vda/queue/scheduler" "none [mq-deadline] kyber bfq \n"
    w "$r/proc/interrupts" "$(printf '%11s' CPU0 CPU1 CPU2 CPU3 CPU4 CPU5 CPU6 CPU7 CPU8 CPU9 CPU10 CPU11 CPU12 CPU13 CPU14 CPU15)\n NMI:          0   Non-maskable interrupts\n"
    w "$r/proc/1/comm" "init\n"
}

gen_2x8
gen_numa4
