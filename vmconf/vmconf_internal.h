/* Shared between the files of vmconf/ only. */
#ifndef KVMLAUNCH_VMCONF_INTERNAL_H
#define KVMLAUNCH_VMCONF_INTERNAL_H

#include "vmconf.h"

/* Cross-key checks and derived defaults, after every key was read. With
 * LINES_REFUSED, a missing section or key is not reported where a refused
 * line may have held it. */
void vmconf_validate(VmConfig *cfg, ErrList *errors, bool lines_refused);

/* [net] number I: mode = user refuses the tap's keys, forward needs it,
 * and no two forwards take one host port (vmconf/netuser.c). */
void vmconf_check_net_user(const VmConfig *cfg, size_t i, ErrList *errors);

/* [hostdev] sections: one of address and vf, each well formed; mac and
 * vlan only with vf; no device twice; a PCI bus to put them on
 * (vmconf/hostdev_conf.c). Fills the derived vf_dev and vf_index. */
void vmconf_check_hostdevs(VmConfig *cfg, ErrList *errors);
/* [vm] restart-limit: N/DURATION into *OUT, or -EINVAL with what was
 * expected in ERR (vmconf/crash.c). */
int vmconf_parse_restart_limit(const char *s, RestartLimit *out, char *err);

/* [vm] on-crash and watchdog against the machine: microvm has neither the
 * pvpanic device nor PCI for a watchdog (vmconf/crash.c). */
void vmconf_check_crash(const VmConfig *cfg, ErrList *errors);

#endif
