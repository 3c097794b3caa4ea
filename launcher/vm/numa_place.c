/* NUMA placement after start (include/numa_place.h). */
#include "numa_place.h"

#include <errno.h>
#include <inttypes.h>
#include <numa.h>
#include <stdio.h>
#include <string.h>

#include "kfiles.h"
#include "log.h"
#include "util.h"

int numa_place_migrate(pid_t pid, const CpuList *nodes) {
    if (numa_available() < 0) return log_error_errno(-ENOSYS, "NUMA is not available on this host: pages cannot be migrated");
    struct bitmask *to = numa_allocate_nodemask();
    for (size_t i = 0; i < nodes->n; i++) numa_bitmask_setbit(to, (unsigned)nodes->cpu[i]);
    /* From every node the process may use to the asked ones. */
    int r = numa_migrate_pages(pid, numa_all_nodes_ptr, to);
    int saved = errno;
    numa_free_nodemask(to);
    if (r < 0) return log_error_errno(-saved, "Failed to migrate the pages of pid %ld: %m", (long)pid);
    _cleanup_free_ char *list = cpulist_format(nodes);
    if (r > 0) log_warning("%d pages of pid %ld could not be moved onto node(s) %s", r, (long)pid, list);
    else log_info("pages of pid %ld moved onto node(s) %s", (long)pid, list);
    return r;
}

int numa_place_report(const HostRoot *hr, pid_t pid) {
    _cleanup_free_ char *path = xasprintf("/proc/%ld/numa_maps", (long)pid);
    _cleanup_free_ char *text = NULL;
    int r = hostroot_read(hr, path, &text);
    if (r < 0) return log_warning_errno(r, "Failed to read %s: %m", path);
    NumaPages np;
    r = kfile_parse_numa_maps(text, &np);
    if (r < 0) return log_warning_errno(r, "Failed to parse %s: %m", path);
    char line[1024] = "";
    size_t len = 0;
    for (int n = 0; n <= np.max_node && n < KFILE_NUMA_NODES; n++) {
        if (!np.bytes[n]) continue;
        len += (size_t)snprintf(line + len, sizeof(line) - len, "%snode%d %" PRIu64 " MiB (%" PRIu64 " MiB huge)", len ? ", " : "", n,
                                np.bytes[n] >> 20, np.huge_bytes[n] >> 20);
        if (len >= sizeof(line)) break;
    }
    log_info("QEMU pid %ld memory by node: %s", (long)pid, len ? line : "none resident yet");
    return 0;
}
