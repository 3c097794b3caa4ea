/* `kvmlaunch host` (CONFIG.md): the host's topology and tuning state, read
 * in one probe into a json-c object. That object is the data model:
 * `kvmlaunch host --json` prints it as it is, the human form is rendered
 * from it (hostreport.h), and docs/HOST.md documents every field. Adding a
 * field keeps HOSTINFO_VERSION; renaming, removing or changing the meaning
 * of one raises it.
 *
 * Everything under /sys, /proc and /dev is read through the HostRoot, so a
 * test tree decides the whole report, except the VMs kvmlaunch runs: their
 * runtime dirs are under runtime_base() and their threads are real
 * processes, read from the real /proc (vmthreads.h). Only reads; opening
 * /dev/kvm, /dev/vhost-net and /dev/net/tun read-write (closed at once) is
 * the one thing that is more than a read, and it changes nothing. */
#ifndef KVMLAUNCH_HOSTINFO_H
#define KVMLAUNCH_HOSTINFO_H

#include <json-c/json.h>

#include "hostroot.h"

#define HOSTINFO_VERSION 1

/* *out (owned: json_object_put) is the report. A file the kernel may lack
 * is a null field or an empty list, never an error; only an unreadable
 * /sys/devices/system/cpu/online fails (-errno, logged). */
int hostinfo_probe(const HostRoot *hr, json_object **out);

#endif
