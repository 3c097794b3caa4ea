/* The table of every section and key of vm.ini (CONFIG.md). */
#include "schema.h"

#include <stddef.h>
#include <strings.h>

#include "util.h"

const SectionDef schema_sections[SECTION__MAX] = {
    [SECTION_VM] = { SECTION_VM, "vm", false, true, NULL, "The machine: name, memory, vCPUs, boot, the emulator and its user." },
    [SECTION_CPU] = { SECTION_CPU, "cpu", false, false, NULL, "vCPU pinning, placed before the guest runs its first instruction." },
    [SECTION_MEMORY] = { SECTION_MEMORY, "memory", false, false, NULL, "The RAM backend: NUMA nodes, huge pages, KSM merging." },
    [SECTION_BALLOON] = { SECTION_BALLOON, "balloon", false, false, NULL, "virtio-balloon." },
    [SECTION_HOST] = { SECTION_HOST, "host", false, false, NULL, "Host-wide knobs, restored when the last VM that changed them exits." },
    [SECTION_DISK] = { SECTION_DISK, "disk", true, false, "a letter, then letters, digits, _ or - (at most 24)", "A block device: `[disk \"ID\"]`." },
    [SECTION_NET] = { SECTION_NET, "net", true, false, "a letter, then letters, digits, _ or - (at most 24)", "A virtio-net NIC on a tap kvmlaunch opens, or on QEMU's user-mode network: `[net \"ID\"]`." },
    [SECTION_HOSTNIC] = { SECTION_HOSTNIC, "hostnic", true, false, "a host interface name", "The host's physical NIC: `[hostnic \"DEV\"]`." },
    [SECTION_SHARE] = { SECTION_SHARE, "share", true, false, "a letter, then letters, digits, _ or - (at most 24): the mount tag",
                        "A host directory the guest mounts by TAG: `[share \"TAG\"]`, `mount -t virtiofs TAG /mnt` or `mount -t 9p -o trans=virtio TAG /mnt`." },
    [SECTION_CLOUDINIT] = { SECTION_CLOUDINIT, "cloud-init", false, false, NULL,
                            "A NoCloud seed for cloud images: an ISO 9660 volume labelled cidata, made per run in the runtime dir, attached read-only." },
    [SECTION_TPM] = { SECTION_TPM, "tpm", false, false, NULL,
                      "A TPM 2.0 from swtpm, run as the VM's user beside QEMU, its state kept in the VM's state dir (`tpm/`)." },
    [SECTION_HOSTDEV] = { SECTION_HOSTDEV, "hostdev", true, false, "a letter, then letters, digits, _ or - (at most 24)",
                          "A host PCI device the guest drives itself (vfio-pci): `[hostdev \"ID\"]`, a device by address or a NIC's virtual function." },
};

#define DEFINE_STRING_TABLE_LOOKUP(name, type)                                                  \
    const char *name##_to_string(type v) { return enum_to_string(name##_table, (int)v); }       \
    int name##_from_string(const char *s) { return enum_from_string(name##_table, s); }

/* One table per enum (schema.h): the first word of a value is how it is
 * printed; a word with a note is a legacy alias the parser also takes. The
 * order is the order of the docs and of "expected a, b or c". */
#define END { NULL, 0, NULL }
const EnumName machine_type_table[] = { { "q35", MACHINE_Q35, NULL }, { "pc", MACHINE_PC, NULL }, { "microvm", MACHINE_MICROVM, NULL }, END };
const EnumName rtc_base_table[] = { { "utc", RTC_UTC, NULL }, { "localtime", RTC_LOCALTIME, NULL }, END };
const EnumName accel_kind_table[] = { { "auto", ACCEL_AUTO, NULL }, { "kvm", ACCEL_KVM, NULL }, { "tcg", ACCEL_TCG, NULL }, END };
/* SERIAL_FILE is written file:PATH; SERIAL_DEFAULT has no word. */
const EnumName serial_kind_table[] = { { "stdout", SERIAL_STDOUT, NULL }, { "file", SERIAL_FILE, NULL }, { "pty", SERIAL_PTY, NULL },
                                       { "none", SERIAL_NONE, NULL }, END };
const EnumName mem_backing_table[] = { { "anonymous", BACKING_ANONYMOUS, NULL }, { "hugepages", BACKING_HUGEPAGES, NULL },
                                       { "memfd", BACKING_MEMFD, NULL }, END };
const EnumName mem_policy_table[] = { { "bind", POLICY_BIND, NULL }, { "preferred", POLICY_PREFERRED, NULL }, { "interleave", POLICY_INTERLEAVE, NULL },
                                      END };
/* Written other or POLICY:PRIO (fifo:10). */
const EnumName sched_kind_table[] = { { "other", SCHED_KIND_OTHER, NULL }, { "fifo", SCHED_KIND_FIFO, NULL }, { "rr", SCHED_KIND_RR, NULL }, END };
const EnumName thp_mode_table[] = { { "always", THP_ALWAYS, NULL }, { "madvise", THP_MADVISE, NULL }, { "never", THP_NEVER, NULL },
                                    { "keep", THP_KEEP, NULL }, END };
const EnumName thp_defrag_table[] = {
    { "always", THP_DEFRAG_ALWAYS, NULL }, { "defer", THP_DEFRAG_DEFER, NULL }, { "defer+madvise", THP_DEFRAG_DEFER_MADVISE, NULL },
    { "madvise", THP_DEFRAG_MADVISE, NULL }, { "never", THP_DEFRAG_NEVER, NULL }, { "keep", THP_DEFRAG_KEEP, NULL }, END };
const EnumName irqbalance_mode_table[] = { { "warn", IRQBALANCE_WARN, NULL }, { "ignore", IRQBALANCE_IGNORE, NULL }, END };
/* FORMAT_AUTO has no word: it is the format not written. */
const EnumName disk_format_table[] = { { "raw", FORMAT_RAW, NULL }, { "qcow2", FORMAT_QCOW2, NULL }, END };
const EnumName disk_bus_table[] = { { "virtio-blk", BUS_VIRTIO_BLK, NULL }, { "virtio-scsi", BUS_VIRTIO_SCSI, NULL }, END };
const EnumName cache_mode_table[] = {
    { "none", CACHE_NONE, NULL }, { "writeback", CACHE_WRITEBACK, NULL }, { "writethrough", CACHE_WRITETHROUGH, NULL },
    { "directsync", CACHE_DIRECTSYNC, NULL }, { "unsafe", CACHE_UNSAFE, NULL }, END };
/* AIO_DEFAULT has no word: validate derives it from cache. */
const EnumName aio_mode_table[] = { { "native", AIO_NATIVE, NULL }, { "io_uring", AIO_IO_URING, NULL }, { "threads", AIO_THREADS, NULL }, END };
const EnumName discard_mode_table[] = { { "unmap", DISCARD_UNMAP, NULL }, { "ignore", DISCARD_IGNORE, NULL }, END };
const EnumName io_scheduler_table[] = {
    { "none", IOSCHED_NONE, NULL }, { "mq-deadline", IOSCHED_MQ_DEADLINE, NULL }, { "bfq", IOSCHED_BFQ, NULL },
    { "kyber", IOSCHED_KYBER, NULL }, { "keep", IOSCHED_KEEP, NULL },
    { "noop", IOSCHED_NONE, "legacy scheduler name noop means none on blk-mq kernels" },
    { "deadline", IOSCHED_MQ_DEADLINE, "legacy scheduler name deadline means mq-deadline on blk-mq kernels" },
    { "cfq", IOSCHED_BFQ, "legacy scheduler name cfq is gone from blk-mq kernels; bfq is used instead" },
    END };
const EnumName vhost_mode_table[] = { { "auto", VHOST_AUTO, NULL }, { "on", VHOST_ON, NULL }, { "off", VHOST_OFF, NULL }, END };
const EnumName xps_mode_table[] = { { "spread", XPS_SPREAD, NULL }, { "off", XPS_OFF, NULL }, { "keep", XPS_KEEP, NULL }, END };
const EnumName share_driver_table[] = { { "virtiofs", SHARE_DRIVER_VIRTIOFS, NULL }, { "9p", SHARE_DRIVER_9P, NULL }, END };
const EnumName offloads_mode_table[] = { { "on", OFFLOADS_ON, NULL }, { "keep", OFFLOADS_KEEP, NULL }, END };
const EnumName net_mode_table[] = { { "tap", NET_MODE_TAP, NULL }, { "user", NET_MODE_USER, NULL }, END };
const EnumName fwd_proto_table[] = { { "tcp", FWD_TCP, NULL }, { "udp", FWD_UDP, NULL }, END };
const EnumName on_reboot_table[] = { { "reset", ON_REBOOT_RESET, NULL }, { "stop", ON_REBOOT_STOP, NULL }, END };
const EnumName on_crash_table[] = { { "stop", ON_CRASH_STOP, NULL }, { "restart", ON_CRASH_RESTART, NULL }, { "pause", ON_CRASH_PAUSE, NULL }, END };
const EnumName watchdog_model_table[] = { { "none", WATCHDOG_NONE, NULL }, { "i6300esb", WATCHDOG_I6300ESB, NULL }, END };
const EnumName watchdog_do_table[] = { { "reset", WATCHDOG_DO_RESET, NULL }, { "poweroff", WATCHDOG_DO_POWEROFF, NULL },
                                       { "pause", WATCHDOG_DO_PAUSE, NULL }, { "none", WATCHDOG_DO_NONE, NULL }, END };
/* The words of the cpulist keys; each key takes some (KeyDef.words_mask).
 * CPUSPEC_LIST is a list, CPUSPEC_UNSET not written: no word. */
const EnumName cpu_spec_kind_table[] = { { "auto", CPUSPEC_AUTO, NULL }, { "emulator", CPUSPEC_EMULATOR, NULL }, { "none", CPUSPEC_NONE, NULL },
                                         { "local", CPUSPEC_LOCAL, NULL }, { "off", CPUSPEC_OFF, NULL }, { "keep", CPUSPEC_KEEP, NULL }, END };

DEFINE_STRING_TABLE_LOOKUP(machine_type, MachineType)
DEFINE_STRING_TABLE_LOOKUP(rtc_base, RtcBase)
DEFINE_STRING_TABLE_LOOKUP(accel_kind, AccelKind)
DEFINE_STRING_TABLE_LOOKUP(serial_kind, SerialKind)
DEFINE_STRING_TABLE_LOOKUP(mem_backing, MemBacking)
DEFINE_STRING_TABLE_LOOKUP(mem_policy, MemPolicy)
DEFINE_STRING_TABLE_LOOKUP(sched_kind, SchedKind)
DEFINE_STRING_TABLE_LOOKUP(thp_mode, ThpMode)
DEFINE_STRING_TABLE_LOOKUP(thp_defrag, ThpDefrag)
DEFINE_STRING_TABLE_LOOKUP(irqbalance_mode, IrqbalanceMode)
DEFINE_STRING_TABLE_LOOKUP(disk_format, DiskFormat)
DEFINE_STRING_TABLE_LOOKUP(disk_bus, DiskBus)
DEFINE_STRING_TABLE_LOOKUP(cache_mode, CacheMode)
DEFINE_STRING_TABLE_LOOKUP(aio_mode, AioMode)
DEFINE_STRING_TABLE_LOOKUP(discard_mode, DiscardMode)
DEFINE_STRING_TABLE_LOOKUP(io_scheduler, IoScheduler)
DEFINE_STRING_TABLE_LOOKUP(vhost_mode, VhostMode)
DEFINE_STRING_TABLE_LOOKUP(xps_mode, XpsMode)
DEFINE_STRING_TABLE_LOOKUP(offloads_mode, OffloadsMode)
DEFINE_STRING_TABLE_LOOKUP(cpu_spec_kind, CpuSpecKind)
DEFINE_STRING_TABLE_LOOKUP(net_mode, NetMode)
DEFINE_STRING_TABLE_LOOKUP(fwd_proto, FwdProto)
DEFINE_STRING_TABLE_LOOKUP(share_driver, ShareDriver)
DEFINE_STRING_TABLE_LOOKUP(on_reboot, OnReboot)
DEFINE_STRING_TABLE_LOOKUP(on_crash, OnCrash)
DEFINE_STRING_TABLE_LOOKUP(watchdog_model, WatchdogModel)
DEFINE_STRING_TABLE_LOOKUP(watchdog_do, WatchdogDo)

/* Not enums but words for an int: the on/off/keep of ksm, the 0/1/keep of
 * zone_reclaim_mode (the kernel's own numbers). */
static const EnumName ksm_words[] = { { "on", 1, NULL }, { "off", 0, NULL }, { "keep", TRISTATE_UNSET, NULL }, END };
static const EnumName zone_reclaim_words[] = { { "0", 0, NULL }, { "1", 1, NULL }, { "keep", TRISTATE_UNSET, NULL }, END };
/* [vm] boot-budget-action (issue 18): words for an int, kept here so no
 * shared enum header changes. */
static const EnumName boot_budget_action_words[] = { { "warn", BOOT_BUDGET_WARN, NULL }, { "fail", BOOT_BUDGET_FAIL, NULL }, END };
#undef END

/* Highest vCPU count QEMU 7.2's q35 accepts; pc allows 255 (checked later). */
#define VCPUS_MAX 288

#define K(sec, st, key, field, ...) { .section = sec, .name = key, .offset = offsetof(st, field), __VA_ARGS__ }
#define VM(key, field, ...) K(SECTION_VM, VmSection, key, field, __VA_ARGS__)
#define CPU(key, field, ...) K(SECTION_CPU, CpuSection, key, field, __VA_ARGS__)
#define MEM(key, field, ...) K(SECTION_MEMORY, MemorySection, key, field, __VA_ARGS__)
#define BAL(key, field, ...) K(SECTION_BALLOON, BalloonSection, key, field, __VA_ARGS__)
#define HOST(key, field, ...) K(SECTION_HOST, HostSection, key, field, __VA_ARGS__)
#define DISK(key, field, ...) K(SECTION_DISK, DiskSection, key, field, __VA_ARGS__)
#define NET(key, field, ...) K(SECTION_NET, NetSection, key, field, __VA_ARGS__)
#define NIC(key, field, ...) K(SECTION_HOSTNIC, HostNicSection, key, field, __VA_ARGS__)
#define HOSTDEV(key, field, ...) K(SECTION_HOSTDEV, HostdevSection, key, field, __VA_ARGS__)
#define SHARE(key, field, ...) K(SECTION_SHARE, ShareSection, key, field, __VA_ARGS__)
#define CLOUD(key, field, ...) K(SECTION_CLOUDINIT, CloudInitSection, key, field, __VA_ARGS__)
#define TPM(key, field, ...) K(SECTION_TPM, TpmSection, key, field, __VA_ARGS__)

const KeyDef schema_keys[] = {
    VM("name", name, .type = VT_NAME, .flags = KEY_REQUIRED, .type_doc = "[A-Za-z0-9_.-]{1,64}, not starting with . or -",
       .help = "-name guest=NAME; the runtime dir /run/kvmlaunch/NAME, lock and cgroup name"),
    VM("memory", memory, .type = VT_SIZE, .flags = KEY_REQUIRED, .type_doc = "size, a multiple of 1M, at least 16M",
       .help = "-m and the size of the RAM backend"),
    VM("vcpus", vcpus, .type = VT_INT, .min = 1, .max = VCPUS_MAX, .flags = KEY_REQUIRED, .help = "-smp"),
    VM("sockets", sockets, .type = VT_INT, .min = 1, .max = VCPUS_MAX, .dflt_doc = "derived", .help = "-smp topology; sockets*cores*threads must equal vcpus"),
    VM("cores", cores, .type = VT_INT, .min = 1, .max = VCPUS_MAX, .dflt_doc = "derived", .help = "-smp topology"),
    VM("threads", threads, .type = VT_INT, .min = 1, .max = VCPUS_MAX, .dflt_doc = "derived", .help = "-smp topology"),
    VM("machine", machine_name, .type = VT_MACHINE, .dflt = "q35", .type_doc = "q35, pc, microvm, or a versioned type (pc-q35-7.2, pc-i440fx-7.2)",
       .help = "-machine TYPE; q35 and pc are resolved to the versioned type this QEMU points them at, at the VM's first start, and "
               "recorded in state-dir: later starts use it, so the guest's hardware stays the same across QEMU upgrades; a versioned type is taken as is"),
    VM("accel", accel, .type = VT_ENUM, .words = accel_kind_table, .dflt = "auto",
       .help = "auto: kvm when /dev/kvm opens read-write, else tcg with a warning"),
    VM("cpu-model", cpu_model, .type = VT_CPU_MODEL, .dflt_doc = "host (kvm), max (tcg)", .type_doc = "MODEL[,+FEATURE][,-FEATURE]...",
       .help = "-cpu"),
    VM("user", user, .type = VT_USER, .dflt_doc = "required when run as root", .type_doc = "user name, not root",
       .help = "QEMU runs as this user, its group and the groups the group database gives it (in group kvm: /dev/kvm), without capabilities, with no_new_privs and -sandbox"),
    VM("qemu", qemu, .type = VT_PATH, .dflt_doc = "qemu-system-x86_64 on PATH", .help = "the emulator binary"),
    VM("kernel", kernel, .type = VT_PATH, .help = "direct kernel boot: -kernel"),
    VM("initrd", initrd, .type = VT_PATH, .help = "-initrd (needs kernel)"),
    VM("append", append, .type = VT_STRING, .flags = KEY_MULTILINE,
       .help = "-append (needs kernel); indented lines below continue it"),
    VM("firmware", firmware, .type = VT_FIRMWARE, .dflt = "bios", .type_doc = "bios, uefi, uefi-secure or the path of OVMF code",
       .help = "bios: SeaBIOS; uefi: Debian's OVMF (package ovmf, 4M), its vars template copied once into state-dir and kept; uefi-secure: the secboot code with Microsoft's keys enrolled, smm=on, q35 only; a path: UEFI code as pflash0 (q35 or pc)"),
    VM("firmware-vars", firmware_vars, .type = VT_PATH, .dflt_doc = "the template that goes with firmware",
       .help = "the UEFI vars template copied once into state-dir (then kept); with a path firmware and without this, OVMF keeps its variables in RAM only"),
    VM("serial", serial, .type = VT_SERIAL, .dflt_doc = "stdout with a terminal or a pipe, else file: in the runtime dir",
       .type_doc = "stdout, file:PATH, pty or none", .help = "the guest's serial console, relayed by kvmlaunch, which never makes the guest wait for a reader; `kvmlaunch console NAME` attaches to it (except none); a file: log is opened as user, through no symlink, in a directory only root and user can write"),
    VM("serial-log-size", serial_log_size, .type = VT_SIZE, .dflt = "1M", .type_doc = "size, 4K to 64M",
       .help = "a file: serial log is rotated past this size into PATH.1 (one old copy kept); a rotation copies the log while the guest's console waits, hence the 64M limit"),
    VM("shutdown-timeout", shutdown_timeout_ms, .type = VT_DURATION, .dflt = "60s",
       .help = "SIGTERM: system_powerdown, then quit after this long, then SIGKILL"),
    VM("timeout", timeout_ms, .type = VT_DURATION, .dflt_doc = "none", .type_doc = "duration, 0 for none",
       .help = "wall-clock limit (CI): past it the VM is stopped and kvmlaunch exits 124"),
    VM("state-dir", state_dir, .type = VT_PATH, .dflt_doc = "/var/lib/kvmlaunch/NAME",
       .help = "persistent per-VM state (UEFI vars, TPM): made for the VM's user, mode 0700, when missing; kept across runs, never removed by kvmlaunch"),
    VM("exit-device", exit_device, .type = VT_BOOL, .dflt = "no",
       .help = "isa-debug-exit at 0xf4: the guest's code becomes kvmlaunch's exit code"),
    VM("boot-budget", boot_budget_ms, .type = VT_DURATION, .dflt_doc = "none", .type_doc = "duration, 0 for none",
       .help = "a guest slower than this from kvmlaunch's start to its init (the kernel's \"Run /init\" line on the serial console) is a warning, or a failure with boot-budget-action = fail"),
    VM("boot-budget-action", boot_budget_action, .type = VT_ENUM, .words = boot_budget_action_words, .dflt = "warn",
       .help = "warn: a warning past boot-budget; fail: past it the VM is stopped and kvmlaunch exits 1"),
    VM("rtc", rtc, .type = VT_ENUM, .words = rtc_base_table, .dflt = "utc",
       .help = "-rtc base= (localtime for Windows guests); under KVM with driftfix=slew (docs/TUNING.md)"),
    VM("guest-agent", guest_agent, .type = VT_BOOL, .dflt = "no",
       .help = "a virtio-serial channel org.qemu.guest_agent.0 on a socket kvmlaunch opens: `status` shows the guest's OS and addresses, "
               "`stop` uses its guest-shutdown when ACPI is ignored, `kvmlaunch qmp NAME --agent CMD` talks to it"),
    /* Crash and reboot policy, carried out by the supervisor (include/crashpolicy.h). */
    VM("on-reboot", on_reboot, .type = VT_ENUM, .words = on_reboot_table, .dflt = "reset",
       .help = "a guest reboot: reset runs the guest again; stop ends the VM with exit 0 (CI)"),
    VM("on-crash", on_crash, .type = VT_ENUM, .words = on_crash_table, .dflt = "stop",
       .help = "a guest panic, seen through the pvpanic device (q35 and pc): stop ends the VM with exit 1; restart resets the guest "
               "(restart-limit); pause keeps it paused for inspection until kvmlaunch stop"),
    VM("watchdog", watchdog, .type = VT_ENUM, .words = watchdog_model_table, .dflt = "none",
       .help = "a watchdog device for the guest (i6300esb: PCI, q35 or pc; the guest's driver is i6300esb)"),
    VM("watchdog-action", watchdog_action, .type = VT_ENUM, .words = watchdog_do_table, .dflt = "reset",
       .help = "when the guest stops feeding its watchdog: reset the guest (restart-limit), poweroff (exit 1), pause, or none (logged)"),
    VM("restart-limit", restart_limit, .type = VT_RESTART_LIMIT, .dflt = "5/10m", .type_doc = "N/DURATION, N from 1 to 1000",
       .help = "more guest resets (crash or watchdog) than N within DURATION stop the VM with exit 1"),

    CPU("pin", pin, .type = VT_CPULIST, .words = cpu_spec_kind_table, .words_mask = CPUSPEC_WORD(CPUSPEC_AUTO) | CPUSPEC_WORD(CPUSPEC_NONE),
        .flags = KEY_SEQUENCE, .dflt = "none", .type_doc = "cpulist, auto or none",
        .help = "vCPU i runs on the i-th CPU of the list (as many CPUs as vcpus; a CPU may repeat: those vCPUs share it); auto picks a NUMA node"),
    CPU("vcpu.N", vcpu_override, .type = VT_CPULIST, .flags = KEY_INDEXED, .dflt_doc = "from pin", .type_doc = "cpulist",
        .help = "the CPUs of vCPU N, overriding pin"),
    CPU("emulator", emulator, .type = VT_CPULIST, .dflt_doc = "none", .type_doc = "cpulist",
        .help = "QEMU's main and helper threads"),
    CPU("iothreads", iothreads, .type = VT_CPULIST, .dflt_doc = "none", .type_doc = "cpulist",
        .help = "the disks' I/O threads"),
    CPU("scheduler", scheduler, .type = VT_SCHED, .dflt = "other", .type_doc = "other, fifo:PRIO or rr:PRIO (PRIO 1-99)",
        .help = "vCPU scheduling policy"),
    CPU("vhost", vhost, .type = VT_CPULIST, .words = cpu_spec_kind_table, .words_mask = CPUSPEC_WORD(CPUSPEC_EMULATOR) | CPUSPEC_WORD(CPUSPEC_NONE),
        .dflt = "emulator", .type_doc = "cpulist, emulator or none",
        .help = "the vhost-net worker threads"),

    MEM("backing", backing, .type = VT_ENUM, .words = mem_backing_table, .dflt = "anonymous",
        .help = "anonymous: memory-backend-ram; hugepages: memfd with hugetlb (or a file on hugepage-path); memfd: shareable"),
    MEM("hugepage-size", hugepage_size, .type = VT_HUGEPAGE_SIZE, .dflt = "2M", .type_doc = "2M or 1G",
        .help = "with backing = hugepages; must divide memory"),
    MEM("hugepage-path", hugepage_path, .type = VT_PATH, .help = "a hugetlbfs mount: a file there instead of memfd"),
    MEM("reserve-hugepages", reserve_hugepages, .type = VT_BOOL, .dflt = "no",
        .help = "raise the node's nr_hugepages to fit, give them back on exit"),
    MEM("prealloc", prealloc, .type = VT_BOOL_DERIVED, .dflt_doc = "yes with hugepages", .help = "prealloc=on"),
    MEM("share", share, .type = VT_BOOL, .dflt = "no", .help = "share=on"),
    MEM("lock", lock, .type = VT_BOOL, .dflt = "no", .help = "-overcommit mem-lock=on"),
    MEM("nodes", nodes, .type = VT_NODELIST, .dflt_doc = "none", .type_doc = "nodelist", .help = "host-nodes= of the backend"),
    MEM("policy", policy, .type = VT_ENUM, .words = mem_policy_table, .dflt_doc = "bind when nodes is set", .help = "policy= of the backend"),
    MEM("merge", merge, .type = VT_BOOL, .dflt = "yes", .help = "merge=: whether KSM may merge this guest's pages"),
    MEM("migrate", migrate, .type = VT_BOOL, .dflt = "no", .help = "after start, move pages that lie off nodes onto them"),
    MEM("dump", dump, .type = VT_BOOL, .dflt = "no",
        .help = "dump-guest-core=: whether guest RAM may land in a core dump of QEMU (no: the RAM mapping is MADV_DONTDUMP)"),

    BAL("enabled", enabled, .type = VT_BOOL, .dflt = "yes", .help = "virtio-balloon"),
    BAL("deflate-on-oom", deflate_on_oom, .type = VT_BOOL, .dflt = "yes", .help = "deflate-on-oom"),
    BAL("free-page-reporting", free_page_reporting, .type = VT_BOOL, .dflt = "yes", .help = "free-page-reporting"),
    BAL("stats-period", stats_period_ms, .type = VT_DURATION, .dflt = "10s", .type_doc = "duration in whole seconds",
        .help = "guest-stats-polling-interval; 0 turns it off"),

    HOST("thp", thp, .type = VT_ENUM, .words = thp_mode_table, .dflt = "keep", .help = "/sys/kernel/mm/transparent_hugepage/enabled"),
    HOST("thp-defrag", thp_defrag, .type = VT_ENUM, .words = thp_defrag_table, .dflt = "keep", .help = "/sys/kernel/mm/transparent_hugepage/defrag"),
    HOST("ksm", ksm, .type = VT_ENUM, .words = ksm_words, .dflt = "keep", .help = "/sys/kernel/mm/ksm/run"),
    HOST("ksm-merge-across-nodes", ksm_merge_across_nodes, .type = VT_BOOL_KEEP, .dflt = "keep", .type_doc = "bool or keep",
         .help = "/sys/kernel/mm/ksm/merge_across_nodes"),
    HOST("ksm-pages-to-scan", ksm_pages_to_scan, .type = VT_INT_KEEP, .min = 0, .max = 1000000, .dflt = "keep",
         .type_doc = "int or keep", .help = "/sys/kernel/mm/ksm/pages_to_scan"),
    HOST("ksm-sleep-ms", ksm_sleep_ms, .type = VT_INT_KEEP, .min = 0, .max = 3600000, .dflt = "keep",
         .type_doc = "int or keep", .help = "/sys/kernel/mm/ksm/sleep_millisecs"),
    HOST("zone-reclaim", zone_reclaim, .type = VT_ENUM, .words = zone_reclaim_words, .dflt = "keep", .help = "/proc/sys/vm/zone_reclaim_mode"),
    HOST("irqbalance", irqbalance, .type = VT_ENUM, .words = irqbalance_mode_table, .dflt = "warn",
         .help = "kvmlaunch never stops services; warn when a running irqbalance would undo IRQ pinning"),

    DISK("file", file, .type = VT_PATH, .flags = KEY_REQUIRED, .help = "image or block device"),
    DISK("format", format, .type = VT_ENUM, .words = disk_format_table, .dflt_doc = "detected (qcow2 magic), raw said aloud",
         .help = "the image format"),
    DISK("bus", bus, .type = VT_ENUM, .words = disk_bus_table, .dflt = "virtio-blk", .help = "virtio-blk-pci, or virtio-scsi-pci with scsi-hd"),
    DISK("cache", cache, .type = VT_ENUM, .words = cache_mode_table, .dflt = "none", .help = "none bypasses the host page cache"),
    DISK("aio", aio, .type = VT_ENUM, .words = aio_mode_table, .dflt_doc = "native with cache none/directsync, else threads",
         .help = "native needs cache = none or directsync"),
    DISK("iothread", iothread, .type = VT_BOOL, .dflt = "yes", .help = "one -object iothread for this disk"),
    DISK("readonly", readonly, .type = VT_BOOL, .dflt = "no", .help = "read-only"),
    DISK("snapshot", snapshot, .type = VT_BOOL, .dflt = "no", .help = "writes go to a temporary overlay, thrown away on exit (CI)"),
    DISK("discard", discard, .type = VT_ENUM, .words = discard_mode_table, .dflt = "ignore", .help = "discard="),
    DISK("queues", queues, .type = VT_INT, .min = 1, .max = 1024, .dflt_doc = "vcpus", .help = "virtio-blk num-queues, virtio-scsi num_queues"),
    DISK("scheduler", scheduler, .type = VT_ENUM, .words = io_scheduler_table, .dflt = "keep",
         .help = "I/O scheduler of the host disk that holds file; noop, deadline, cfq are mapped"),

    NET("mode", mode, .type = VT_ENUM, .words = net_mode_table, .dflt = "tap",
        .help = "user: QEMU's user-mode network (slirp): no tap, no bridge, no host privilege; bridge, tap, queues, vhost, mtu and steering are refused"),
    NET("forward", forward, .type = VT_FORWARDS, .dflt_doc = "none", .type_doc = "tcp:[ADDR:]HOSTPORT:GUESTPORT or udp:..., comma or space separated",
        .help = "with mode = user: host port to guest port, on 127.0.0.1 unless ADDR (IPv4) is given; HOSTPORT auto takes a free port at start, shown by status"),
    NET("bridge", bridge, .type = VT_IFNAME, .dflt_doc = "none", .type_doc = "interface name", .help = "the tap is attached to this bridge"),
    NET("tap", tap, .type = VT_IFNAME, .dflt_doc = "kl-NAME-ID; past 15 chars kl-NAMEPRE-HASH", .type_doc = "interface name",
        .help = "kvmlaunch creates it (multi-queue, vnet header, exclusive) and removes it; an existing multi-queue tap nobody uses (an admin's persistent one) is joined and kept; one in use is refused"),
    NET("queues", queues, .type = VT_INT, .min = 1, .max = 16, .dflt_doc = "vcpus (at most 16)",
        .help = "tap queues; mq=on and vectors=2*queues+2 when above 1"),
    NET("vhost", vhost, .type = VT_ENUM, .words = vhost_mode_table, .dflt = "auto",
        .help = "on fails without /dev/vhost-net; auto warns and falls back"),
    NET("mac", mac, .type = VT_MAC, .dflt_doc = "derived from name and ID, locally administered", .type_doc = "MAC",
        .help = "the guest NIC's address"),
    NET("mtu", mtu, .type = VT_INT, .min = 68, .max = 65535, .dflt_doc = "from the bridge", .help = "host_mtu"),
    NET("steering", steering, .type = VT_BOOL_DERIVED, .dflt_doc = "yes when vCPUs are pinned",
        .help = "rx-i/rps_cpus of the tap follows the CPU of vCPU i (the tap's XPS is inert: docs/TUNING.md)"),

    NIC("irq-cpus", irq_cpus, .type = VT_CPULIST, .words = cpu_spec_kind_table, .words_mask = CPUSPEC_WORD(CPUSPEC_LOCAL) | CPUSPEC_WORD(CPUSPEC_KEEP),
        .dflt = "keep", .type_doc = "cpulist, local or keep",
        .help = "/proc/irq/N/smp_affinity_list of each queue IRQ; local = the NIC's NUMA node"),
    NIC("rps-cpus", rps_cpus, .type = VT_CPULIST, .words = cpu_spec_kind_table,
        .words_mask = CPUSPEC_WORD(CPUSPEC_LOCAL) | CPUSPEC_WORD(CPUSPEC_OFF) | CPUSPEC_WORD(CPUSPEC_KEEP),
        .dflt = "keep", .type_doc = "cpulist, local, off or keep",
        .help = "queues/rx-*/rps_cpus"),
    NIC("xps", xps, .type = VT_ENUM, .words = xps_mode_table, .dflt = "keep", .help = "queues/tx-*/xps_cpus: tx queue i to one CPU each"),
    NIC("offloads", offloads, .type = VT_ENUM, .words = offloads_mode_table, .dflt = "keep", .help = "TSO, GSO, GRO on (reported either way)"),

    SHARE("path", path, .type = VT_PATH, .flags = KEY_REQUIRED, .type_doc = "path of a directory",
          .help = "the host directory the guest sees; it must exist and be a directory"),
    SHARE("driver", driver, .type = VT_ENUM, .words = share_driver_table, .dflt_doc = "virtiofs when a virtiofsd exists and kvmlaunch runs as root, else 9p",
          .help = "virtiofs: vhost-user-fs with a virtiofsd kvmlaunch starts as root in its namespace sandbox, on the emulator's CPUs and cgroup, "
                  "stopped with the VM; the guest's RAM is made shareable (memfd, share=on); 9p: virtio-9p served by QEMU as [vm] user "
                  "(security_model=none)"),
    SHARE("readonly", readonly, .type = VT_BOOL, .dflt = "no",
          .help = "the guest cannot write: 9p readonly=on; virtiofs: virtiofsd sees a read-only bind mount of path"),

    HOSTDEV("address", address, .type = VT_STRING, .dflt_doc = "one of address and vf", .type_doc = "PCI address DDDD:BB:DD.F",
            .help = "the device handed to the guest: it and the rest of its IOMMU group are bound to vfio-pci, and back to their drivers on exit"),
    HOSTDEV("vf", vf, .type = VT_STRING, .dflt_doc = "one of address and vf", .type_doc = "DEV:N",
            .help = "virtual function N of the physical NIC DEV, made through sriov_numvfs when missing and removed when no VM uses it"),
    HOSTDEV("mac", mac, .type = VT_MAC, .dflt_doc = "the VF's own", .type_doc = "MAC", .help = "with vf: the VF's MAC, set on the PF (netlink)"),
    HOSTDEV("vlan", vlan, .type = VT_INT, .min = 1, .max = 4094, .dflt_doc = "none", .help = "with vf: the VF's VLAN, set on the PF (netlink)"),

    CLOUD("user", user, .type = VT_USER, .dflt_doc = "the image's default user", .type_doc = "user name, not root",
          .help = "the user cloud-init creates, with sudo without a password and bash; `kvmlaunch ssh` logs in as this user"),
    CLOUD("ssh-key", ssh_key, .type = VT_PATH, .dflt_doc = "none", .type_doc = "path of a public key (.pub)",
          .help = "authorized for user; `kvmlaunch ssh` uses the private key beside it (the path without .pub); both must be readable"),
    CLOUD("hostname", hostname, .type = VT_STRING, .dflt_doc = "the VM's name, _ made -", .type_doc = "a host name: letters, digits, - and .",
          .help = "local-hostname of meta-data"),
    CLOUD("user-data", user_data, .type = VT_PATH, .dflt_doc = "generated from user and ssh-key, mounting each [share] at /mnt/TAG",
          .help = "a user-data file taken as is (then user and ssh-key are refused)"),
    CLOUD("network-config", network_config, .type = VT_PATH, .dflt_doc = "none", .help = "cloud-init's network-config, taken as is"),

    TPM("enabled", enabled, .type = VT_BOOL, .dflt = "no",
        .help = "a TPM 2.0 from swtpm (run as the VM's user, its state in state-dir's tpm/), tpm-crb on q35, tpm-tis on pc; microvm is refused"),
};

const size_t schema_n_keys = ELEMENTSOF(schema_keys);

const SectionDef *schema_section_by_name(const char *name) {
    for (size_t i = 0; i < SECTION__MAX; i++)
        if (streq(schema_sections[i].name, name)) return &schema_sections[i];
    return NULL;
}

int schema_key_index(const KeyDef *def) {
    int idx = 0;
    for (const KeyDef *k = schema_keys; k < def; k++)
        if (k->section == def->section) idx++;
    return idx;
}

const KeyDef *schema_key_find(SectionKind kind, const char *name, int *index) {
    int idx = 0;
    for (size_t i = 0; i < schema_n_keys; i++) {
        const KeyDef *k = &schema_keys[i];
        if (k->section != kind) continue;
        if (streq(k->name, name)) {
            if (index) *index = idx;
            return k;
        }
        idx++;
    }
    return NULL;
}

static bool likely_typo(const char *wrong, const char *right) {
    if (!strcasecmp(wrong, right)) return true;
    size_t d = string_distance(wrong, right);
    size_t len = strlen(right);
    return d <= (len < 6 ? 1 : len < 12 ? 2 : 3);
}

const char *schema_key_suggest(SectionKind kind, const char *name) {
    const char *best = NULL;
    size_t best_d = SIZE_MAX;
    for (size_t i = 0; i < schema_n_keys; i++) {
        const KeyDef *k = &schema_keys[i];
        if (k->section != kind || !likely_typo(name, k->name)) continue;
        size_t d = string_distance(name, k->name);
        if (d < best_d) { best = k->name; best_d = d; }
    }
    return best;
}

const char *schema_section_suggest(const char *name) {
    for (size_t i = 0; i < SECTION__MAX; i++)
        if (likely_typo(name, schema_sections[i].name)) return schema_sections[i].name;
    return NULL;
}
