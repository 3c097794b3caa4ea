/* [share "TAG"]: a host directory in the guest (CONFIG.md), by virtiofs or
 * 9p. The plan part is pure (launcher/plan/qemucmd_share.c): which driver,
 * QEMU's arguments, the guest RAM virtiofs needs shareable; the run part
 * (launcher/vm/virtiofsd.c) starts one virtiofsd per virtiofs share before
 * QEMU, places it with the emulator, and stops it with the VM.
 *
 * virtiofsd is QEMU 7.2's C daemon (/usr/lib/qemu/virtiofsd on Debian 12).
 * Its sandboxes (namespace: its own mount, pid and net namespaces and
 * pivot_root into the directory; chroot) both need root, and as any other
 * user it cannot serve the guest's files under the guest's uids (it
 * changes its fsuid per request). So kvmlaunch runs it as root with
 * -o sandbox=namespace: the least privilege that works, and its own
 * seccomp filter and capability set (chown, dac_override, fowner, fsetid,
 * setgid, setuid, mknod, setfcap) narrow it further. A file the guest
 * writes lands with the guest's uid and gid. readonly = yes: virtiofsd 7.2
 * has no such option, so it runs in a private mount namespace of its own
 * where PATH is a read-only bind mount: the kernel refuses every write
 * (EROFS). 9p is served by QEMU itself, as [vm] user, security_model=none:
 * files land as that user, the guest's chown is ignored. */
#ifndef KVMLAUNCH_SHARE_H
#define KVMLAUNCH_SHARE_H

#include <stdbool.h>
#include <sys/types.h>

#include "hostfacts.h"
#include "strvec.h"
#include "vmconf.h"

/* Where Debian and Fedora put the C virtiofsd; the first executable one. */
#define SHARE_VIRTIOFSD_PATHS { "/usr/lib/qemu/virtiofsd", "/usr/libexec/virtiofsd" }

/* Probe: the virtiofsd to run, or NULL (caller frees). With HONOUR_ENV,
 * KVMLAUNCH_VIRTIOFSD names another (a test's "none" hides it: the 9p
 * default); the probe passes false when kvmlaunch acts for another user
 * (sudo), as the binary named would run as full root. */
char *share_find_virtiofsd(bool honour_env);

/* Pure: the driver share SH gets: as written, or virtiofs where a
 * virtiofsd was found and kvmlaunch runs as root, else 9p. */
ShareDriver share_driver(const HostFacts *facts, const ShareSection *sh);
/* Whether any share is served by virtiofs: the guest's RAM must then be
 * shareable (memfd or a file, share=on). */
bool share_needs_shared_ram(const VmConfig *cfg, const HostFacts *facts);
/* The vhost-user socket of share number INDEX (in file order):
 * RUNTIME_DIR/vfs-INDEX.sock; by number, not TAG, so that the longest NAME
 * and TAG still fit a socket path's 108 bytes. */
char *share_socket_path(const char *runtime_dir, size_t index);
/* Where share INDEX's virtiofsd sees it: RUNTIME_DIR/vfs-INDEX.root, a
 * directory (0700) that is a mountpoint in virtiofsd's namespace alone. */
char *share_root_path(const char *runtime_dir, size_t index);

/* Pure: -fsdev/-chardev and -device for every share into ARGV; problems
 * (virtiofs asked where it cannot run, [memory] share = no beside a virtiofs
 * share) as file:line ERRORS, the RAM made shareable as a NOTE. */
void qemucmd_add_shares(const VmConfig *cfg, const HostFacts *facts, StrVec *argv, ErrList *errors, ErrList *notes);
/* For --dry-run: one "# share ..." line per share (driver, who serves it,
 * socket and fd, the RAM backend), "" without shares; caller frees. */
char *share_render_plan(const VmConfig *cfg, const HostFacts *facts);

/* The virtiofsds of a run. */
typedef struct Virtiofsd {
    const char *tag;                /* the share's ID (cfg's) */
    pid_t pid;                      /* 0: not running (never started, or reaped) */
    int qemu_fd;                    /* ours until the spawn: QEMU's end, connected to virtiofsd */
    bool reported;                  /* its end was logged */
    char *root;                     /* owned: RUNTIME_DIR/vfs-N.root, where its private mount namespace binds the share */
} Virtiofsd;

typedef struct VirtiofsdSet {
    Virtiofsd *d;                   /* owned, one per virtiofs share */
    size_t n;
} VirtiofsdSet;

/* Starts a virtiofsd per virtiofs share, as root, its listening socket in
 * RUNTIME_DIR, on the [cpu] emulator CPUs; QEMU's connected end is in
 * each qemu_fd. On failure what was started is in *set, for
 * virtiofsd_stop. */
int virtiofsd_start(const VmConfig *cfg, const HostFacts *facts, VirtiofsdSet *set);
/* Moves each virtiofsd (and the process it forks for its sandbox) into
 * EMULATOR_CGROUP/cgroup.procs through HR; NULL: no cgroup. */
int virtiofsd_place(const HostRoot *hr, const VirtiofsdSet *set, const char *emulator_cgroup);
/* Reaps the virtiofsds that ended and logs each end once (the supervisor
 * calls it on SIGCHLD). */
void virtiofsd_reap(VirtiofsdSet *set);
/* Kills (SIGTERM, then SIGKILL after a grace) and reaps every virtiofsd
 * still running, closes their fds and frees the set. */
void virtiofsd_stop(VirtiofsdSet *set);

#endif
