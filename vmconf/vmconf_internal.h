/* Shared between the files of vmconf/ only. */
#ifndef KVMLAUNCH_VMCONF_INTERNAL_H
#define KVMLAUNCH_VMCONF_INTERNAL_H

#include "vmconf.h"

/* Instance INDEX of KIND (0 for the singletons). */
void *vmconf_section(VmConfig *cfg, SectionKind kind, size_t index);
/* Cross-key checks and derived defaults, after every key was read. With
 * LINES_REFUSED, a missing section or key is not reported where a refused
 * line may have held it. */
void vmconf_validate(VmConfig *cfg, ErrList *errors, bool lines_refused);

#endif
