/* The commands about running VMs: list, status, stop, cleanup. */
#ifndef KVMLAUNCH_COMMANDS_H
#define KVMLAUNCH_COMMANDS_H

#include <stdbool.h>

int cmd_list(void);
int cmd_status(const char *name, bool json);
int cmd_stop(const char *name);
int cmd_cleanup(const char *name);

#endif
