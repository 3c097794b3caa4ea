/* The kernel's part of cgroupfs on a test's tree (fake_cgroup.h). */
#include "fake_cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cgroup.h"
#include "fake_kernel.h"
#include "kfiles.h"
#include "util.h"
#include "values.h"

/* ---- which hierarchy ---- */

typedef struct Hierarchy {
    CgroupVersion version;          /* CGROUP_NONE: no cgroup path */
    bool noprefix;
} Hierarchy;

static bool under(const char *path, const char *mount) {
    size_t n = strlen(mount);
    return !strncmp(path, mount, n) && (path[n] == '/' || path[n] == '\0');
}

/* The hierarchy PATH lies in, from the tree's own mounts. */
static Hierarchy hierarchy_of(const HostRoot *hr, const char *path) {
    Hierarchy h = { CGROUP_NONE, false };
    if (!hr->redirected) return h;
    _cleanup_free_ char *text = NULL;
    if (hostroot_read(hr, "/proc/self/mounts", &text) < 0 && hostroot_read(hr, "/proc/mounts", &text) < 0) return h;
    CgroupMounts m;
    if (cgroup_parse_mounts(text, &m) < 0) return h;
    for (size_t i = 0; i < m.v2.n && h.version == CGROUP_NONE; i++)
        if (under(path, m.v2.v[i])) h.version = CGROUP_V2;
    if (h.version == CGROUP_NONE && m.v1_cpuset && under(path, m.v1_cpuset)) h = (Hierarchy){ CGROUP_V1, m.v1_noprefix };
    cgroup_mounts_free(&m);
    return h;
}

bool fake_cgroup_owns(const HostRoot *hr, const char *path) { return hierarchy_of(hr, path).version != CGROUP_NONE; }

/* ---- paths and files ---- */

static char *path_join(const char *dir, const char *name) {
    size_t n = strlen(dir);
    return xasprintf("%s%s%s", dir, n && dir[n - 1] == '/' ? "" : "/", name);
}

static void path_split(const char *path, char **parent, const char **base) {
    const char *slash = strrchr(path, '/');
    *parent = slash == path ? xstrdup("/") : xstrndup(path, (size_t)(slash - path));
    *base = slash + 1;
}

static char *cpuset_file(Hierarchy h, const char *name) {
    return xasprintf("%s%s", h.version == CGROUP_V1 && h.noprefix ? "" : "cpuset.", name);
}

static char *read_or_empty(const HostRoot *hr, const char *dir, const char *name) {
    _cleanup_free_ char *path = path_join(dir, name);
    char *text = NULL;
    return hostroot_read(hr, path, &text) < 0 ? xstrdup("") : text;
}

static int create(const HostRoot *hr, const char *dir, const char *name, const char *content) {
    _cleanup_free_ char *path = path_join(dir, name);
    _cleanup_close_ int fd = hostroot_openat(hr, path, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd < 0) return fd;
    size_t n = strlen(content);
    return write(fd, content, n) == (ssize_t)n ? 0 : -EIO;
}

/* VALUE into PATH as the kernel shows it: a newline after a value, an
 * empty one zero bytes. */
static int put(const HostRoot *hr, const char *path, const char *value) {
    size_t n = strlen(value);
    _cleanup_free_ char *text = n && value[n - 1] != '\n' ? xasprintf("%s\n", value) : xstrdup(value);
    return hostroot_kernel_write(hr, path, text);
}

/* ---- mkdir ---- */

static int populate_v2(const HostRoot *hr, const char *dir, const char *parent) {
    _cleanup_free_ char *ctl = read_or_empty(hr, parent, "cgroup.subtree_control");
    static const char *const files[][2] = { { "cgroup.procs", "" }, { "cgroup.threads", "" }, { "cgroup.type", "domain\n" },
                                           { "cgroup.subtree_control", "" }, { "cgroup.events", "populated 0\nfrozen 0\n" } };
    int r = 0;
    for (size_t i = 0; i < ELEMENTSOF(files) && r >= 0; i++) r = create(hr, dir, files[i][0], files[i][1]);
    if (r >= 0) r = create(hr, dir, "cgroup.controllers", ctl);
    if (r < 0 || !cgroup_list_has(ctl, "cpuset")) return r;
    _cleanup_free_ char *ec = read_or_empty(hr, parent, "cpuset.cpus.effective"), *em = read_or_empty(hr, parent, "cpuset.mems.effective");
    r = create(hr, dir, "cpuset.cpus", "\n");
    if (r >= 0) r = create(hr, dir, "cpuset.mems", "\n");
    if (r >= 0) r = create(hr, dir, "cpuset.cpus.effective", ec);
    if (r >= 0) r = create(hr, dir, "cpuset.mems.effective", em);
    return r;
}

static int populate_v1(const HostRoot *hr, Hierarchy h, const char *dir) {
    static const char *const files[][2] = { { "tasks", "" }, { "cgroup.procs", "" }, { "notify_on_release", "0\n" },
                                           { "cgroup.clone_children", "0\n" } };
    static const char *const cs[] = { "cpus", "mems", "effective_cpus", "effective_mems" };
    int r = 0;
    for (size_t i = 0; i < ELEMENTSOF(files) && r >= 0; i++) r = create(hr, dir, files[i][0], files[i][1]);
    for (size_t i = 0; i < ELEMENTSOF(cs) && r >= 0; i++) {
        _cleanup_free_ char *name = cpuset_file(h, cs[i]);
        r = create(hr, dir, name, "\n");
    }
    return r;
}

int fake_cgroup_mkdir(const HostRoot *hr, const char *path, mode_t mode) {
    int r = hostroot_kernel_mkdir(hr, path, mode);
    Hierarchy h = hierarchy_of(hr, path);
    if (r < 0 || h.version == CGROUP_NONE) return r;
    _cleanup_free_ char *parent = NULL;
    const char *base;
    path_split(path, &parent, &base);
    return h.version == CGROUP_V2 ? populate_v2(hr, path, parent) : populate_v1(hr, h, path);
}

/* ---- write ---- */

/* "+cpuset" / "-cpuset" on the word list, kept in the kernel's order,
 * which is that of the cgroup's own cgroup.controllers. */
static int subtree_control(const HostRoot *hr, const char *path, const char *value) {
    _cleanup_free_ char *old = NULL, *dir = NULL;
    const char *name;
    int r = hostroot_read(hr, path, &old);
    if (r < 0) return r;
    if ((value[0] != '+' && value[0] != '-') || !value[1]) return -EINVAL;
    path_split(path, &dir, &name);
    _cleanup_free_ char *order = read_or_empty(hr, dir, "cgroup.controllers");
    if (value[0] == '+' && !cgroup_list_has(order, value + 1)) return -ENOENT;
    _cleanup_free_ char *out = xcalloc(1, strlen(order) + 2);
    for (const char *p = order; *p;) {
        size_t n = strcspn(p, " \n");
        _cleanup_free_ char *w = xstrndup(p, n);
        bool on = streq(w, value + 1) ? value[0] == '+' : cgroup_list_has(old, w);
        if (n && on) {
            if (*out) strcat(out, " ");
            strcat(out, w);
        }
        p += n;
        while (*p == ' ' || *p == '\n') p++;
    }
    return put(hr, path, out);
}

static int append(const HostRoot *hr, const char *path, const char *value) {
    _cleanup_free_ char *old = NULL;
    int r = hostroot_read(hr, path, &old);
    if (r < 0) return r;
    _cleanup_free_ char *text = xasprintf("%s%s\n", old, value);
    return put(hr, path, text);
}

/* The asked set within the parent's effective one, or the parent's when
 * nothing is left (v2's rule). */
static int effective_v2(const HostRoot *hr, const char *dir, const char *which, const char *value) {
    _cleanup_free_ char *parent = NULL;
    const char *pbase;
    path_split(dir, &parent, &pbase);
    _cleanup_free_ char *eff = xasprintf("cpuset.%s.effective", which);
    _cleanup_free_ char *ptext = read_or_empty(hr, parent, eff);
    CpuList asked, pe, res = { NULL, 0 };
    if (kfile_parse_cpulist(value, &asked) < 0) return -EINVAL;
    if (kfile_parse_cpulist(ptext, &pe) < 0) {
        cpulist_free(&asked);
        return -EINVAL;
    }
    res.cpu = xmalloc((asked.n + 1) * sizeof(int));
    for (size_t i = 0; i < asked.n; i++)
        if (cpulist_contains(&pe, asked.cpu[i])) res.cpu[res.n++] = asked.cpu[i];
    CpuList sorted = cpulist_sorted(res.n ? &res : &pe);
    _cleanup_free_ char *text = cpulist_format(&sorted);
    cpulist_free(&sorted);
    cpulist_free(&asked);
    cpulist_free(&pe);
    cpulist_free(&res);
    _cleanup_free_ char *ep = path_join(dir, eff);
    return put(hr, ep, text);
}

/* After a cpuset.cpus/mems write: v1's effective set is the asked one. */
static int effective(const HostRoot *hr, Hierarchy h, const char *path, const char *which, const char *value) {
    _cleanup_free_ char *dir = NULL;
    const char *base;
    path_split(path, &dir, &base);
    if (h.version == CGROUP_V2) return effective_v2(hr, dir, which, value);
    _cleanup_free_ char *eff = cpuset_file(h, streq(which, "cpus") ? "effective_cpus" : "effective_mems");
    _cleanup_free_ char *ep = path_join(dir, eff);
    return put(hr, ep, value);
}

int fake_cgroup_write(const HostRoot *hr, const char *path, const char *value) {
    Hierarchy h = hierarchy_of(hr, path);
    if (h.version == CGROUP_NONE) return hostroot_kernel_write(hr, path, value);
    _cleanup_free_ char *dir = NULL;
    const char *name;
    path_split(path, &dir, &name);
    if (h.version == CGROUP_V2 && streq(name, "cgroup.subtree_control")) return subtree_control(hr, path, value);
    if (streq(name, "cgroup.procs") || streq(name, "cgroup.threads") || streq(name, "tasks")) return append(hr, path, value);
    int r = put(hr, path, value);
    if (r < 0) return r;
    _cleanup_free_ char *fc = cpuset_file(h, "cpus"), *fm = cpuset_file(h, "mems");
    if (streq(name, fc)) return effective(hr, h, path, "cpus", value);
    if (streq(name, fm)) return effective(hr, h, path, "mems", value);
    return 0;
}

/* ---- rmdir ---- */

/* A cgroup is busy while it has a child or says "populated 1"; else its
 * files go (the kernel's rmdir takes them along). */
static int remove_files(const HostRoot *hr, const char *path) {
    StrVec sub = STRVEC_INIT;
    int r = hostroot_list(hr, path, true, &sub);
    bool busy = sub.n > 0;
    strvec_clear(&sub);
    if (r < 0) return r;
    _cleanup_free_ char *events = read_or_empty(hr, path, "cgroup.events");
    if (busy || strstr(events, "populated 1")) return -EBUSY;
    int fd = hostroot_openat(hr, path, O_RDONLY | O_DIRECTORY, 0);
    if (fd < 0) return fd;
    DIR *d = fdopendir(fd);
    if (!d) {
        r = -errno;
        close(fd);
        return r;
    }
    r = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (de->d_type == DT_REG && unlinkat(dirfd(d), de->d_name, 0) < 0 && r == 0) r = -errno;
    closedir(d);
    return r;
}

int fake_cgroup_rmdir(const HostRoot *hr, const char *path) {
    if (fake_cgroup_owns(hr, path)) {
        int r = remove_files(hr, path);
        if (r < 0) return r;
    }
    return hostroot_kernel_rmdir(hr, path);
}

/* ---- the ops ---- */

static int redirected_ethtool(const HostRoot *hr, const char *dev, void *cmd) { return hostroot_redirected_ops.ethtool(hr, dev, cmd); }

const HostRootOps fake_cgroup_ops = {
    .write = fake_cgroup_write,
    .mkdir = fake_cgroup_mkdir,
    .rmdir = fake_cgroup_rmdir,
    .ethtool = redirected_ethtool,
    .affinity = fake_kernel_affinity,
    .migrate_pages = fake_kernel_migrate_pages,
};

void fake_cgroup_install(void) { hostroot_set_ops_override(&fake_cgroup_ops, NULL); }

void fake_cgroup_uninstall(void) { hostroot_set_ops_override(NULL, NULL); }
