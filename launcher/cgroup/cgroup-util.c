/* Paths, cpuset file names and reading cgroup files (cgroup-internal.h). */
#include "cgroup-internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kfiles.h"
#include "log.h"
#include "util.h"

char *cg_path_join(const char *dir, const char *name) {
    size_t n = strlen(dir);
    return xasprintf("%s%s%s", dir, n && dir[n - 1] == '/' ? "" : "/", name);
}

void cg_path_split(const char *path, char **parent, const char **base) {
    const char *slash = strrchr(path, '/');
    *parent = slash == path ? xstrdup("/") : xstrndup(path, (size_t)(slash - path));
    *base = slash + 1;
}

bool cg_name_ok(const char *name) {
    if (strempty(name) || name[0] == '.' || strlen(name) > 64) return false;
    for (const char *c = name; *c; c++)
        if (*c == '/' || (unsigned char)*c < 0x20 || *c == 0x7f) return false;
    return true;
}

char *cg_cpus_text(const CpuList *l, const CpuList *fallback) {
    CpuList n = cpulist_sorted(l->n ? l : fallback);
    char *s = cpulist_format(&n);
    cpulist_free(&n);
    return s;
}

char *cg_cpuset_file(CgroupVersion v, bool noprefix, const char *name) {
    return xasprintf("%s%s", v == CGROUP_V1 && noprefix ? "" : "cpuset.", name);
}

char *cg_check_file(CgroupVersion v, bool noprefix, const char *name) {
    return v == CGROUP_V2 ? xasprintf("cpuset.%s.effective", name) : cg_cpuset_file(v, noprefix, name);
}

char *cg_read_or_empty(const HostRoot *hr, const char *dir, const char *name) {
    _cleanup_free_ char *path = cg_path_join(dir, name);
    char *text = NULL;
    return hostroot_read(hr, path, &text) < 0 ? xstrdup("") : text;
}

int cg_read_cpulist(const HostRoot *hr, const char *dir, const char *file, CpuList *out) {
    _cleanup_free_ char *path = cg_path_join(dir, file), *text = NULL;
    int r = hostroot_read(hr, path, &text);
    if (r < 0) return log_error_errno(r, "Failed to read %s: %m", path);
    if (kfile_parse_cpulist(text, out) < 0) return log_error_errno(-EINVAL, "%s: expected a cpulist, found \"%.40s\"", path, text);
    return 0;
}

bool cg_text_set(const char *text) { return text[strspn(text, " \n")] != '\0'; }
