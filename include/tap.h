/* The VM's network side, opened by kvmlaunch so QEMU needs no network
 * privilege: a multi-queue tap per [net] (one /dev/net/tun fd per queue),
 * attached to its bridge, and a /dev/vhost-net fd per queue. */
#ifndef KVMLAUNCH_TAP_H
#define KVMLAUNCH_TAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hostroot.h"
#include "values.h"
#include "vmconf.h"

typedef struct TapQueues {
    char *name;                     /* owned */
    int *fds;                       /* owned fds, queues entries */
    int *vhost;                     /* owned fds, or NULL */
    size_t queues;
    int mtu;                        /* what the tap got (0: left alone) */
} TapQueues;

/* Checks that cannot change anything (exit 2 material): the bridge exists
 * and is a bridge; a tap that exists is a multi-queue tap (tap_open attaches
 * as one). Errors go to ERRORS as file:line lines. */
void tap_preflight(const VmConfig *cfg, ErrList *errors);

/* The MTU of BRIDGE, or 0 when unknown. */
int tap_bridge_mtu(const char *bridge);

/* Opens the queues of net N, sets it up with its MTU, attaches it to the
 * bridge, opens vhost-net when WANT_VHOST. A tap that is absent is created
 * exclusively (IFF_TUN_EXCL on the first queue) and is not persistent: it
 * goes when the last fd closes. An existing tap (an admin's persistent one)
 * is joined only while no queue is attached to it. Either way the kernel's
 * count of attached queues must be ours afterwards: a tap that someone else
 * took or joined meanwhile is -EBUSY (said), and nothing stays open. */
int tap_open(const VmConfig *cfg, const NetSection *n, bool want_vhost, TapQueues *out);
/* The queue files steered, with the mask each must hold. */
typedef struct Steering {
    struct SteerEntry { char *path; char *mask; } *e; /* owned */
    size_t n;
} Steering;

/* Points rx-i/rps_cpus of the tap at the CPU of vCPU i, and records them
 * in *ST. Not tx-i/xps_cpus: the tun driver never consults XPS. */
int tap_steer(const TapQueues *t, const VmConfig *cfg, Steering *st);
/* QEMU attaches queues past the first only when the guest enables them,
 * and the kernel makes their files anew: writes again what differs.
 * Returns how many files were written. */
int steering_refresh(const Steering *st);
void steering_free(Steering *st);
void tap_close(TapQueues *t);

/* "0-3,8" -> the kernel's hex mask "10f" (comma-separated 32-bit words
 * past 32 CPUs), as rps_cpus and xps_cpus take it. Caller frees. */
char *cpumask_format(const CpuList *l);
/* Whether two masks as the kernel writes them name the same CPUs
 * ("00000001,00000000" and "100000000"; a trailing newline is no matter). */
bool cpumask_same(const char *a, const char *b);

/* What the kernel says of an interface (RTM_GETLINK). The tap fields are
 * those of IFLA_LINKINFO/IFLA_INFO_DATA when its kind is "tun". */
typedef struct TapLink {
    bool exists;
    int master;                     /* IFLA_MASTER: the ifindex of the bridge it is a port of, 0 when none */
    bool is_tun;                    /* link kind "tun": a tun or tap device */
    bool persist;                   /* IFLA_TUN_PERSIST: made by `ip tuntap add` */
    bool tun_info;                  /* IFLA_INFO_DATA came (Linux >= 4.19): the fields below are known */
    bool multi_queue;               /* IFLA_TUN_MULTI_QUEUE */
    bool queues_known;              /* IFLA_TUN_NUM_QUEUES came: a multi-queue tap's alone has it */
    uint32_t queues;                /* descriptors attached: IFLA_TUN_NUM_QUEUES + IFLA_TUN_NUM_DISABLED_QUEUES */
} TapLink;

/* The answer to an RTM_GETLINK request, as received (LEN bytes of netlink
 * messages): *OUT filled; 0, -ENODEV for an NLMSG_ERROR saying no such
 * device (then exists is false), another -errno the kernel sent, or
 * -EBADMSG for bytes that are no such answer. */
int tap_link_parse(const void *buf, size_t len, TapLink *out);
/* Asks the kernel (rtnetlink, in kvmlaunch's network namespace) about
 * NAME. 0 with exists false when there is no such interface; -errno
 * (not said) when the kernel could not be asked. */
int tap_link_query(const char *name, TapLink *out);

/* A NIC of a running kvmlaunch VM: a tap its QEMU (or its
 * supervisor, while it starts) holds a descriptor of. */
typedef struct VmNic {
    char *vm;                       /* owned: the VM's name */
    char *net;                      /* owned: its [net] ID, or NULL when QEMU's command line did not say */
    char *tap;                      /* owned */
    char *bridge;                   /* owned: the bridge the tap is a port of now, or NULL (also when the tap is in another namespace) */
    MacAddr mac;                    /* the guest's MAC, when mac_known */
    bool mac_known;
} VmNic;

typedef struct VmNics {
    VmNic *v;                       /* owned */
    size_t n;
    StrVec running;                 /* every running VM probed, also one whose taps are not known */
    bool unreadable;                /* the descriptors of one of them could not be read (not root) */
} VmNics;

/* The NICs of the running VMs other than EXCEPT (NULL: all), from their runtime dirs
 * (runtime_base()): the supervisor's and QEMU's pids, the tap each of
 * their descriptors is attached to (/proc/PID/fdinfo/FD, "iff:"), the
 * guest's MAC from QEMU's command line (-netdev fds and -device mac), the
 * tap's bridge from rtnetlink (in kvmlaunch's network namespace, whatever
 * /sys shows). Reads only; what cannot be read (a process of
 * another user when kvmlaunch is not root) is left out. */
void tap_probe_others(const HostRoot *hr, const char *except, VmNics *out);
void vmnics_free(VmNics *nics);

/* One -netdev of type tap in a QEMU command line, with the -device on it. */
typedef struct QemuNet {
    char *id;                       /* owned: the netdev id */
    int first_fd;                   /* its first tap descriptor ("fds"), -1 when none */
    MacAddr mac;
    bool mac_known;
} QemuNet;
/* Parses a command line as /proc/PID/cmdline has it (LEN bytes, each
 * argument NUL-terminated) for kvmlaunch's JSON -netdev and -device
 * arguments. Returns how many; *OUT (caller frees with qemu_nets_free). */
size_t tap_qemu_nets(const char *cmdline, size_t len, QemuNet **out);
void qemu_nets_free(QemuNet *v, size_t n);
/* The tap a /proc/PID/fdinfo/FD text names ("iff:\tNAME"), or NULL.
 * Caller frees. */
char *tap_fdinfo_iff(const char *fdinfo);

/* The taps of CFG as probed (LINKS: one per [net], NULL when not probed)
 * against the other running VMs (OTHERS, may be NULL): a tap with queues
 * attached, or held by another VM, and a MAC another VM uses on the same
 * bridge go to ERRORS; a tap whose use cannot be told goes to WARNINGS.
 * Each line names the holder when it is known. What CFG's own VM holds
 * (it runs already) is no matter here: its start stops at its lock. */
void tap_judge(const VmConfig *cfg, const TapLink *links, const VmNics *others, ErrList *errors, ErrList *warnings);

#endif
