/* The other running kvmlaunch VMs, as admission sees them (issue 20): how
 * much memory each one's QEMU asked and holds, and which files it has open.
 *
 * Running VMs are found as `list` finds them: the runtime dirs under
 * runtime_base(), each with its QEMU's pid under a held lock. Everything
 * else is read from that QEMU's /proc/PID, always the real /proc (as
 * vmthreads.h does, also under a redirected HostRoot): VMs are real
 * processes. A pid whose command line is not that VM's QEMU (reused after
 * a crash) counts as gone.
 *
 * Why the open descriptors and not the disk paths of the VM's command
 * line: the descriptors are what QEMU holds now and what its image locks
 * are taken on. A file is known by its identity (device and inode, or
 * st_rdev for a block device), so two paths to one file (a symlink, a bind
 * mount, a hard link) are one file, and the backing files of a qcow2
 * chain, which QEMU opens read-only, count too. The open flags (fdinfo)
 * tell a writer from a reader; `snapshot = yes` opens the image read-only. */
#ifndef KVMLAUNCH_PEERVMS_H
#define KVMLAUNCH_PEERVMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct PeerFile {
    dev_t dev;                      /* a regular file: st_dev and st_ino */
    ino_t ino;
    dev_t rdev;                     /* a block device: st_rdev (dev, ino 0) */
    bool writable;                  /* opened O_RDWR or O_WRONLY */
} PeerFile;

typedef struct PeerVm {
    char *name;                     /* owned */
    pid_t qemu;                     /* 0: its kvmlaunch is starting, QEMU not yet there */
    int err;                        /* 0, or -errno: QEMU's /proc was unreadable (figures below are 0) */
    uint64_t memory;                /* guest RAM, bytes: the memory-backend objects of its command line */
    uint64_t hugetlb;               /* the part of MEMORY from a huge page pool (outside MemAvailable) */
    uint64_t rss;                   /* QEMU's VmRSS, bytes (huge pages are not in it) */
    PeerFile *files;                /* owned: its regular files and block devices */
    size_t n_files;
} PeerVm;

typedef struct PeerVms {
    PeerVm *v;                      /* owned, by name */
    size_t n;
} PeerVms;

/* The running VMs other than EXCEPT (may be NULL). A VM whose /proc cannot
 * be read is listed with ->err set. -errno only when the runtime base
 * cannot be listed (a missing one is no VM: 0). */
int peervms_probe(const char *except, PeerVms *out);
void peervms_free(PeerVms *p);

/* Pure: from QEMU's /proc/PID/cmdline (LEN bytes, NUL-separated), the guest
 * RAM of its memory-backend objects (-object JSON, as qemucmd.c writes
 * them), and the part of it backed by huge pages (hugetlb or a mem-path).
 * -ESRCH when its `-name guest=NAME,...` is not NAME; -ENOENT when it has
 * no memory backend. */
int peervm_parse_cmdline(const char *buf, size_t len, const char *name, uint64_t *memory, uint64_t *hugetlb);
/* Pure: the "flags:" field of /proc/PID/fdinfo/N (octal). -EINVAL without it. */
int peervm_parse_fdinfo_flags(const char *text, int *flags);
/* Pure: VmRSS of /proc/PID/status, in bytes. -ENOENT without it (a zombie). */
int peervm_parse_rss(const char *status, uint64_t *rss);

#endif
