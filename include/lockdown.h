/* The supervisor's own privilege drop, once the guest runs: every
 * capability but the few it still uses, no_new_privs, and a seccomp
 * allowlist of the syscalls that supervision and teardown make. */
#ifndef KVMLAUNCH_LOCKDOWN_H
#define KVMLAUNCH_LOCKDOWN_H

#include <seccomp.h>
#include <stdint.h>

/* The capabilities the supervisor keeps (as a CapEff bit mask); launcher/
 * lockdown.c says why each one is there. */
uint64_t lockdown_kept_capabilities(void);
/* For a VM with a [hostdev]: the supervisor also keeps what putting its
 * devices back needs (CAP_CHOWN, CAP_FOWNER, readlinkat, fchownat,
 * fchmodat). Call before lockdown_supervisor. */
void lockdown_allow_hostdevs(void);

/* Builds the allowlist into a new context (default action: kill the whole
 * process). The caller owns *out (seccomp_release). Loads nothing: tests
 * export it with seccomp_export_pfc. */
int lockdown_build_filter(scmp_filter_ctx *out);

/* Builds the filter, drops every capability but the kept ones (those the
 * process holds) from the effective, permitted, inheritable, ambient and
 * bounding sets (the uid stays 0), sets no_new_privs and loads the filter.
 * Irreversible and for a single-threaded process: call once, after the
 * last fork and exec. */
int lockdown_supervisor(void);

#endif
