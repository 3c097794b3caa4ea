/* NUMA after QEMU started: move its pages onto [memory] nodes (like
 * migratepages) and report where its memory lies (from numa_maps). */
#ifndef KVMLAUNCH_NUMA_PLACE_H
#define KVMLAUNCH_NUMA_PLACE_H

#include <sys/types.h>

#include "hostroot.h"
#include "values.h"

/* Moves PID's pages that lie off NODES onto them (libnuma). Returns the
 * number of pages that could not be moved, or -errno. */
int numa_place_migrate(pid_t pid, const CpuList *nodes);
/* Logs one line: how much of PID's memory lies on each node. */
int numa_place_report(const HostRoot *hr, pid_t pid);

#endif
