/* Per-VM cpuset cgroups, v2 and v1 (include/cgroup.h). */
#include "cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "kfiles.h"
#include "log.h"
#include "util.h"

/* ---- CPU sets ---- */

/* The normalized cpulist text of L, or of FALLBACK when L is empty. */
static char *cpus_text(const CpuList *l, const CpuList *fallback) {
    CpuList n = cpulist_sorted(l->n ? l : fallback);
    char *s = cpulist_format(&n);
    cpulist_free(&n);
    return s;
}

/* ---- paths and file names ---- */

static char *path_join(const char *dir, const char *name) {
    size_t n = strlen(dir);
    return xasprintf("%s%s%s", dir, n && dir[n - 1] == '/' ? "" : "/", name);
}

/* DIR and the last component of PATH, which is absolute and not "/". */
static void path_split(const char *path, char **parent, const char **base) {
    const char *slash = strrchr(path, '/');
    *parent = slash == path ? xstrdup("/") : xstrndup(path, (size_t)(slash - path));
    *base = slash + 1;
}

static bool name_ok(const char *name) {
    if (strempty(name) || name[0] == '.' || strlen(name) > 64) return false;
    for (const char *c = name; *c; c++)
        if (*c == '/' || (unsigned char)*c < 0x20 || *c == 0x7f) return false;
    return true;
}

/* cpuset file NAME ("cpus") as this hierarchy names it. */
static char *cpuset_file(CgroupVersion v, bool noprefix, const char *name) {
    return xasprintf("%s%s", v == CGROUP_V1 && noprefix ? "" : "cpuset.", name);
}

/* What to read back: the effective set on v2, the set itself on v1 (where
 * the kernel refuses what the parent lacks). */
static char *check_file(CgroupVersion v, bool noprefix, const char *name) {
    return v == CGROUP_V2 ? xasprintf("cpuset.%s.effective", name) : cpuset_file(v, noprefix, name);
}

/* ---- pure parsers ---- */

/* A mount point as /proc/mounts escapes it ("\\040" for a space). */
static char *unescape_mount(const char *s, size_t n) {
    char *out = xmalloc(n + 1), *o = out;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '\\') {
            *o++ = s[i];
            continue;
        }
        int v = 0;
        for (size_t k = 1; k <= 3; k++) {
            if (i + k >= n || s[i + k] < '0' || s[i + k] > '7') return x_free(out);
            v = v * 8 + (s[i + k] - '0');
        }
        if (v == 0 || v > 255) return x_free(out);
        *o++ = (char)v;
        i += 3;
    }
    *o = '\0';
    return out;
}

/* Whether WORD is one of the words of [s, end) separated by any of SEPS. */
static bool words_have(const char *s, const char *end, const char *seps, const char *word) {
    size_t wl = strlen(word);
    while (s < end) {
        size_t n = strcspn(s, seps);
        if (s + n > end) n = (size_t)(end - s);
        if (n == wl && !memcmp(s, word, wl)) return true;
        s += n;
        if (s < end) s++;
    }
    return false;
}

bool cgroup_list_has(const char *text, const char *word) { return words_have(text, text + strlen(text), " \t\n", word); }

int cgroup_parse_mounts(const char *text, CgroupMounts *out) {
    CgroupMounts m = { STRVEC_INIT, NULL, false };
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        const char *end = nl ? nl : p + strlen(p);
        const char *f[4];
        size_t fl[4], nf = 0;
        for (const char *q = p; q < end && nf < 4;) {
            while (q < end && *q == ' ') q++;
            if (q == end) break;
            f[nf] = q;
            while (q < end && *q != ' ') q++;
            fl[nf] = (size_t)(q - f[nf]);
            nf++;
        }
        if (nf == 0 && end == p) { /* an empty line */
        } else if (nf < 4) {
            cgroup_mounts_free(&m);
            return -EINVAL;
        } else {
            bool v2 = fl[2] == 7 && !memcmp(f[2], "cgroup2", 7);
            bool v1 = fl[2] == 6 && !memcmp(f[2], "cgroup", 6) && words_have(f[3], f[3] + fl[3], ",", "cpuset");
            if (v2 || (v1 && !m.v1_cpuset)) {
                char *mp = unescape_mount(f[1], fl[1]);
                if (!mp) {
                    cgroup_mounts_free(&m);
                    return -EINVAL;
                }
                if (v2) strvec_push_take(&m.v2, mp);
                else {
                    m.v1_cpuset = mp;
                    m.v1_noprefix = words_have(f[3], f[3] + fl[3], ",", "noprefix");
                }
            }
        }
        p = nl ? nl + 1 : end;
    }
    *out = m;
    return 0;
}

void cgroup_mounts_free(CgroupMounts *m) {
    strvec_clear(&m->v2);
    m->v1_cpuset = x_free(m->v1_cpuset);
    m->v1_noprefix = false;
}

int cgroup_parse_self(const char *text, CgroupVersion version, char **path) {
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        const char *end = nl ? nl : p + strlen(p);
        if (end > p) {
            const char *c1 = memchr(p, ':', (size_t)(end - p));
            const char *c2 = c1 ? memchr(c1 + 1, ':', (size_t)(end - c1 - 1)) : NULL;
            if (!c2 || c2 + 1 == end || c2[1] != '/') return -EINVAL;
            bool match = version == CGROUP_V2 ? (c1 - p == 1 && p[0] == '0' && c2 == c1 + 1)
                                              : words_have(c1 + 1, c2, ",", "cpuset");
            if (match) {
                *path = xstrndup(c2 + 1, (size_t)(end - c2 - 1));
                return 0;
            }
        }
        p = nl ? nl + 1 : end;
    }
    return -ENOENT;
}

/* ---- thread groups ---- */

static void group_add(CgroupGroups *gs, ThreadRole role, int index, CpuList cpus) {
    gs->g = xrealloc(gs->g, (gs->n + 1) * sizeof(*gs->g));
    char *name = role == THREAD_EMULATOR ? xstrdup("emulator")
               : role == THREAD_VHOST  ? xstrdup("vhost")
                                       : xasprintf("%s%d", role == THREAD_VCPU ? "vcpu" : "iothread", index);
    gs->g[gs->n++] = (CgroupGroup){ name, role, role == THREAD_EMULATOR ? -1 : index, cpus };
}

static bool group_has(const CgroupGroups *gs, ThreadRole role, int index) {
    for (size_t i = 0; i < gs->n; i++)
        if (gs->g[i].role == role && gs->g[i].index == index) return true;
    return false;
}

void cgroup_groups_from_config(const VmConfig *cfg, CgroupGroups *out) {
    memset(out, 0, sizeof(*out));
    const CpuSection *cpu = &cfg->cpu;
    group_add(out, THREAD_EMULATOR, -1, cpu->emulator.kind == CPUSPEC_LIST ? cpulist_copy(&cpu->emulator.list) : (CpuList){ NULL, 0 });
    for (int64_t i = 0; i < cfg->vm.vcpus; i++) group_add(out, THREAD_VCPU, (int)i, placement_vcpu_cpus(cfg, (size_t)i));
    int k = 0;
    for (size_t i = 0; i < cfg->n_disks; i++)
        if (cfg->disks[i].iothread)
            group_add(out, THREAD_IOTHREAD, k++, cpu->iothreads.kind == CPUSPEC_LIST ? cpulist_copy(&cpu->iothreads.list) : (CpuList){ NULL, 0 });
}

static int cmp_group(const void *a, const void *b) {
    const CgroupGroup *x = a, *y = b;
    /* emulator, then vCPUs, then I/O threads, each by number, then vhost */
    static const int rank[] = { [THREAD_EMULATOR] = 0, [THREAD_VCPU] = 1, [THREAD_IOTHREAD] = 2, [THREAD_VHOST] = 3 };
    int rx = rank[x->role], ry = rank[y->role];
    if (rx != ry) return rx - ry;
    return (x->index > y->index) - (x->index < y->index);
}

void cgroup_groups_from_placement(const Placement *p, CgroupGroups *out) {
    memset(out, 0, sizeof(*out));
    CpuList emu = { NULL, 0 };
    for (size_t i = 0; i < p->n; i++) {
        const ThreadPlace *t = &p->t[i];
        if (t->role == THREAD_EMULATOR) {
            if (!emu.n && t->cpus.n) emu = cpulist_copy(&t->cpus);
        } else if (!group_has(out, t->role, t->index)) {
            group_add(out, t->role, t->index, cpulist_copy(&t->cpus));
        }
    }
    group_add(out, THREAD_EMULATOR, -1, emu);
    qsort(out->g, out->n, sizeof(*out->g), cmp_group);
}

void cgroup_groups_free(CgroupGroups *gs) {
    for (size_t i = 0; i < gs->n; i++) {
        free(gs->g[i].name);
        cpulist_free(&gs->g[i].cpus);
    }
    free(gs->g);
    memset(gs, 0, sizeof(*gs));
}

/* ---- the plan ---- */

static void op_add(CgroupPlan *p, CgroupOpKind kind, char *path, char *value, size_t group, unsigned flags) {
    p->op = xrealloc(p->op, (p->n + 1) * sizeof(*p->op));
    p->op[p->n++] = (CgroupOp){ kind, path, value, group, flags };
}

static void op_file(CgroupPlan *p, CgroupOpKind kind, const char *dir, const char *file, char *value, unsigned flags) {
    op_add(p, kind, path_join(dir, file), value, 0, flags);
}

static void plan_cpuset(CgroupPlan *p, const CgroupLayout *l, const char *dir, char *cpus, char *mems, unsigned flags) {
    _cleanup_free_ char *fc = cpuset_file(l->version, l->noprefix, "cpus"), *fm = cpuset_file(l->version, l->noprefix, "mems");
    /* v1 needs both before a task may join; the order is libvirt's. */
    op_file(p, CGROUP_OP_WRITE, dir, fm, mems, flags);
    op_file(p, CGROUP_OP_WRITE, dir, fc, cpus, flags);
}

int cgroup_plan_vm(const CgroupLayout *l, const VmConfig *cfg, const CgroupGroups *groups, CgroupPlan *out) {
    memset(out, 0, sizeof(*out));
    if (l->version == CGROUP_NONE) return -EOPNOTSUPP;
    if (!name_ok(cfg->vm.name)) return -EINVAL;
    size_t emu = groups->n;
    for (size_t i = 0; i < groups->n; i++)
        if (groups->g[i].role == THREAD_EMULATOR) emu = i;
    if (emu == groups->n) return -EINVAL;

    bool v2 = l->version == CGROUP_V2;
    out->top = path_join(l->base, CGROUP_TOP);
    out->dir = path_join(out->top, cfg->vm.name);
    if (v2) op_file(out, CGROUP_OP_ENABLE, l->base, "cgroup.subtree_control", xstrdup("+cpuset"), 0);
    op_add(out, CGROUP_OP_MKDIR, xstrdup(out->top), NULL, 0, CGROUP_OP_SHARED);
    if (v2) op_file(out, CGROUP_OP_ENABLE, out->top, "cgroup.subtree_control", xstrdup("+cpuset"), CGROUP_OP_SHARED);
    else plan_cpuset(out, l, out->top, cpulist_format(&l->cpus), cpulist_format(&l->mems), CGROUP_OP_SHARED);
    op_add(out, CGROUP_OP_MKDIR, xstrdup(out->dir), NULL, 0, 0);
    if (v2) op_file(out, CGROUP_OP_ENABLE, out->dir, "cgroup.subtree_control", xstrdup("+cpuset"), 0);
    else plan_cpuset(out, l, out->dir, cpulist_format(&l->cpus), cpulist_format(&l->mems), 0);

    for (size_t i = 0; i < groups->n; i++) {
        const CgroupGroup *g = &groups->g[i];
        _cleanup_free_ char *dir = path_join(out->dir, g->name);
        op_add(out, CGROUP_OP_MKDIR, xstrdup(dir), NULL, 0, 0);
        if (v2) op_file(out, CGROUP_OP_WRITE, dir, "cgroup.type", xstrdup("threaded"), 0);
        plan_cpuset(out, l, dir, cpus_text(&g->cpus, &l->cpus), cpus_text(&cfg->memory.nodes, &l->mems), 0);
    }
    /* The whole process first, so threads QEMU started after the Placement
     * was made land in emulator too; then one thread at a time. */
    _cleanup_free_ char *emu_dir = path_join(out->dir, groups->g[emu].name);
    op_add(out, CGROUP_OP_ATTACH, path_join(emu_dir, "cgroup.procs"), NULL, emu, 0);
    for (size_t i = 0; i < groups->n; i++) {
        if (i == emu) continue;
        _cleanup_free_ char *dir = path_join(out->dir, groups->g[i].name);
        op_add(out, CGROUP_OP_ATTACH, path_join(dir, v2 ? "cgroup.threads" : "tasks"), NULL, i, 0);
    }
    return 0;
}

char *cgroup_plan_render(const CgroupPlan *plan, const CgroupGroups *groups) {
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    if (!f) abort();
    for (size_t i = 0; i < plan->n; i++) {
        const CgroupOp *op = &plan->op[i];
        bool shared = op->flags & CGROUP_OP_SHARED;
        switch (op->kind) {
        case CGROUP_OP_MKDIR: fprintf(f, "mkdir %s%s\n", op->path, shared ? " (unless it exists)" : ""); break;
        case CGROUP_OP_ENABLE: fprintf(f, "%s: %s (unless listed)\n", op->path, op->value); break;
        case CGROUP_OP_WRITE: fprintf(f, "%s: %s%s\n", op->path, op->value, shared ? " (when empty)" : ""); break;
        case CGROUP_OP_ATTACH:
            if (groups->g[op->group].role == THREAD_EMULATOR) fprintf(f, "%s: <QEMU's pid>\n", op->path);
            else fprintf(f, "%s: <thread id of %s>\n", op->path, groups->g[op->group].name);
            break;
        }
    }
    fclose(f);
    return buf;
}

void cgroup_plan_free(CgroupPlan *plan) {
    for (size_t i = 0; i < plan->n; i++) {
        free(plan->op[i].path);
        free(plan->op[i].value);
    }
    free(plan->op);
    free(plan->top);
    free(plan->dir);
    memset(plan, 0, sizeof(*plan));
}

/* ---- reading ---- */

/* A file of DIR as text; "" when missing. */
static char *read_or_empty(const HostRoot *hr, const char *dir, const char *name) {
    _cleanup_free_ char *path = path_join(dir, name);
    char *text = NULL;
    return hostroot_read(hr, path, &text) < 0 ? xstrdup("") : text;
}

/* ---- fake trees: the kernel's part (see include/cgroup.h) ---- */

static int fake_create(const HostRoot *hr, const char *dir, const char *name, const char *content) {
    _cleanup_free_ char *path = path_join(dir, name);
    _cleanup_close_ int fd = hostroot_openat(hr, path, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd < 0) return fd;
    size_t n = strlen(content);
    return write(fd, content, n) == (ssize_t)n ? 0 : -EIO;
}

static int fake_populate(const HostRoot *hr, const CgroupLayout *l, const char *dir) {
    _cleanup_free_ char *parent = NULL;
    const char *base;
    path_split(dir, &parent, &base);
    int r = 0;
    if (l->version == CGROUP_V2) {
        _cleanup_free_ char *ctl = read_or_empty(hr, parent, "cgroup.subtree_control");
        static const char *const files[][2] = { { "cgroup.procs", "" }, { "cgroup.threads", "" }, { "cgroup.type", "domain\n" },
                                               { "cgroup.subtree_control", "" }, { "cgroup.events", "populated 0\nfrozen 0\n" } };
        for (size_t i = 0; i < ELEMENTSOF(files) && r >= 0; i++) r = fake_create(hr, dir, files[i][0], files[i][1]);
        if (r >= 0) r = fake_create(hr, dir, "cgroup.controllers", ctl);
        if (r >= 0 && cgroup_list_has(ctl, "cpuset")) {
            _cleanup_free_ char *ec = read_or_empty(hr, parent, "cpuset.cpus.effective"), *em = read_or_empty(hr, parent, "cpuset.mems.effective");
            r = fake_create(hr, dir, "cpuset.cpus", "\n");
            if (r >= 0) r = fake_create(hr, dir, "cpuset.mems", "\n");
            if (r >= 0) r = fake_create(hr, dir, "cpuset.cpus.effective", ec);
            if (r >= 0) r = fake_create(hr, dir, "cpuset.mems.effective", em);
        }
        return r;
    }
    static const char *const files[][2] = { { "tasks", "" }, { "cgroup.procs", "" }, { "notify_on_release", "0\n" },
                                           { "cgroup.clone_children", "0\n" } };
    for (size_t i = 0; i < ELEMENTSOF(files) && r >= 0; i++) r = fake_create(hr, dir, files[i][0], files[i][1]);
    static const char *const cs[] = { "cpus", "mems", "effective_cpus", "effective_mems" };
    for (size_t i = 0; i < ELEMENTSOF(cs) && r >= 0; i++) {
        _cleanup_free_ char *name = cpuset_file(l->version, l->noprefix, cs[i]);
        r = fake_create(hr, dir, name, "\n");
    }
    return r;
}

/* "+cpuset" / "-cpuset" on the word list, kept in the kernel's order,
 * which is that of the cgroup's own cgroup.controllers. */
static int fake_subtree_control(const HostRoot *hr, const char *path, const char *value) {
    _cleanup_free_ char *old = NULL, *dir = NULL;
    const char *name;
    int r = hostroot_read(hr, path, &old);
    if (r < 0) return r;
    if ((value[0] != '+' && value[0] != '-') || !value[1]) return -EINVAL;
    path_split(path, &dir, &name);
    _cleanup_free_ char *order = read_or_empty(hr, dir, "cgroup.controllers");
    if (value[0] == '+' && !cgroup_list_has(order, value + 1)) return -ENOENT;
    char *out = xcalloc(1, strlen(order) + 2);
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
    r = hostroot_write(hr, path, out);
    free(out);
    return r;
}

static int fake_append(const HostRoot *hr, const char *path, const char *value) {
    _cleanup_free_ char *old = NULL;
    int r = hostroot_read(hr, path, &old);
    if (r < 0) return r;
    _cleanup_free_ char *text = xasprintf("%s%s\n", old, value);
    return hostroot_write(hr, path, text);
}

/* After a cpuset.cpus/mems write: v2's effective set is the asked one
 * within the parent's, or the parent's when nothing is left; v1's is the
 * asked one. */
static int fake_effective(const HostRoot *hr, const CgroupLayout *l, const char *path, const char *which, const char *value) {
    _cleanup_free_ char *dir = NULL, *parent = NULL;
    const char *base, *pbase;
    path_split(path, &dir, &base);
    if (l->version == CGROUP_V1) {
        _cleanup_free_ char *eff = cpuset_file(l->version, l->noprefix, streq(which, "cpus") ? "effective_cpus" : "effective_mems");
        _cleanup_free_ char *ep = path_join(dir, eff);
        return hostroot_write(hr, ep, value);
    }
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
    _cleanup_free_ char *text = cpus_text(&res, &pe);
    cpulist_free(&asked);
    cpulist_free(&pe);
    cpulist_free(&res);
    _cleanup_free_ char *ep = path_join(dir, eff);
    return hostroot_write(hr, ep, text);
}

static int fake_write(const HostRoot *hr, const CgroupLayout *l, const char *path, const char *value) {
    _cleanup_free_ char *dir = NULL;
    const char *name;
    path_split(path, &dir, &name);
    if (streq(name, "cgroup.subtree_control")) return fake_subtree_control(hr, path, value);
    if (streq(name, "cgroup.procs") || streq(name, "cgroup.threads") || streq(name, "tasks")) return fake_append(hr, path, value);
    int r = hostroot_write(hr, path, value);
    if (r < 0) return r;
    _cleanup_free_ char *fc = cpuset_file(l->version, l->noprefix, "cpus"), *fm = cpuset_file(l->version, l->noprefix, "mems");
    if (streq(name, fc)) return fake_effective(hr, l, path, "cpus", value);
    if (streq(name, fm)) return fake_effective(hr, l, path, "mems", value);
    return 0;
}

/* ---- I/O primitives ---- */

static int cg_write(const HostRoot *hr, const CgroupLayout *l, const char *path, const char *value) {
    return hr->redirected ? fake_write(hr, l, path, value) : hostroot_write(hr, path, value);
}

static int cg_mkdir(const HostRoot *hr, const CgroupLayout *l, const char *path) {
    _cleanup_free_ char *parent = NULL;
    const char *base;
    path_split(path, &parent, &base);
    _cleanup_close_ int pfd = hostroot_openat(hr, parent, O_PATH | O_DIRECTORY, 0);
    if (pfd < 0) return pfd;
    if (mkdirat(pfd, base, 0755) < 0) return -errno;
    return hr->redirected ? fake_populate(hr, l, path) : 0;
}

/* A fake cgroup is busy while it has a child or says "populated 1"; else
 * its files go, then the dir. */
static int fake_rmdir_files(const HostRoot *hr, const char *path) {
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
    struct dirent *de;
    while ((de = readdir(d)))
        if (de->d_type == DT_REG && unlinkat(dirfd(d), de->d_name, 0) < 0 && r == 0) r = -errno;
    closedir(d);
    return r;
}

static int cg_rmdir(const HostRoot *hr, const char *path) {
    if (hr->redirected) {
        int r = fake_rmdir_files(hr, path);
        if (r < 0) return r;
    }
    _cleanup_free_ char *parent = NULL;
    const char *base;
    path_split(path, &parent, &base);
    _cleanup_close_ int pfd = hostroot_openat(hr, parent, O_PATH | O_DIRECTORY, 0);
    if (pfd < 0) return pfd;
    return unlinkat(pfd, base, AT_REMOVEDIR) < 0 ? -errno : 0;
}

static void sleep_ms(long ms) {
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {}
}

/* rmdir, EBUSY retried: the threads of a process that just died may still
 * be leaving. ENOENT is success. Logs its failure. */
static int rmdir_retry(const HostRoot *hr, const char *path) {
    int r = 0;
    for (int i = 0; i < CGROUP_RMDIR_TRIES; i++) {
        if (i) sleep_ms(CGROUP_RMDIR_DELAY_MS);
        r = cg_rmdir(hr, path);
        if (r == 0 || r == -ENOENT) return 0;
        if (r != -EBUSY) break;
    }
    if (r == -EBUSY)
        return log_error_errno(r, "Failed to remove the cgroup %s: %m (threads are still in it after %d ms)", path,
                               CGROUP_RMDIR_TRIES * CGROUP_RMDIR_DELAY_MS);
    return log_error_errno(r, "Failed to remove the cgroup %s: %m", path);
}

/* A VM's dir: its children, then itself. Nothing is recursed into deeper:
 * rmdir never takes a cgroup that still has children or threads. */
static int remove_vm_dir(const HostRoot *hr, const char *dir) {
    StrVec sub = STRVEC_INIT;
    int r = hostroot_list(hr, dir, true, &sub);
    if (r == -ENOENT) return 0;
    if (r < 0) return log_error_errno(r, "Failed to list the cgroup %s: %m", dir);
    for (size_t i = 0; i < sub.n; i++) {
        _cleanup_free_ char *child = path_join(dir, sub.v[i]);
        int k = rmdir_retry(hr, child);
        if (k < 0 && r == 0) r = k;
    }
    strvec_clear(&sub);
    /* A child that stayed keeps the dir busy: no point waiting on it. */
    return r < 0 ? r : rmdir_retry(hr, dir);
}

/* kvmlaunch/ goes when the last VM left it; another VM's dir keeps it
 * (EBUSY, or ENOTEMPTY on a plain directory). */
static int rmdir_top_if_empty(const HostRoot *hr, const char *top) {
    int r = cg_rmdir(hr, top);
    if (r == 0 || r == -ENOENT || r == -EBUSY || r == -ENOTEMPTY) return 0;
    return log_error_errno(r, "Failed to remove the cgroup %s: %m", top);
}

/* The cpulist in DIR/FILE. */
static int read_cpulist(const HostRoot *hr, const char *dir, const char *file, CpuList *out) {
    _cleanup_free_ char *path = path_join(dir, file), *text = NULL;
    int r = hostroot_read(hr, path, &text);
    if (r < 0) return log_error_errno(r, "Failed to read %s: %m", path);
    if (kfile_parse_cpulist(text, out) < 0) return log_error_errno(-EINVAL, "%s: expected a cpulist, found \"%.40s\"", path, text);
    return 0;
}

/* ---- detection ---- */

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

/* Our own cgroup, or NULL when /proc/self/cgroup is missing (fake trees)
 * or has no line for this hierarchy. */
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

/* Picks BASE for v2: our cgroup when delegated and offering cpuset. */
static void choose_base(const HostRoot *hr, CgroupLayout *l, const char *own) {
    l->base = xstrdup(l->mount);
    if (l->version == CGROUP_V1) {
        l->why = xasprintf("cgroup v1 cpuset at %s; VMs under %s/" CGROUP_TOP " (v1 cpuset is never delegated)", l->mount, l->mount);
        return;
    }
    if (!own || streq(own, "/") || strstr(own, "/..")) {
        l->why = xasprintf("cgroup v2 at %s; VMs under %s/" CGROUP_TOP " (kvmlaunch runs in %s)", l->mount, l->mount, own ? own : "the root cgroup");
        return;
    }
    _cleanup_free_ char *cand = xasprintf("%s%s", l->mount, own);
    if (!is_delegated(hr, cand)) {
        l->why = xasprintf("cgroup v2 at %s; VMs under %s/" CGROUP_TOP " (kvmlaunch runs in %s, which is not delegated)", l->mount, l->mount, own);
        return;
    }
    _cleanup_free_ char *ctl = read_or_empty(hr, cand, "cgroup.controllers");
    if (!cgroup_list_has(ctl, "cpuset")) {
        l->why = xasprintf("cgroup v2 at %s; VMs under %s/" CGROUP_TOP " (kvmlaunch runs in %s, delegated without cpuset: "
                           "Delegate=yes or Delegate=cpuset would keep them there)", l->mount, l->mount, own);
        return;
    }
    free(l->base);
    l->base = TAKE_PTR(cand);
    l->delegated = true;
    l->why = xasprintf("cgroup v2 at %s; VMs under %s/" CGROUP_TOP " (kvmlaunch's own cgroup, delegated)", l->mount, l->base);
}

/* The hierarchy offering cpuset: the first cgroup2 mount whose root lists
 * it, else the v1 cpuset mount (a controller lives in one hierarchy). */
static void choose_hierarchy(const HostRoot *hr, const CgroupMounts *m, CgroupLayout *out) {
    for (size_t i = 0; i < m->v2.n && !out->mount; i++) {
        _cleanup_free_ char *ctl = NULL, *p = path_join(m->v2.v[i], "cgroup.controllers");
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
        fc = check_file(out->version, out->noprefix, "cpus");
        fm = check_file(out->version, out->noprefix, "mems");
        r = read_cpulist(hr, out->base, fc, &out->cpus);
    }
    if (r >= 0) r = read_cpulist(hr, out->base, fm, &out->mems);
    if (r >= 0 && (!out->cpus.n || !out->mems.n))
        r = log_error_errno(-ENXIO, "The cgroup %s has no %s to give to VMs", out->base, out->cpus.n ? "memory nodes" : "CPUs");
    if (r < 0) cgroup_layout_free(out);
    return r;
}

void cgroup_layout_free(CgroupLayout *l) {
    free(l->mount);
    free(l->base);
    free(l->why);
    cpulist_free(&l->cpus);
    cpulist_free(&l->mems);
    memset(l, 0, sizeof(*l));
}

/* ---- setup ---- */

static void record_enable(CgroupVm *vm, const char *dir, bool was) {
    for (size_t i = 0; i < vm->n_enabled; i++)
        if (streq(vm->enabled[i].path, dir)) return;
    vm->enabled = xrealloc(vm->enabled, (vm->n_enabled + 1) * sizeof(*vm->enabled));
    vm->enabled[vm->n_enabled++] = (CgroupEnable){ xstrdup(dir), was };
}

/* One configuration step; returns -errno without logging, so the caller
 * can retry a vanished kvmlaunch/ quietly. */
static int exec_op(const HostRoot *hr, const CgroupLayout *l, const CgroupOp *op, CgroupVm *vm) {
    switch (op->kind) {
    case CGROUP_OP_MKDIR: {
        int r = cg_mkdir(hr, l, op->path);
        return r == -EEXIST && (op->flags & CGROUP_OP_SHARED) ? 0 : r;
    }
    case CGROUP_OP_ENABLE: {
        _cleanup_free_ char *text = NULL, *dir = NULL;
        const char *base;
        path_split(op->path, &dir, &base);
        int r = hostroot_read(hr, op->path, &text);
        if (r < 0) return r;
        bool was = cgroup_list_has(text, "cpuset");
        if (!was) r = cg_write(hr, l, op->path, op->value);
        if (r >= 0) record_enable(vm, dir, was);
        return r;
    }
    case CGROUP_OP_WRITE:
        if (op->flags & CGROUP_OP_SHARED) {
            _cleanup_free_ char *text = NULL;
            int r = hostroot_read(hr, op->path, &text);
            if (r < 0) return r;
            if (text[strspn(text, " \n")]) return 0;
        }
        return cg_write(hr, l, op->path, op->value);
    case CGROUP_OP_ATTACH:
        break;
    }
    return -EINVAL;
}

/* Every step before the thread moves. A kvmlaunch/ removed by a VM that
 * just ended (between our mkdir and the VM dir's) is made again. */
static int exec_config(const HostRoot *hr, const CgroupLayout *l, const CgroupPlan *plan, CgroupVm *vm) {
    for (int attempt = 0;; attempt++) {
        bool dir_made = false;
        int r = 0;
        size_t i;
        for (i = 0; i < plan->n && plan->op[i].kind != CGROUP_OP_ATTACH; i++) {
            const CgroupOp *op = &plan->op[i];
            bool is_dir = op->kind == CGROUP_OP_MKDIR && streq(op->path, plan->dir);
            r = exec_op(hr, l, op, vm);
            if (r == -EEXIST && is_dir) {
                log_notice("Removing the cgroup %s that a previous run left", op->path);
                r = remove_vm_dir(hr, op->path);
                if (r < 0) return r;
                r = exec_op(hr, l, op, vm);
            }
            if (r < 0) break;
            if (op->kind == CGROUP_OP_MKDIR && streq(op->path, plan->top) && !vm->top) vm->top = xstrdup(plan->top);
            if (is_dir) {
                vm->dir = xstrdup(plan->dir);
                dir_made = true;
            }
        }
        if (r == -ENOENT && !dir_made && attempt < 3) continue;
        if (r < 0) {
            const CgroupOp *op = &plan->op[i];
            if (op->kind == CGROUP_OP_MKDIR) return log_error_errno(r, "Failed to create the cgroup %s: %m", op->path);
            return log_error_errno(r, "Failed to write %s to %s: %m", op->value, op->path);
        }
        return r;
    }
}

/* The kernel's answer for each group equals what was asked. */
static int verify_groups(const HostRoot *hr, const CgroupLayout *l, const VmConfig *cfg, const CgroupGroups *gs, const char *vmdir) {
    static const char *const which[] = { "cpus", "mems" };
    for (size_t i = 0; i < gs->n; i++) {
        const CgroupGroup *g = &gs->g[i];
        _cleanup_free_ char *dir = path_join(vmdir, g->name);
        for (size_t k = 0; k < ELEMENTSOF(which); k++) {
            const CpuList *asked = k == 0 ? (g->cpus.n ? &g->cpus : &l->cpus) : (cfg->memory.nodes.n ? &cfg->memory.nodes : &l->mems);
            _cleanup_free_ char *file = check_file(l->version, l->noprefix, which[k]);
            CpuList got;
            int r = read_cpulist(hr, dir, file, &got);
            if (r < 0) return r;
            bool same = cpulist_same_set(&got, asked);
            _cleanup_free_ char *a = cpus_text(asked, asked), *b = cpulist_format(&got);
            _cleanup_free_ char *avail = k == 0 ? cpus_text(&l->cpus, &l->cpus) : cpus_text(&l->mems, &l->mems);
            cpulist_free(&got);
            if (!same)
                return log_error_errno(-EXDEV, "%s: the cgroup %s got %s %s, not %s as asked (%s has %s); the VM is not started",
                                       g->name, dir, k == 0 ? "CPUs" : "memory nodes", b, a, l->base, avail);
        }
    }
    return 0;
}

static int exec_attach(const HostRoot *hr, const CgroupLayout *l, const CgroupPlan *plan, const CgroupGroups *gs, const Placement *p,
                       pid_t qemu_pid) {
    for (size_t i = 0; i < plan->n; i++) {
        const CgroupOp *op = &plan->op[i];
        if (op->kind != CGROUP_OP_ATTACH) continue;
        const CgroupGroup *g = &gs->g[op->group];
        if (g->role == THREAD_EMULATOR) {
            char id[24];
            snprintf(id, sizeof(id), "%ld", (long)qemu_pid);
            int r = cg_write(hr, l, op->path, id);
            if (r < 0) return log_error_errno(r, "Failed to move QEMU (pid %ld) into %s: %m", (long)qemu_pid, op->path);
            continue;
        }
        for (size_t k = 0; k < p->n; k++) {
            const ThreadPlace *t = &p->t[k];
            if (t->role != g->role || t->index != g->index) continue;
            char id[24];
            snprintf(id, sizeof(id), "%ld", (long)t->tid);
            int r = cg_write(hr, l, op->path, id);
            if (r < 0) return log_error_errno(r, "Failed to move %s (tid %ld) into %s: %m", t->name, (long)t->tid, op->path);
        }
    }
    return 0;
}

int cgroup_setup_vm(const HostRoot *hr, const CgroupLayout *l, const VmConfig *cfg, const Placement *p, pid_t qemu_pid,
                    CgroupVm *out) {
    memset(out, 0, sizeof(*out));
    out->version = l->version;
    if (l->version == CGROUP_NONE) return log_error_errno(-EOPNOTSUPP, "Cannot give QEMU's threads cgroups: %s", l->why ? l->why : "no cpuset hierarchy");
    CgroupGroups gs;
    cgroup_groups_from_placement(p, &gs);
    CgroupPlan plan;
    int r = cgroup_plan_vm(l, cfg, &gs, &plan);
    if (r < 0) {
        cgroup_groups_free(&gs);
        return log_error_errno(r, "Cannot plan the cgroups of \"%s\": %m", cfg->vm.name);
    }
    r = exec_config(hr, l, &plan, out);
    if (r >= 0) r = verify_groups(hr, l, cfg, &gs, plan.dir);
    if (r >= 0) r = exec_attach(hr, l, &plan, &gs, p, qemu_pid);
    if (r >= 0) {
        char *line = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&line, &size);
        if (!f) abort();
        for (size_t i = 0; i < gs.n; i++) {
            _cleanup_free_ char *c = cpus_text(&gs.g[i].cpus, &l->cpus);
            fprintf(f, " %s=%s", gs.g[i].name, c);
        }
        fclose(f);
        log_info("cgroups of %s in %s (cgroup v%d):%s", cfg->vm.name, plan.dir, l->version == CGROUP_V2 ? 2 : 1, line);
        free(line);
    }
    cgroup_plan_free(&plan);
    cgroup_groups_free(&gs);
    return r;
}

/* ---- teardown ---- */

/* Whether a child of DIR uses cpuset; *who names it. */
static bool cpuset_in_use(const HostRoot *hr, const char *dir, char **who) {
    StrVec sub = STRVEC_INIT;
    bool used = false;
    if (hostroot_list(hr, dir, true, &sub) < 0) {
        *who = xstrdup("(its children could not be listed)");
        return true;
    }
    for (size_t i = 0; i < sub.n && !used; i++) {
        _cleanup_free_ char *child = path_join(dir, sub.v[i]);
        _cleanup_free_ char *ctl = read_or_empty(hr, child, "cgroup.subtree_control");
        _cleanup_free_ char *cpus = read_or_empty(hr, child, "cpuset.cpus"), *mems = read_or_empty(hr, child, "cpuset.mems");
        used = cgroup_list_has(ctl, "cpuset") || cpus[strspn(cpus, " \n")] || mems[strspn(mems, " \n")];
        if (used) *who = TAKE_PTR(child);
    }
    strvec_clear(&sub);
    return used;
}

int cgroup_release_cpuset(const HostRoot *hr, const char *dir) {
    _cleanup_free_ char *path = path_join(dir, "cgroup.subtree_control"), *text = NULL;
    int r = hostroot_read(hr, path, &text);
    if (r == -ENOENT) return 0;
    if (r < 0) return log_error_errno(r, "Failed to read %s: %m", path);
    if (!cgroup_list_has(text, "cpuset")) return 0;
    _cleanup_free_ char *who = NULL;
    if (cpuset_in_use(hr, dir, &who)) {
        log_info("cpuset stays enabled in %s: %s uses it", path, who);
        return 0;
    }
    /* Only the fake tree's emulation reads the layout, and not for this. */
    CgroupLayout l = { .version = CGROUP_V2 };
    r = cg_write(hr, &l, path, "-cpuset");
    if (r < 0) return log_error_errno(r, "Failed to write -cpuset to %s: %m", path);
    return 0;
}

void cgroup_vm_free(CgroupVm *vm) {
    for (size_t i = 0; i < vm->n_enabled; i++) free(vm->enabled[i].path);
    free(vm->enabled);
    free(vm->top);
    free(vm->dir);
    memset(vm, 0, sizeof(*vm));
}

int cgroup_teardown_vm(const HostRoot *hr, CgroupVm *vm) {
    int r = 0;
    if (vm->dir) r = remove_vm_dir(hr, vm->dir);
    if (r >= 0 && vm->top) r = rmdir_top_if_empty(hr, vm->top);
    for (size_t i = vm->n_enabled; r >= 0 && i-- > 0;) {
        const CgroupEnable *e = &vm->enabled[i];
        /* kvmlaunch/ and below go with their last VM; only BASE is left. */
        bool ours = vm->top && !strncmp(e->path, vm->top, strlen(vm->top));
        if (e->was_enabled || ours || !hostroot_exists(hr, e->path)) continue;
        r = cgroup_release_cpuset(hr, e->path);
    }
    cgroup_vm_free(vm);
    return r;
}

int cgroup_cleanup(const HostRoot *hr, const CgroupLayout *l, const char *name) {
    if (l->version == CGROUP_NONE) return 0;
    if (!name_ok(name)) return log_error_errno(-EINVAL, "\"%s\" is no VM name", name);
    _cleanup_free_ char *top = path_join(l->base, CGROUP_TOP);
    _cleanup_free_ char *dir = path_join(top, name);
    int r = remove_vm_dir(hr, dir);
    if (r < 0) return r;
    return rmdir_top_if_empty(hr, top);
}
