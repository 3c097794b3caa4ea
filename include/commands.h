/* The commands about running VMs: list, status, stop, cleanup; and `host`
 * (launcher/cli/hostreport.c), the host they run on. */
#ifndef KVMLAUNCH_COMMANDS_H
#define KVMLAUNCH_COMMANDS_H

#include <stdbool.h>

int cmd_list(void);
int cmd_status(const char *name, bool json);
int cmd_stop(const char *name);
int cmd_cleanup(const char *name);
/* `kvmlaunch console NAME` (launcher/cli/console.c): the terminal on the
 * VM's serial console until Ctrl-] or the VM's end: 0; 1 when it is not
 * running, has no console, or another client is attached. */
int cmd_console(const char *name);
/* `kvmlaunch host [--json]`: 0, or 1 when the host root or
 * /sys/devices/system/cpu/online cannot be read. */
int cmd_host(bool json);
/* ARGV is {"host"} or {"host", "--json"}; anything else is a usage error
 * (2). */
int cmd_host_main(int argc, char **argv);

#endif
