/* NUMA after QEMU started: move its pages onto [memory] nodes (like
 * migratepages) and report where its memory lies (from numa_maps). */
#ifndef KVMLAUNCH_NUMA_PLACE_H
#define KVMLAUNCH_NUMA_PLACE_H

#include <stdint.h>
#include <sys/types.h>

#include "hostroot.h"
#include "values.h"

/* Moves PID's pages that lie off NODES onto them (libnuma). Returns the
 * number of pages that could not be moved, or -errno. */
int numa_place_migrate(pid_t pid, const CpuList *nodes);
/* Logs one line: how much of PID's memory lies on each node. */
int numa_place_report(const HostRoot *hr, pid_t pid);

/* What `migrate = yes` did, from numa_maps before and after. */
typedef struct MigrateResult {
    uint64_t off_before, off_after; /* bytes on nodes not asked for */
    uint64_t moved;                 /* off_before - off_after */
    int unmoved_pages;              /* migrate_pages' answer, or -errno */
} MigrateResult;

#define NUMA_MIGRATE_FILE "migrate.json"

/* `migrate = yes`: PID's pages by node (numa_maps, through PROC) before and
 * after moving them onto NODES (through PROC's ops), in one log line and in
 * the runtime dir's NUMA_MIGRATE_FILE ({"nodes", "before": {"NODE": bytes},
 * "after", "moved_bytes", "off_nodes_bytes", "error"}) for `status`; a
 * warning when pages still lie off NODES. 0, or -errno (said). */
int numa_place_migrate_report(const HostRoot *proc, int rundir_fd, pid_t pid, const CpuList *nodes, MigrateResult *out);

#endif
