/* The VM definition: what vm.ini says, parsed and validated (CONFIG.md).
 * vmconf/ turns bytes into a VmConfig or a list of file:line errors; it never
 * touches the host. */
#ifndef KVMLAUNCH_VMCONF_H
#define KVMLAUNCH_VMCONF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "values.h"

typedef enum { SECTION_VM, SECTION_CPU, SECTION_MEMORY, SECTION_BALLOON, SECTION_HOST,
               SECTION_DISK, SECTION_NET, SECTION_HOSTNIC, SECTION_SHARE, SECTION_CLOUDINIT, SECTION_TPM,
               SECTION_HOSTDEV, SECTION__MAX } SectionKind;

/* Most keys a section kind has; key_line[] is indexed by the key's place in
 * the schema table of its section. */
#define SECTION_KEYS_MAX 40

/* Every section instance starts with this: where it was written, and where
 * each of its keys was (0 = not written, default applies). */
typedef struct SectionHead {
    char *id;                       /* owned; "root" for [disk "root"], NULL for singletons */
    int line;                       /* line of the [header], 0 when absent from the file */
    int key_line[SECTION_KEYS_MAX];
    unsigned char key_refused[SECTION_KEYS_MAX]; /* written, but its value was refused */
    bool lines_refused;             /* a line of this section was refused: a "missing" key may sit in it */
} SectionHead;

typedef enum { MACHINE_Q35, MACHINE_PC, MACHINE_MICROVM } MachineType;
typedef enum { RTC_UTC, RTC_LOCALTIME } RtcBase;
typedef enum { ACCEL_AUTO, ACCEL_KVM, ACCEL_TCG } AccelKind;
typedef enum { SERIAL_DEFAULT, SERIAL_STDOUT, SERIAL_FILE, SERIAL_PTY, SERIAL_NONE } SerialKind;
typedef enum { BACKING_ANONYMOUS, BACKING_HUGEPAGES, BACKING_MEMFD } MemBacking;
typedef enum { POLICY_DEFAULT, POLICY_BIND, POLICY_PREFERRED, POLICY_INTERLEAVE } MemPolicy;
typedef enum { SCHED_KIND_OTHER, SCHED_KIND_FIFO, SCHED_KIND_RR } SchedKind;
typedef enum { THP_KEEP = -1, THP_ALWAYS, THP_MADVISE, THP_NEVER } ThpMode;
typedef enum { THP_DEFRAG_KEEP = -1, THP_DEFRAG_ALWAYS, THP_DEFRAG_DEFER, THP_DEFRAG_DEFER_MADVISE,
               THP_DEFRAG_MADVISE, THP_DEFRAG_NEVER } ThpDefrag;
typedef enum { IRQBALANCE_WARN, IRQBALANCE_IGNORE } IrqbalanceMode;
typedef enum { FORMAT_AUTO, FORMAT_RAW, FORMAT_QCOW2 } DiskFormat;
typedef enum { BUS_VIRTIO_BLK, BUS_VIRTIO_SCSI } DiskBus;
typedef enum { CACHE_NONE, CACHE_WRITEBACK, CACHE_WRITETHROUGH, CACHE_DIRECTSYNC, CACHE_UNSAFE } CacheMode;
typedef enum { AIO_DEFAULT, AIO_NATIVE, AIO_IO_URING, AIO_THREADS } AioMode;
typedef enum { DISCARD_IGNORE, DISCARD_UNMAP } DiscardMode;
typedef enum { IOSCHED_KEEP = -1, IOSCHED_NONE, IOSCHED_MQ_DEADLINE, IOSCHED_BFQ, IOSCHED_KYBER } IoScheduler;
typedef enum { VHOST_AUTO, VHOST_ON, VHOST_OFF } VhostMode;
typedef enum { XPS_KEEP = -1, XPS_SPREAD, XPS_OFF } XpsMode;
typedef enum { OFFLOADS_KEEP = -1, OFFLOADS_ON } OffloadsMode;
typedef enum { NET_MODE_TAP, NET_MODE_USER } NetMode;
typedef enum { FWD_TCP, FWD_UDP } FwdProto;
/* SHARE_DRIVER_DEFAULT has no word: virtiofs where a virtiofsd can run, else 9p (qemucmd_share.c). */
typedef enum { SHARE_DRIVER_DEFAULT, SHARE_DRIVER_VIRTIOFS, SHARE_DRIVER_9P } ShareDriver;
/* [vm] on-reboot, on-crash, watchdog, watchdog-action (include/crashpolicy.h). */
typedef enum { ON_REBOOT_RESET, ON_REBOOT_STOP } OnReboot;
typedef enum { ON_CRASH_STOP, ON_CRASH_RESTART, ON_CRASH_PAUSE } OnCrash;
typedef enum { WATCHDOG_NONE, WATCHDOG_I6300ESB } WatchdogModel;
typedef enum { WATCHDOG_DO_RESET, WATCHDOG_DO_POWEROFF, WATCHDOG_DO_PAUSE, WATCHDOG_DO_NONE } WatchdogDo;

/* A cpulist key that also takes words: CPUSPEC_LIST means `list` holds CPUs. */
typedef enum { CPUSPEC_LIST, CPUSPEC_AUTO, CPUSPEC_NONE, CPUSPEC_EMULATOR, CPUSPEC_LOCAL,
               CPUSPEC_OFF, CPUSPEC_KEEP, CPUSPEC_UNSET } CpuSpecKind;
typedef struct CpuSpec {
    CpuSpecKind kind;
    CpuList list;                   /* owned, with CPUSPEC_LIST */
} CpuSpec;

/* The smallest [vm] serial-log-size. */
#define SERIAL_LOG_SIZE_MIN 4096
/* A rotation copies the whole log, in the supervisor's loop, while the
 * guest's console waits: at most this much at a time. */
#define SERIAL_LOG_SIZE_MAX (UINT64_C(64) << 20)

typedef struct Serial {
    SerialKind kind;
    char *path;                     /* owned, with SERIAL_FILE */
} Serial;

typedef struct Sched {
    SchedKind kind;
    int priority;                   /* 1..99 with fifo and rr */
} Sched;

enum { BOOT_BUDGET_WARN, BOOT_BUDGET_FAIL };
/* [vm] restart-limit N/DURATION: more than COUNT guest resets (crash or
 * watchdog) within WINDOW_MS stop the VM. */
#define RESTART_LIMIT_MAX 1000
typedef struct RestartLimit {
    int64_t count;                  /* 1..RESTART_LIMIT_MAX */
    uint64_t window_ms;             /* > 0 */
} RestartLimit;

typedef struct VmSection {
    SectionHead head;
    char *name;                     /* owned */
    uint64_t memory;                /* bytes */
    int64_t vcpus, sockets, cores, threads;
    int machine;                    /* MachineType: the family of machine_name */
    char *machine_name;             /* owned: as written, q35, pc, microvm or a versioned pc-q35-7.2; NULL (a model built
                                     * by hand): machine's word */
    int accel;                      /* AccelKind */
    char *cpu_model;                /* owned; NULL: host (kvm) or max (tcg) */
    char *user;                     /* owned */
    char *qemu;                     /* owned; NULL: qemu-system-x86_64 on PATH */
    char *kernel, *initrd, *append; /* owned */
    char *firmware;                 /* owned; NULL: bios, else "uefi", "uefi-secure" or a path (firmware.h) */
    char *firmware_vars;            /* owned; NULL: the template that goes with firmware */
    Serial serial;
    uint64_t serial_log_size;       /* bytes: a file: log is rotated past this */
    uint64_t shutdown_timeout_ms;
    uint64_t timeout_ms;            /* 0: none */
    uint64_t boot_budget_ms;        /* 0: none; from kvmlaunch's start to the guest's init */
    int boot_budget_action;         /* BOOT_BUDGET_WARN or _FAIL */
    bool exit_device;
    char *state_dir;                /* owned; NULL: statedir_base()/NAME (statedir.h) */
    int rtc;                        /* RtcBase */
    bool guest_agent;               /* a virtio-serial channel to qemu-guest-agent (include/agent.h) */
    /* Crash and reboot policy (include/crashpolicy.h). */
    int on_reboot;                  /* OnReboot */
    int on_crash;                   /* OnCrash */
    int watchdog;                   /* WatchdogModel */
    int watchdog_action;            /* WatchdogDo */
    RestartLimit restart_limit;
} VmSection;

typedef struct CpuSection {
    SectionHead head;
    CpuSpec pin;                    /* LIST, AUTO or NONE */
    CpuSpec emulator;               /* LIST or UNSET */
    CpuSpec iothreads;              /* LIST or UNSET */
    Sched scheduler;
    CpuSpec vhost;                  /* LIST, EMULATOR or NONE */
    /* vcpu.N overrides, indexed by N; owned array of n_vcpu_override */
    CpuList *vcpu_override;
    int *vcpu_override_line;        /* owned; 0 where vcpu.N was not written */
    size_t n_vcpu_override;
} CpuSection;

typedef struct MemorySection {
    SectionHead head;
    int backing;                    /* MemBacking */
    uint64_t hugepage_size;
    char *hugepage_path;            /* owned */
    bool reserve_hugepages;
    int prealloc;                   /* TRISTATE: unset means "yes with hugepages" */
    bool share, lock;
    CpuList nodes;                  /* owned; n == 0: none */
    int policy;                     /* MemPolicy */
    bool merge, migrate;
    bool dump;                      /* dump-guest-core: guest RAM in a core dump of QEMU */
} MemorySection;

typedef struct BalloonSection {
    SectionHead head;
    bool enabled, deflate_on_oom, free_page_reporting;
    uint64_t stats_period_ms;
} BalloonSection;

typedef struct HostSection {
    SectionHead head;
    int thp;                        /* ThpMode */
    int thp_defrag;                 /* ThpDefrag */
    int ksm;                        /* TRISTATE: KEEP, 0 off, 1 on */
    int ksm_merge_across_nodes;     /* TRISTATE */
    int64_t ksm_pages_to_scan;      /* -1 keep */
    int64_t ksm_sleep_ms;           /* -1 keep */
    int zone_reclaim;               /* TRISTATE */
    int irqbalance;                 /* IrqbalanceMode */
} HostSection;

typedef struct DiskSection {
    SectionHead head;
    char *file;                     /* owned */
    int format;                     /* DiskFormat */
    int bus;                        /* DiskBus */
    int cache;                      /* CacheMode */
    int aio;                        /* AioMode; DEFAULT resolved by vmconf_validate */
    bool iothread, readonly, snapshot;
    int discard;                    /* DiscardMode */
    int64_t queues;                 /* 0: vcpus */
    int scheduler;                  /* IoScheduler */
} DiskSection;

/* One `forward` entry of a user-mode NIC: PROTO:[ADDR:]HOSTPORT:GUESTPORT. */
typedef struct NetForward {
    int proto;                      /* FwdProto */
    char addr[16];                  /* dotted IPv4, 127.0.0.1 when not written */
    int host_port;                  /* 1-65535, 0: auto (a free port chosen at start) */
    int guest_port;                 /* 1-65535 */
} NetForward;

typedef struct NetForwards {
    NetForward *v;                  /* owned */
    size_t n;
} NetForwards;

typedef struct NetSection {
    SectionHead head;
    int mode;                       /* NetMode */
    NetForwards forward;            /* with mode = user */
    char *bridge;                   /* owned */
    char *tap;                      /* owned; NULL: derived */
    int64_t queues;                 /* 0: min(vcpus, 16) */
    int vhost;                      /* VhostMode */
    MacAddr mac;
    int64_t mtu;                    /* 0: from the bridge */
    int steering;                   /* TRISTATE: unset means "yes when vCPUs are pinned" */
} NetSection;

typedef struct HostNicSection {
    SectionHead head;
    CpuSpec irq_cpus;               /* LIST, LOCAL or KEEP */
    CpuSpec rps_cpus;               /* LIST, LOCAL, OFF or KEEP */
    int xps;                        /* XpsMode */
    int offloads;                   /* OffloadsMode */
} HostNicSection;

/* [share "TAG"]: a host directory the guest mounts by TAG (the section's ID). */
typedef struct ShareSection {
    SectionHead head;
    char *path;                     /* owned */
    int driver;                     /* ShareDriver */
    bool readonly;
} ShareSection;

/* [hostdev "ID"]: a host PCI device handed to the guest through vfio-pci
 * (launcher/host/hostdev.c): ADDRESS, or virtual function VF_INDEX of the
 * NIC VF_DEV. Checked by vmconf/hostdev_conf.c. */
typedef struct HostdevSection {
    SectionHead head;
    char *address;                  /* owned: DDDD:BB:DD.F, lowercase; NULL with vf */
    char *vf;                       /* owned: DEV:N as written; NULL with address */
    char *vf_dev;                   /* owned: DEV of vf (derived) */
    int64_t vf_index;               /* N of vf (derived) */
    MacAddr mac;                    /* with vf, when mac is written */
    int64_t vlan;                   /* 0: none */
} HostdevSection;

/* [cloud-init]: a NoCloud seed made per run (launcher/plan/cloudinit.c). */
typedef struct CloudInitSection {
    SectionHead head;
    char *user;                     /* owned; NULL: the image's default user */
    char *ssh_key;                  /* owned: a .pub; the private key is the path without .pub */
    char *hostname;                 /* owned; NULL: the VM's name */
    char *user_data;                /* owned: a user-data file taken as is */
    char *network_config;           /* owned */
} CloudInitSection;

/* [tpm]: a TPM 2.0 from swtpm, run as the VM's user, its state in the VM's
 * state dir (include/tpm.h). */
typedef struct TpmSection {
    SectionHead head;
    bool enabled;
} TpmSection;

/* One diagnostic: the line printed, and what it is about, so a reader (the
 * topics of `kvmlaunch check`) need not parse the text. SECTION and KEY are
 * those the message names in its "[section] key:" part; NULL where it names
 * none (a line that is no key, the file as a whole). */
typedef struct ErrEntry {
    int line;                       /* 0: about the file as a whole */
    const char *section;            /* static: the schema's name ("disk"), or NULL */
    char *key;                      /* owned: "pin", "vcpu.3", or NULL */
    char *msg;                      /* owned: the whole message, "FILE:LINE: [section] key: ..." */
} ErrEntry;

/* Collected error messages, kept in line order so a user fixes the file top
 * to bottom. */
typedef struct ErrList {
    ErrEntry *e;
    size_t n, alloc;
    bool full;                      /* ERRLIST_MAX reached: the rest was dropped */
} ErrList;

/* A 10 MB file of garbage must not print a million lines. */
#define ERRLIST_MAX 50

typedef struct VmConfig {
    char *path;                     /* owned: the file name used in messages */
    VmSection vm;
    CpuSection cpu;
    MemorySection memory;
    BalloonSection balloon;
    HostSection host;
    DiskSection *disks;             /* owned array */
    size_t n_disks;
    NetSection *nets;               /* owned array */
    size_t n_nets;
    HostNicSection *hostnics;       /* owned array */
    size_t n_hostnics;
    ShareSection *shares;           /* owned array */
    size_t n_shares;
    CloudInitSection cloudinit;     /* head.line 0: no [cloud-init], no seed */
    TpmSection tpm;
    HostdevSection *hostdevs;       /* owned array */
    size_t n_hostdevs;
    ErrList notes;                  /* remarks such as a legacy name mapped, one line each */
} VmConfig;

/* TRISTATE values of bool-or-keep and "unset means derived" keys. */
#define TRISTATE_UNSET (-1)


/* A message about no section or key (FMT writes the whole line). */
void errlist_addf(ErrList *el, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* A message FMT writes whole, about SECTION (a schema name, or NULL) and KEY
 * (copied, or NULL): for the few that errlist_add_key cannot word. */
void errlist_add_about(ErrList *el, int line, const char *section, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
void errlist_add_aboutv(ErrList *el, int line, const char *section, const char *key, const char *fmt, va_list ap)
    __attribute__((format(printf, 5, 0)));
void errlist_sort(ErrList *el);
/* "FILE:LINE: [section] key: MESSAGE" at KEY's line, or at the section
 * header's (and without " key") when KEY is NULL or was not written; every
 * message about a key is made here. */
void errlist_add_key(ErrList *el, const char *file, SectionKind kind, const SectionHead *head, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
void errlist_add_keyv(ErrList *el, const char *file, SectionKind kind, const SectionHead *head, const char *key, const char *fmt,
                      va_list ap) __attribute__((format(printf, 6, 0)));
void errlist_clear(ErrList *el);

/* Loads and validates PATH. Returns 0 and fills *cfg, or -EINVAL with every
 * problem in *errors (each a complete line), or another -errno when the file
 * cannot be read (also described in *errors). On failure *cfg is freed. */
int vmconf_load_file(const char *path, VmConfig *cfg, ErrList *errors);
/* The same from FD, opened by the caller (as another user, say); PATH names
 * it in messages. FD stays open. */
int vmconf_load_fd(int fd, const char *path, VmConfig *cfg, ErrList *errors);
/* The same on bytes in memory; NAME is used in messages. */
int vmconf_load_buffer(const char *name, const char *data, size_t size, VmConfig *cfg, ErrList *errors);
void vmconf_free(VmConfig *cfg);

/* Instance INDEX of KIND (0 for the singletons), and how many KIND has
 * (1 for the singletons). */
void *vmconf_section(VmConfig *cfg, SectionKind kind, size_t index);
size_t vmconf_section_count(const VmConfig *cfg, SectionKind kind);

/* The label of a section instance as the user wrote it: `[vm]`, `[disk "root"]`. */
const char *section_kind_name(SectionKind kind);
char *section_label(SectionKind kind, const SectionHead *head);

/* Line of KEY in the section, or the section's header line when the key was
 * not written (an error about a default still points somewhere useful). */
int section_key_line(SectionKind kind, const SectionHead *head, const char *key);
bool section_key_set(SectionKind kind, const SectionHead *head, const char *key);

/* Derived values every consumer needs the same way. */
uint64_t vmconf_disk_queues(const VmConfig *cfg, const DiskSection *d);
int64_t vmconf_net_queues(const VmConfig *cfg, const NetSection *n);
bool vmconf_vcpus_pinned(const VmConfig *cfg);
bool vmconf_net_steering(const VmConfig *cfg, const NetSection *n);
bool vmconf_prealloc(const VmConfig *cfg);
MacAddr vmconf_net_mac(const VmConfig *cfg, const NetSection *n);
char *vmconf_net_tap_name(const VmConfig *cfg, const NetSection *n);

/* [vm] machine (vmconf/machine.c): S's family (MachineType) from a word or
 * a versioned type (pc-q35-N.N, pc-i440fx-N.N); -EINVAL for anything else. */
int vmconf_machine_parse(const char *s, int *family);
/* The type as written (machine_name, else the family's word). */
const char *vmconf_machine_written(const VmSection *vm);
/* q35 or pc: an alias QEMU moves to its newest version, resolved once and
 * recorded in the state dir (include/machinetype.h). */
bool vmconf_machine_is_alias(const VmSection *vm);

#endif
