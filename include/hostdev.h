/* [hostdev "ID"]: host PCI devices handed to the guest through vfio-pci
 * (CONFIG.md, docs/PASSTHROUGH.md).
 *
 * Probe (hostdev_probe): through the HostRoot, so test trees stand in for
 * /sys: the IOMMU (on, interrupt remapping), each device's IOMMU group and
 * every member's driver, a VF's physical function and SR-IOV counts, and
 * what the host still uses (a NIC carrying a route or an address, a disk
 * controller with a mounted disk). A refusal is a problem text that check
 * prints as a FAIL and the run refuses with exit 2, before anything.
 *
 * Apply (hostdev_apply): VFs made (sriov_numvfs), their MAC and VLAN set
 * on the PF (netlink), every endpoint of each group bound to vfio-pci
 * (driver_override, unbind, drivers_probe) and the group's /dev/vfio/N
 * given to QEMU's user. Each change is recorded first in the journal
 * host.hostdevs (journal.h) with what putting it back needs, so the end of
 * the VM, `kvmlaunch cleanup` after a crash, or the next start binds the
 * original drivers back, byte for byte as recorded. */
#ifndef KVMLAUNCH_HOSTDEV_H
#define KVMLAUNCH_HOSTDEV_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "hostroot.h"
#include "vmconf.h"

#define HOSTDEV_STATE_FILE "host.hostdevs"
#define HOSTDEV_STATE_KEY "hostdevs"

typedef struct PciMember {
    char *addr;                     /* owned: DDDD:BB:DD.F */
    char *driver;                   /* owned: bound driver's name, or NULL */
    unsigned class_code;            /* 0x020000: an Ethernet controller */
    bool bridge;                    /* a PCI bridge: left on its driver (vfio allows it) */
    char *in_use;                   /* owned: what of the host relies on it, or NULL */
} PciMember;

typedef struct HostdevFacts {
    char *addr;                     /* owned: the device (a VF's, computed when it is still to be made) */
    char *pf_addr;                  /* owned, with vf: the physical function */
    int vf_total, vf_num;           /* with vf: sriov_totalvfs, sriov_numvfs */
    bool vf_make;                   /* with vf: sriov_numvfs is to be raised to vf_index + 1 */
    int group;                      /* its IOMMU group, -1 when unknown */
    PciMember *members;             /* owned: the group's devices, the device among them */
    size_t n_members;
    int numa_node;                  /* -1: none or unknown */
    CpuList node_cpus;              /* owned: that node's CPUs (empty when unknown) */
    char *problem;                  /* owned: why the run would refuse it ("expected ..., found ..."), or NULL */
} HostdevFacts;

typedef struct HostdevProbe {
    bool iommu_on;                  /* /sys/kernel/iommu_groups has groups */
    int intremap;                   /* interrupt remapping: 1 on, 0 off, -1 unknown */
    const char *iommu_param;        /* the kernel parameter that turns the IOMMU on here */
    bool vfio_loaded;               /* /sys/bus/pci/drivers/vfio-pci is there */
    HostdevFacts *devs;             /* owned, one per [hostdev], in file order */
    size_t n;
} HostdevProbe;

/* The IOMMU alone (iommu_on, intremap, iommu_param, vfio_loaded): for
 * `kvmlaunch host`. */
void hostdev_probe_iommu(const HostRoot *hr, HostdevProbe *out);

/* Looks at the host for CFG's [hostdev] sections (none: an empty probe). */
void hostdev_probe(const HostRoot *hr, const VmConfig *cfg, HostdevProbe *out);
void hostdev_probe_free(HostdevProbe *p);

/* The last component of the symlink PATH ("virtio-pci" for a driver
 * link), or NULL when there is none; through the HostRoot. Caller frees. */
char *hostdev_link_base(const HostRoot *hr, const char *path);

/* "0000:01:00.0 (virtio-pci), 0000:00:03.0 (pcieport, a bridge)": caller frees. */
char *hostdev_members_text(const HostdevFacts *f);

/* Guest memory plus what VFIO pins besides it (libvirt's 1 GiB): QEMU's
 * RLIMIT_MEMLOCK with a [hostdev]. */
uint64_t hostdev_memlock(const VmConfig *cfg);

/* Makes CFG's VFs, binds its groups to vfio-pci and gives each group's
 * node to UID:GID, recording each change first. Nothing half-done: on a
 * failure what this call changed is put back (-ENOTRECOVERABLE where that
 * failed too, still recorded). */
int hostdev_apply(const HostRoot *hr, const VmConfig *cfg, const HostdevProbe *p, uid_t uid, gid_t gid);
/* VM NAME no longer relies on its devices: what nobody else relies on goes back. */
int hostdev_restore(const HostRoot *hr, const char *name);
/* What VMs that are gone left behind goes back. */
int hostdev_replay_dead(const HostRoot *hr);

/* The netlink request (RTM_SETLINK on the PF, IFLA_VFINFO_LIST) that sets
 * VF's MAC (MAC non-NULL) and VLAN (VLAN >= 0; 0 clears it) into BUF of
 * SIZE bytes: its length, or -ENOSPC. Pure; exposed for its unit test. */
int hostdev_vf_request(void *buf, size_t size, uint32_t seq, int pf_ifindex, int vf, const uint8_t *mac, int vlan);

#endif
