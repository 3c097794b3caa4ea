/* [tpm] (CONFIG.md): a TPM 2.0 for the guest, emulated by swtpm. The plan
 * part is pure (launcher/plan/qemucmd_tpm.c): QEMU's -chardev, -tpmdev
 * emulator and -device (tpm-crb on q35, tpm-tis on pc; microvm is refused
 * on loading), and swtpm's own command line. The run part
 * (launcher/vm/swtpm.c) starts swtpm before QEMU, places it with the
 * emulator, and stops it with the VM.
 *
 * swtpm runs as the VM's user (QEMU's uid, gid and supplementary groups),
 * with no capabilities and no_new_privs, and keeps the TPM's state (its
 * seeds, NV, persistent objects) in STATE-DIR/tpm, a directory of that
 * user's (0700). It writes that state itself, each file through a
 * temporary file and a rename, so a kill at any moment leaves the old
 * state or the new one. Its control channel is one end of a socket pair,
 * passed as an fd (--ctrl type=unixio,clientfd=3); QEMU gets the other
 * end (-chardev socket,fd=N) and hands swtpm the data channel over it.
 * Nothing of it has a path in the runtime dir. swtpm ends when QEMU goes
 * (--terminate: the data channel QEMU was handed is lost; measured: "Data
 * client disconnected", then exit 0), when kvmlaunch dies (PDEATHSIG, armed
 * after the id change: before QEMU connected, a closed control channel
 * alone does not end swtpm 0.7), and on the undo path (swtpm_stop). */
#ifndef KVMLAUNCH_TPM_H
#define KVMLAUNCH_TPM_H

#include <stdbool.h>
#include <sys/types.h>

#include "hostfacts.h"
#include "hostroot.h"
#include "strvec.h"
#include "vmconf.h"

/* Where Debian (package swtpm) and a local build put swtpm. */
#define TPM_SWTPM_PATHS { "/usr/bin/swtpm", "/usr/local/bin/swtpm" }
/* The TPM's directory inside the VM's state dir. */
#define TPM_STATE_SUBDIR "tpm"
/* swtpm's end of the control socket pair, in swtpm. */
#define TPM_SWTPM_CTRL_FD 3

/* Probe: the swtpm to run, or NULL (caller frees). With HONOUR_ENV,
 * KVMLAUNCH_SWTPM names another (a test's "none" hides it); the probe
 * passes false when kvmlaunch acts for another user (sudo). */
char *tpm_find_swtpm(bool honour_env);
/* Pure: the TPM's state directory, STATE-DIR/tpm ([vm] state-dir); caller
 * frees. */
char *tpm_state_path(const VmConfig *cfg);

/* Pure: -chardev, -tpmdev and -device into ARGV when [tpm] enabled (QEMU
 * finds its control connection at FACTS->tpm_fd); nothing otherwise. A
 * state dir swtpm's option syntax cannot carry (a comma) is a file:line
 * ERROR. */
void qemucmd_tpm(const VmConfig *cfg, const HostFacts *facts, StrVec *argv, ErrList *errors);
/* Pure: swtpm's argv (argv[0] is FACTS->swtpm, or "swtpm" when none was
 * found) with its state in tpm_state_path(). */
void tpm_swtpm_argv(const VmConfig *cfg, const HostFacts *facts, StrVec *argv);
/* For --dry-run: "# tpm ..." with who runs swtpm, where its state is and
 * its command line; "" without [tpm]; caller frees. */
char *tpm_render_plan(const VmConfig *cfg, const HostFacts *facts);

/* The swtpm of a run. */
typedef struct Swtpm {
    pid_t pid;                      /* 0: not running (never started, or reaped) */
    int qemu_fd;                    /* ours until the spawn: QEMU's end of the control socket pair */
    bool reported;                  /* its end was logged */
} Swtpm;

#define SWTPM_INIT { .pid = 0, .qemu_fd = -1, .reported = false }

/* Makes tpm/ in the state dir STATE_FD holds as the VM's user (0700; kept
 * when it exists: it is tpm_state_path()) and
 * starts swtpm there as that user, on the [cpu] emulator CPUs; QEMU's end
 * of the control channel is in t->qemu_fd. 0 or -errno (logged); what was
 * started is in *t, for swtpm_stop. */
int swtpm_start(const VmConfig *cfg, const HostFacts *facts, int state_fd, Swtpm *t);
/* Moves swtpm into EMULATOR_CGROUP/cgroup.procs through HR; NULL: no cgroup. */
int swtpm_place(const HostRoot *hr, const Swtpm *t, const char *emulator_cgroup);
/* Reaps swtpm when it ended and logs that once (the supervisor calls it). */
void swtpm_reap(Swtpm *t);
/* Closes QEMU's end, asks swtpm to end (SIGTERM), SIGKILL after a
 * grace, and reaps it. */
void swtpm_stop(Swtpm *t);

#endif
