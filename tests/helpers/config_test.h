/* Loading a vm.ini from a string in unit tests, and looking for an error
 * among the messages (test_vmconf, test_usernet, test_cloudinit). */
#pragma once

#include "vmconf.h"

/* vmconf_load_buffer of TEXT as "vm.ini"; EL starts empty. */
int config_load(const char *text, VmConfig *cfg, ErrList *el);
/* Every message of EL, a line each (the caller frees). */
char *config_all_errors(const ErrList *el);
/* Loading TEXT fails (-EINVAL) with a message that holds PHRASE; else the
 * test fails, showing what came. */
void config_expect_error(const char *text, const char *phrase);
