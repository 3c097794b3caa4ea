/* NUMA placement after start (include/numa_place.h). */
#include "numa_place.h"

#include <errno.h>
#include <inttypes.h>
#include <numa.h>
#include <stdio.h>
#include <string.h>

#include "kfiles.h"
#include "log.h"
#include "placewatch.h"
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

/* "node0 12 MiB, node1 3 MiB" of NP, or "none resident yet". */
static char *by_node(const NumaPages *np) {
    char line[1024] = "";
    size_t len = 0;
    for (int n = 0; n <= np->max_node && n < KFILE_NUMA_NODES && len < sizeof(line); n++)
        if (np->bytes[n]) len += (size_t)snprintf(line + len, sizeof(line) - len, "%snode%d %" PRIu64 " MiB", len ? ", " : "", n, np->bytes[n] >> 20);
    return xstrdup(len ? line : "none resident yet");
}

static uint64_t off_nodes(const NumaPages *np, const CpuList *nodes) {
    uint64_t off = 0;
    for (int n = 0; n <= np->max_node && n < KFILE_NUMA_NODES; n++)
        if (!cpulist_contains(nodes, n)) off += np->bytes[n];
    return off;
}

static json_object *nodes_json(const NumaPages *np) {
    json_object *o = json_object_new_object();
    for (int n = 0; n <= np->max_node && n < KFILE_NUMA_NODES; n++) {
        if (!np->bytes[n]) continue;
        char key[16];
        snprintf(key, sizeof(key), "%d", n);
        json_object_object_add(o, key, json_object_new_uint64(np->bytes[n]));
    }
    return o;
}

static int read_pages(const HostRoot *proc, pid_t pid, NumaPages *np) {
    _cleanup_free_ char *path = xasprintf("/proc/%ld/numa_maps", (long)pid), *text = NULL;
    int r = hostroot_read(proc, path, &text);
    return r < 0 ? r : kfile_parse_numa_maps(text, np);
}

int numa_place_migrate_report(const HostRoot *proc, int rundir_fd, pid_t pid, const CpuList *nodes, MigrateResult *out) {
    memset(out, 0, sizeof(*out));
    _cleanup_free_ char *list = cpulist_format(nodes);
    NumaPages before, after;
    int r = read_pages(proc, pid, &before);
    if (r < 0) return log_warning_errno(r, "Failed to read the pages of pid %ld by node before migrating them: %m", (long)pid);
    int unmoved = hostroot_migrate_pages(proc, pid, nodes);
    if (unmoved < 0) log_error_errno(unmoved, "Failed to migrate the pages of pid %ld onto node(s) %s: %m", (long)pid, list);
    r = read_pages(proc, pid, &after);
    if (r < 0) return log_warning_errno(r, "Failed to read the pages of pid %ld by node after migrating them: %m", (long)pid);
    out->off_before = off_nodes(&before, nodes);
    out->off_after = off_nodes(&after, nodes);
    out->moved = out->off_before > out->off_after ? out->off_before - out->off_after : 0;
    out->unmoved_pages = unmoved;
    _cleanup_free_ char *b = by_node(&before), *a = by_node(&after);
    log_info("migrate: QEMU pid %ld memory by node before: %s; after: %s; %" PRIu64 " MiB moved onto node(s) %s", (long)pid, b, a, out->moved >> 20, list);
    if (out->off_after)
        log_warning("migrate: %" PRIu64 " MiB of QEMU pid %ld still lie off node(s) %s%s", out->off_after >> 20, (long)pid, list,
                    out->moved ? "" : ": no page moved");
    if (rundir_fd >= 0) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "nodes", json_object_new_string(list));
        json_object_object_add(o, "before", nodes_json(&before));
        json_object_object_add(o, "after", nodes_json(&after));
        json_object_object_add(o, "moved_bytes", json_object_new_uint64(out->moved));
        json_object_object_add(o, "off_nodes_bytes", json_object_new_uint64(out->off_after));
        json_object_object_add(o, "error", unmoved < 0 ? json_object_new_string(strerror(-unmoved)) : NULL);
        placewatch_json_save(rundir_fd, NUMA_MIGRATE_FILE, o);
        json_object_put(o);
    }
    return unmoved < 0 ? unmoved : 0;
}
