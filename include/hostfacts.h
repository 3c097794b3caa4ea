/* What kvmlaunch learned about the host before planning: the few facts the
 * command line depends on. Probing fills it; tests fill it by hand. */
#ifndef KVMLAUNCH_HOSTFACTS_H
#define KVMLAUNCH_HOSTFACTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hostdev.h"
#include "cgroup.h"
#include "hostroot.h"
#include "spawn.h"
#include "tap.h"
#include "usernet.h"
#include "vmconf.h"

typedef enum { STDOUT_TERMINAL, STDOUT_PIPE, STDOUT_OTHER } StdoutKind;

typedef struct DiskFacts {
    bool exists;
    bool is_block;                  /* a block device: host_device, not file */
    int detected_format;            /* DiskFormat: QCOW2 when the magic is there, else RAW */
} DiskFacts;

/* The descriptor numbers QEMU will find its tap queues and vhost-net
 * devices at (the spawner puts them there). */
typedef struct NetFds {                 /* queues = 0 for mode = user: nothing to pass */
    int *tap;                       /* owned, queues entries */
    int *vhost;                     /* owned, queues entries; NULL without vhost */
    size_t queues;
} NetFds;

/* What the host can give a VM's memory (issue 20: memory admission), from
 * /proc/meminfo and /proc/sys/vm/overcommit_memory through the HostRoot. */
typedef struct MemFacts {
    bool known;                     /* /proc/meminfo read, with MemAvailable */
    uint64_t total, available;      /* MemTotal, MemAvailable: bytes */
    uint64_t commit_limit, committed; /* CommitLimit, Committed_AS: bytes (0 when absent) */
    int overcommit;                 /* vm.overcommit_memory: 0 heuristic, 1 always, 2 strict; 0 when unreadable (the kernel's default) */
    bool overcommit_known;
} MemFacts;

/* What kvmlaunch was given (issue 22: under a scheduler): the CPUs and
 * memory nodes it may use, from its own affinity and its cpuset cgroup's
 * effective sets. pin = auto chooses inside them; an explicit pin or node
 * outside them fails check and the run. */
typedef struct AllocFacts {
    bool cpus_known, mems_known;
    CpuList cpus;                   /* owned, sorted: affinity ∩ the cgroup's effective CPUs */
    CpuList mems;                   /* owned, sorted: the cgroup's effective memory nodes (or Mems_allowed) */
    char *cpus_from;                /* owned: where CPUS comes from, for messages */
    char *mems_from;                /* owned: where MEMS comes from */
} AllocFacts;

/* Reads the allocation through HR: the affinity (sched_getaffinity; a
 * redirected root's /proc/self/status Cpus_allowed_list instead), and the
 * effective cpuset of CGL's own cgroup (v1 cpuset.effective_cpus/_mems, v2
 * cpuset.cpus.effective/.mems.effective, from the nearest cgroup up that
 * has them). What cannot be read is unknown, not empty. */
void hostfacts_probe_allocation(const HostRoot *hr, const CgroupLayout *cgl, AllocFacts *a);
/* "CPUs 1 (kvmlaunch's affinity ...), memory nodes 0 (...)"; caller frees. */
char *allocfacts_describe(const AllocFacts *a);
void allocfacts_free(AllocFacts *a);

typedef struct HostFacts {
    bool kvm_usable;                /* /dev/kvm opens read-write for QEMU (as [vm] user, with its groups) */
    char *kvm_checked_as;           /* owned: the user it was tried as; NULL: as kvmlaunch */
    int kvm_err;                    /* 0, or -errno of that open (-ENOENT: no /dev/kvm) */
    bool kvm_stat_known;            /* /dev/kvm is there: its mode and group below */
    mode_t kvm_mode;
    gid_t kvm_gid;
    char *kvm_group;                /* owned: the name of its group (the number when it has none) */
    /* Who QEMU runs as ([vm] user, found in the user database): its uid,
     * primary gid and the groups the group database gives it (getgrouplist,
     * the primary gid among them), which QEMU keeps, as libvirt's qemu user
     * does; nothing more. The spawner and every open "as QEMU" use these. */
    bool user_known;
    uid_t qemu_uid;
    gid_t qemu_gid;
    gid_t *qemu_groups;             /* owned */
    char **qemu_group_names;        /* owned, n_qemu_groups entries: name, or the number */
    size_t n_qemu_groups;
    bool vhost_net_usable;          /* /dev/vhost-net opens read-write */
    bool running_as_root;
    StdoutKind stdout_kind;
    char *qemu_binary;              /* owned: the emulator to exec */
    char *runtime_dir;              /* owned: BASE/NAME (runtime_base()) */
    int qmp_fd;                     /* QEMU's end of the QMP socketpair */
    int status_fd;                  /* a listening socket: the second monitor, for `kvmlaunch status` */
    int control_fd;                 /* a listening socket: the third monitor, for qmp, balloon and pin (vmlive.h) */
    int serial_fd;                  /* QEMU's end of the serial socket pair (serialrelay.h), or -1 with serial = none */
    int seed_fd;                    /* the cloud-init seed, read-only, or -1 without [cloud-init] */
    char *machine_type;             /* owned: the versioned type q35/pc stands for (machinetype.h); NULL: as written */
    int machine_source;             /* MachineSource */
    int agent_fd;                   /* a listening socket: the guest agent's channel (agent.h), or -1 without [vm] guest-agent */
    int fw_code_fd, fw_vars_fd;     /* UEFI code (read-only) and the VM's vars (read-write), or -1 (firmware.h) */
    DiskFacts *disks;               /* owned, one per [disk], in file order */
    size_t n_disks;
    NetFds *nets;                   /* owned, one per [net], in file order */
    size_t n_nets;
    int *bridge_mtu;                /* owned, one per [net]: its bridge's MTU, 0 when unknown */
    TapLink *tap_links;             /* owned, one per [net]: its tap as the kernel has it; NULL: not probed */
    VmNics other_nics;              /* the taps and MACs of the other running VMs (probed with a [net] only) */
    MemFacts mem;
    AllocFacts alloc;               /* filled by vmplan_probe (it needs the cgroup layout) */
    UserNetFacts *user_nets;        /* owned, one per [net] (none for a tap); NULL: not probed */
    int unpriv_port_start;          /* net.ipv4.ip_unprivileged_port_start; -1: unknown */
    char *virtiofsd;                /* owned: the virtiofsd to run (include/share.h), or NULL */
    int *share_fd;                  /* owned, one per [share]: where QEMU finds its virtiofsd connection, -1 with 9p */
    size_t n_share_fd;
    HostdevProbe hostdev;           /* the [hostdev] sections' devices (hostdev.h) */
    char *swtpm;                    /* owned: the swtpm to run with [tpm] enabled (include/tpm.h), or NULL */
    int tpm_fd;                     /* QEMU's end of swtpm's control socket pair, or -1 without [tpm] */
    unsigned tsc_khz;               /* the host's TSC rate (boottime.h), probed for microvm only; 0: unknown */
} HostFacts;

/* QEMU's identity in FACTS as spawn and spawn_open_as_id take it: ids
 * and groups when kvmlaunch runs as root and [vm] user is known; else no
 * change of ids (QEMU is kvmlaunch's user). Points into FACTS. */
SpawnIdentity hostfacts_qemu_identity(const HostFacts *facts);
/* "kvmlaunch (uid 999, gid 999, groups kvmlaunch, kvm)" for messages; caller frees. */
char *hostfacts_qemu_identity_text(const HostFacts *facts, const char *user);

/* Looks at the host: QEMU's user and its groups, /dev/kvm and
 * /dev/vhost-net through HR (as `host` does; /dev/kvm as QEMU's identity
 * when kvmlaunch runs as root), stdout, each disk
 * file (exists, block device, qcow2 magic), the emulator on PATH. Reads
 * only. */
void hostfacts_probe_in(const HostRoot *hr, const VmConfig *cfg, HostFacts *facts);
/* The memory figures alone (part of hostfacts_probe_in). */
void hostfacts_probe_memory(const HostRoot *hr, MemFacts *m);
/* Pure: the figures of a /proc/meminfo text into M (known, total,
 * available, commit_limit, committed); -ENOENT without MemAvailable (Linux
 * before 3.14, or a test tree without it): then M->known stays false. */
int memfacts_parse_meminfo(const char *text, MemFacts *m);
/* The same through a HostRoot of its own (hostroot_open). */
void hostfacts_probe(const VmConfig *cfg, HostFacts *facts);
/* The descriptor layout QEMU gets: QMP at 3, the status monitor's listening
 * socket at 4, the serial socket pair next unless serial = none, then each
 * NIC's tap queues and its vhost-net devices, then each virtiofs share's
 * connection to its virtiofsd, then the control monitor's socket,
 * then the cloud-init seed, swtpm's control socket, the guest agent's socket, and last the UEFI code and vars. Pure; used by --dry-run and
 * the spawner. */
void hostfacts_assign_fds(const VmConfig *cfg, HostFacts *facts);
void hostfacts_free(HostFacts *facts);

/* Where the serial console goes: [vm] serial, with the default resolved
 * (stdout with a terminal or a pipe, else serial.log in the runtime dir,
 * which the run opens inside that dir, kvmlaunch's own: seriallog.h).
 * *path (caller frees) is set for SERIAL_FILE. */
SerialKind hostfacts_serial(const VmConfig *cfg, const HostFacts *facts, char **path);

#endif
