/* The other running kvmlaunch VMs, as admission sees them (include/peervms.h). */
#include "peervms.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hostroot.h"
#include "runtime.h"
#include "schema.h"
#include "util.h"

/* One argument of a NUL-separated command line: the next, or NULL. */
static const char *next_arg(const char *buf, size_t len, size_t *pos) {
    if (*pos >= len) return NULL;
    const char *a = buf + *pos;
    const char *nul = memchr(a, '\0', len - *pos);
    *pos = nul ? (size_t)(nul - buf) + 1 : len;
    return a;
}

/* A memory backend of qemucmd.c's add_memory: {"qom-type":"memory-backend-*","size":N,...}. */
static void add_backend(const char *arg, uint64_t *memory, uint64_t *hugetlb, bool *found) {
    if (arg[0] != '{') return;
    json_object *o = json_tokener_parse(arg), *v;
    if (!o) return;
    const char *type = json_object_object_get_ex(o, "qom-type", &v) ? json_object_get_string(v) : NULL;
    if (type && !strncmp(type, "memory-backend-", 15) && json_object_object_get_ex(o, "size", &v)) {
        int64_t size = json_object_get_int64(v);
        if (size > 0) {
            json_object *h;
            bool huge = (json_object_object_get_ex(o, "hugetlb", &h) && json_object_get_boolean(h)) || json_object_object_get_ex(o, "mem-path", &h);
            *memory += (uint64_t)size;
            if (huge) *hugetlb += (uint64_t)size;
            *found = true;
        }
    }
    json_object_put(o);
}

int peervm_parse_cmdline(const char *buf, size_t len, const char *name, uint64_t *memory, uint64_t *hugetlb) {
    *memory = *hugetlb = 0;
    bool named = false, found = false;
    size_t pos = 0;
    const char *prev = "", *a;
    while ((a = next_arg(buf, len, &pos))) {
        if (streq(prev, "-name") && !strncmp(a, "guest=", 6)) {
            size_t n = strcspn(a + 6, ",");
            named = n == strlen(name) && !strncmp(a + 6, name, n);
        }
        if (streq(prev, "-object")) add_backend(a, memory, hugetlb, &found);
        prev = a;
    }
    if (!named) return -ESRCH;
    return found ? 0 : -ENOENT;
}

int peervm_parse_fdinfo_flags(const char *text, int *flags) {
    for (const char *p = text; p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, "flags:", 6)) continue;
        char *end;
        errno = 0;
        unsigned long v = strtoul(p + 6, &end, 8);
        if (errno || end == p + 6 || v > 0x7fffffff) return -EINVAL;
        *flags = (int)v;
        return 0;
    }
    return -EINVAL;
}

int peervm_parse_rss(const char *status, uint64_t *rss) {
    for (const char *p = status; p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, "VmRSS:", 6)) continue;
        char *end;
        errno = 0;
        unsigned long long kb = strtoull(p + 6, &end, 10);
        if (errno || end == p + 6 || strncmp(end, " kB", 3) || kb > UINT64_MAX >> 10) return -EINVAL;
        *rss = (uint64_t)kb << 10;
        return 0;
    }
    return -ENOENT;
}

/* /proc/PID/cmdline whole: its NULs are the separators. */
static int read_cmdline(const HostRoot *hr, pid_t pid, char **out, size_t *len) {
    _cleanup_free_ char *path = xasprintf("/proc/%ld/cmdline", (long)pid);
    return hostroot_read_len(hr, path, out, len);
}

/* QEMU's regular files and block devices, each with its open mode. */
static int read_files(const HostRoot *hr, PeerVm *vm) {
    StrVec fds = STRVEC_INIT;
    _cleanup_free_ char *dir = xasprintf("/proc/%ld/fd", (long)vm->qemu);
    int r = hostroot_list(hr, dir, false, &fds);
    for (size_t i = 0; r == 0 && i < fds.n; i++) {
        _cleanup_free_ char *link = xasprintf("%s/%s", dir, fds.v[i]);
        /* O_PATH follows the magic link without opening what it names (a
         * FIFO, a tty, a device): nothing happens to QEMU's files. */
        _cleanup_close_ int fd = hostroot_openat(hr, link, O_PATH, 0);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0) continue; /* closed meanwhile */
        if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) continue;
        _cleanup_free_ char *info_path = xasprintf("/proc/%ld/fdinfo/%s", (long)vm->qemu, fds.v[i]), *info = NULL;
        int flags;
        if (hostroot_read(hr, info_path, &info) < 0 || peervm_parse_fdinfo_flags(info, &flags) < 0) continue;
        vm->files = xrealloc(vm->files, (vm->n_files + 1) * sizeof(PeerFile));
        PeerFile *f = &vm->files[vm->n_files++];
        *f = (PeerFile){ 0 };
        if (S_ISBLK(st.st_mode)) f->rdev = st.st_rdev;
        else f->dev = st.st_dev, f->ino = st.st_ino;
        f->writable = (flags & O_ACCMODE) != O_RDONLY;
    }
    strvec_clear(&fds);
    return r;
}

static int probe_one(const HostRoot *hr, PeerVm *vm) {
    _cleanup_free_ char *cmdline = NULL, *status = NULL;
    size_t len = 0;
    int r = read_cmdline(hr, vm->qemu, &cmdline, &len);
    if (r < 0) return r;
    r = peervm_parse_cmdline(cmdline, len, vm->name, &vm->memory, &vm->hugetlb);
    if (r == -ESRCH) return r;
    _cleanup_free_ char *spath = xasprintf("/proc/%ld/status", (long)vm->qemu);
    r = hostroot_read(hr, spath, &status);
    if (r < 0) return r;
    (void)peervm_parse_rss(status, &vm->rss);
    return read_files(hr, vm);
}

static int cmp_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int peervms_probe(const char *except, PeerVms *out) {
    memset(out, 0, sizeof(*out));
    /* The runtime dirs are real directories (runtime.h), not the HostRoot's. */
    DIR *d = opendir(runtime_base());
    if (!d) return errno == ENOENT ? 0 : -errno;
    StrVec names = STRVEC_INIT;
    for (struct dirent *de; (de = readdir(d));) {
        char err[VALUE_ERR_MAX];
        if (de->d_type == DT_DIR && schema_check_vm_name(de->d_name, err) == 0 && !(except && streq(de->d_name, except)))
            strvec_push(&names, de->d_name);
    }
    closedir(d);
    if (names.n) qsort(names.v, names.n, sizeof(char *), cmp_names);
    /* The real root, whatever KVMLAUNCH_ROOT says: the pids are this host's. */
    HostRoot hr = { open("/", O_PATH | O_DIRECTORY | O_CLOEXEC), NULL, false, &hostroot_kernel_ops, NULL };
    int root_err = hr.fd < 0 ? -errno : 0;
    for (size_t i = 0; i < names.n; i++) {
        pid_t sup = 0, qemu = 0;
        if (runtime_query(names.v[i], &sup, &qemu) != 1) continue;
        out->v = xrealloc(out->v, (out->n + 1) * sizeof(PeerVm));
        PeerVm *vm = &out->v[out->n++];
        *vm = (PeerVm){ .name = xstrdup(names.v[i]), .qemu = qemu > 0 ? qemu : 0 };
        if (!vm->qemu) continue;
        vm->err = root_err ? root_err : probe_one(&hr, vm);
        if (vm->err == -ESRCH || vm->err == -ENOENT) {
            /* QEMU ended while it was read, or the pid is another process's
             * now: the VM is going, it holds nothing. */
            free(vm->name);
            free(vm->files);
            out->n--;
        }
    }
    if (hr.fd >= 0) close(hr.fd);
    strvec_clear(&names);
    return 0;
}

void peervms_free(PeerVms *p) {
    for (size_t i = 0; i < p->n; i++) {
        free(p->v[i].name);
        free(p->v[i].files);
    }
    free(p->v);
    memset(p, 0, sizeof(*p));
}
