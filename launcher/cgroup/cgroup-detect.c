/* Which cpuset hierarchy, and where under it the VMs go (include/cgroup.h). */
#include "cgroup-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

static bool xattr_true(int fd, const char *name) {
    char buf[16];
    ssize_t n = fgetxattr(fd, name, buf, sizeof(buf) - 1);
    if (n <= 0) return false;
    buf[n] = '\0';
    return streq(buf, "1") || streq(buf, "yes") || streq(buf, "true") || streq(buf, "on");
}

static bool is_delegated(const HostRoot *hr, const char *dir) {
    _cleanup_close_ int fd = hostroot_openat(hr, dir, O_RDONLY | O_DIRECTORY, 0);
    return fd >= 0 && (xattr_true(fd, "trusted.delegate") || xattr_true(fd, "user.delegate"));
}

static int read_first(const HostRoot *hr, const char *a, const char *b, char **text, const char **which) {
    *which = a;
    int r = hostroot_read(hr, a, text);
    if (r != -ENOENT) return r;
    *which = b;
    return hostroot_read(hr, b, text);
}

/* Our own cgroup, or NULL when /proc/self/cgroup is missing (a test's
 * tree without /proc/self) or has no line for this hierarchy. */
static int own_cgroup(const HostRoot *hr, CgroupVersion v, char **own) {
    *own = NULL;
    _cleanup_free_ char *text = NULL;
    int r = hostroot_read(hr, "/proc/self/cgroup", &text);
    if (r == -ENOENT) return 0;
    if (r < 0) return log_error_errno(r, "Failed to read /proc/self/cgroup: %m");
    r = cgroup_parse_self(text, v, own);
    if (r == -EINVAL) return log_error_errno(r, "/proc/self/cgroup: a line is not \"ID:CONTROLLERS:PATH\"");
    return 0;
}

/* Whether OWN (our cgroup in the hierarchy, "/a/b") is the root or
 * unusable as a path. */
static bool own_is_root(const char *own) {
    return !own || streq(own, "/") || strstr(own, "/..");
}

/* Picks BASE: v1, our own cpuset cgroup (issue 22: the VM stays inside
 * what the caller was given); v2, our cgroup when delegated and offering
 * cpuset; the hierarchy's root otherwise. */
static void choose_base(const HostRoot *hr, CgroupLayout *l, const char *own) {
    l->base = xstrdup(l->mount);
    if (!own_is_root(own)) l->own = xasprintf("%s%s", l->mount, own);
    if (l->version == CGROUP_V1) {
        if (own_is_root(own)) {
            l->why = xasprintf("cgroup v1 cpuset at %s; VMs under %s/" CGROUP_TOP " (kvmlaunch runs in %s)", l->mount, l->mount,
                               own ? "the root cpuset cgroup" : "the root cgroup");
            return;
        }
        free(l->base);
        l->base = xstrdup(l->own);
        l->nested = true;
        l->why = xasprintf("cgroup v1 cpuset at %s; VMs under %s/" CGROUP_TOP " (kvmlaunch's own cpuset cgroup %s: its limits and "
                           "accounting cover QEMU)", l->mount, l->base, own);
        return;
    }
    if (own_is_root(own)) {
        l->why = xasprintf("cgroup v2 at %s; VMs under %s/" CGROUP_TOP " (kvmlaunch runs in %s)", l->mount, l->mount, own ? own : "the root cgroup");
        return;
    }
    _cleanup_free_ char *cand = xasprintf("%s%s", l->mount, own);
    if (!is_delegated(hr, cand)) {
        l->why = xasprintf("cgroup v2 at %s; VMs under %s/" CGROUP_TOP " (kvmlaunch runs in %s, which is not delegated)", l->mount, l->mount, own);
        return;
    }
    _cleanup_free_ char *ctl = cg_read_or_empty(hr, cand, "cgroup.controllers");
    if (!cgroup_list_has(ctl, "cpuset")) {
        l->why = xasprintf("cgroup v2 at %s; VMs under %s/" CGROUP_TOP " (kvmlaunch runs in %s, delegated without cpuset: "
                           "Delegate=yes or Delegate=cpuset would keep them there)", l->mount, l->mount, own);
        return;
    }
    free(l->base);
    l->base = TAKE_PTR(cand);
    l->delegated = true;
    l->nested = true;
    l->why = xasprintf("cgroup v2 at %s; VMs under %s/" CGROUP_TOP " (kvmlaunch's own cgroup, delegated: its limits and accounting cover QEMU)",
                       l->mount, l->base);
}

/* The hierarchy offering cpuset: the first cgroup2 mount whose root lists
 * it, else the v1 cpuset mount (a controller lives in one hierarchy). */
static void choose_hierarchy(const HostRoot *hr, const CgroupMounts *m, CgroupLayout *out) {
    for (size_t i = 0; i < m->v2.n && !out->mount; i++) {
        _cleanup_free_ char *ctl = NULL, *p = cg_path_join(m->v2.v[i], "cgroup.controllers");
        if (hostroot_read(hr, p, &ctl) >= 0 && cgroup_list_has(ctl, "cpuset")) {
            out->version = CGROUP_V2;
            out->mount = xstrdup(m->v2.v[i]);
        }
    }
    if (!out->mount && m->v1_cpuset) {
        out->version = CGROUP_V1;
        out->mount = xstrdup(m->v1_cpuset);
        out->noprefix = m->v1_noprefix;
    }
}

int cgroup_detect(const HostRoot *hr, CgroupLayout *out) {
    memset(out, 0, sizeof(*out));
    _cleanup_free_ char *text = NULL, *own = NULL, *fc = NULL, *fm = NULL;
    const char *which;
    int r = read_first(hr, "/proc/self/mounts", "/proc/mounts", &text, &which);
    if (r < 0) return log_error_errno(r, "Failed to read %s: %m", which);
    CgroupMounts m;
    if (cgroup_parse_mounts(text, &m) < 0) return log_error_errno(-EINVAL, "%s: a line is not what the kernel writes", which);
    choose_hierarchy(hr, &m, out);
    if (!out->mount)
        out->why = xasprintf("no cpuset cgroup hierarchy: %s has no cgroup v1 mount with cpuset and no cgroup2 mount offering it", which);
    cgroup_mounts_free(&m);
    if (!out->mount) return 0;

    r = own_cgroup(hr, out->version, &own);
    if (r >= 0) {
        choose_base(hr, out, own);
        fc = cg_check_file(out->version, out->noprefix, "cpus");
        fm = cg_check_file(out->version, out->noprefix, "mems");
        r = cg_read_cpulist(hr, out->base, fc, &out->cpus);
    }
    if (r >= 0) r = cg_read_cpulist(hr, out->base, fm, &out->mems);
    if (r >= 0 && (!out->cpus.n || !out->mems.n))
        r = log_error_errno(-ENXIO, "The cgroup %s has no %s to give to VMs", out->base, out->cpus.n ? "memory nodes" : "CPUs");
    if (r < 0) cgroup_layout_free(out);
    return r;
}

void cgroup_layout_free(CgroupLayout *l) {
    free(l->mount);
    free(l->base);
    free(l->why);
    free(l->own);
    cpulist_free(&l->cpus);
    cpulist_free(&l->mems);
    memset(l, 0, sizeof(*l));
}
