/* A running VM's group re-pinned (`kvmlaunch pin`, include/cgroup.h). */
#include "cgroup-internal.h"

#include <errno.h>
#include <string.h>

#include "kfiles.h"
#include "log.h"
#include "util.h"

/* Where the run recorded its tree (nested under the cgroup it was started
 * in, issue 22), else where this process's layout puts it. */
static char *group_dir(const CgroupLayout *l, const char *vm, const char *group) {
    _cleanup_free_ char *top = cg_path_join(l->base, CGROUP_TOP);
    _cleanup_free_ char *dir = cgroup_record_dir(vm);
    if (!dir) dir = cg_path_join(top, vm);
    return cg_path_join(dir, group);
}

int cgroup_group_cpus_read(const HostRoot *hr, const CgroupLayout *l, const char *vm, const char *group, char **text) {
    *text = NULL;
    if (l->version == CGROUP_NONE || !cg_name_ok(vm) || !cg_name_ok(group)) return -EINVAL;
    _cleanup_free_ char *dir = group_dir(l, vm, group);
    _cleanup_free_ char *file = cg_cpuset_file(l->version, l->noprefix, "cpus");
    _cleanup_free_ char *path = cg_path_join(dir, file);
    int r = hostroot_read(hr, path, text);
    if (r < 0) return r; /* -ENOENT: no such group (no I/O thread, say) */
    (*text)[strcspn(*text, "\n")] = 0;
    return 0;
}

int cgroup_group_cpus_write(const HostRoot *hr, const CgroupLayout *l, const char *vm, const char *group, const char *value) {
    if (l->version == CGROUP_NONE || !cg_name_ok(vm) || !cg_name_ok(group)) return -EINVAL;
    _cleanup_free_ char *dir = group_dir(l, vm, group);
    _cleanup_free_ char *file = cg_cpuset_file(l->version, l->noprefix, "cpus");
    _cleanup_free_ char *path = cg_path_join(dir, file);
    int r = hostroot_write(hr, path, value);
    if (r < 0) return log_error_errno(r, "Failed to write %s to %s: %m", value, path);
    CpuList want = { 0 }, got = { 0 };
    /* What the kernel gives: the set itself on v1, the effective set on v2
     * (an empty value there means the parent's). */
    if (cg_text_set(value) && kfile_parse_cpulist(value, &want) < 0) return log_error_errno(-EINVAL, "%s: not a CPU list: %s", path, value);
    if (!want.n) want = cpulist_copy(&l->cpus);
    _cleanup_free_ char *check = cg_check_file(l->version, l->noprefix, "cpus");
    r = cg_read_cpulist(hr, dir, check, &got);
    if (r == 0 && !cpulist_same_set(&want, &got)) {
        _cleanup_free_ char *g = cpulist_format(&got);
        r = log_error_errno(-EXDEV, "%s: the cgroup %s got CPUs %s, not %s as asked", group, dir, g, value);
    }
    cpulist_free(&want);
    cpulist_free(&got);
    return r;
}
