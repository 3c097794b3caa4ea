/* Every example VM in real QEMU: each examples/NAME.ini is loaded with the real
 * vmconf code, adapted to this host (small documented steps below), turned
 * into argv by qemucmd_build(), and started as real QEMU under TCG with -S,
 * its tap queues from a multi-queue tap in a network namespace of the test's
 * own. Through QMP the test then checks that QEMU took every option as meant
 * (query-cpus-fast, query-memdev, query-block, query-iothreads, qom-get).
 * A second case feeds names, paths and a kernel command line full of `,`,
 * `=` and quotes, and proves QEMU got them verbatim.
 *
 * Needs root, /dev/net/tun, QEMU and the test guest (tests/guest/build.sh);
 * without them it exits 77 saying "SKIP: ...". Runs from the repository
 * root; KVMLAUNCH_TEST_EXAMPLES=DIR reads the .ini files of DIR instead. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <glob.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hostfacts.h"
#include "netns_test.h"
#include "qemucmd.h"
#include "qmp.h"
#include "strvec.h"
#include "skip.h"
#include "util.h"
#include "vmconf.h"

#define QMP_TIMEOUT_MS 30000
#define QUIT_TIMEOUT_MS 30000
#define TEST_MEMORY (UINT64_C(256) << 20)
#define TEST_DISK_SIZE "64M"
/* Text that would change an option if a path reached QEMU's keyval parser
 * unescaped: every temporary path the test hands QEMU contains it. */
#define EVIL ",snapshot=on,file.driver=null-co,x=y"

typedef struct HugeReserve {
    char *dir;                      /* owned: .../hugepages-NkB of the pool used; NULL: untouched */
    long orig;                      /* nr_hugepages before the test */
} HugeReserve;

typedef struct Fixture {
    const char *label;              /* "server.ini" in messages */
    char *ini;                      /* owned: the example's path; NULL for ini_text */
    const char *ini_text;           /* a VM definition of the test's own */
    VmConfig cfg;
    HostFacts facts;
    StrVec argv;
    char *tmpdir;                   /* owned: everything the test creates; removed on teardown */
    char *overlay_dir;              /* owned: QEMU's TMPDIR, where -drive snapshot=on puts its overlay */
    char *log_path;                 /* owned: QEMU's stdout and stderr */
    const char *status_path;        /* the status monitor's socket (in strings) */
    const char *serial_path;        /* the serial log kvmlaunch would write, or NULL (in strings) */
    int serial_sock;                /* ours of the serial socket pair (the supervisor's, in a run), or -1 */
    char *hugetlbfs;                /* owned: a hugetlbfs the test mounted, or NULL */
    HugeReserve huge;
    int *src_fd, *dst_fd;           /* owned: descriptors for QEMU, and the numbers they get there */
    size_t n_fd;
    pid_t pid;                      /* QEMU; 0 when reaped */
    QmpClient qmp;                  /* the product's QMP client */
    double ready_s;                 /* fork to QMP ready */
    json_object **garbage;          /* owned: every QMP reply, put on teardown */
    size_t n_garbage;
    char **strings;                 /* owned: formatted strings, freed on teardown */
    size_t n_strings;
    bool passed;
} Fixture;

#define FAILF(f, fmt, ...) fail_msg("%s: " fmt, (f)->label, ##__VA_ARGS__)

static char *guest_dir;             /* absolute tests/guest/out */
static const char *tmp_base;        /* where temporary directories go: O_DIRECT must work there */

/* ---- small helpers; everything they allocate lives until teardown, so a
 * failing check (cmocka longjmps out of it) leaks nothing ---------------- */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Takes S: freed on teardown. */
static char *ftake(Fixture *f, char *s) {
    f->strings = xrealloc(f->strings, (f->n_strings + 1) * sizeof(char *));
    f->strings[f->n_strings++] = s;
    return s;
}

static char *fstr(Fixture *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *fstr(Fixture *f, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0) abort();
    va_end(ap);
    return ftake(f, s);
}

static json_object *keep(Fixture *f, json_object *o) {
    f->garbage = xrealloc(f->garbage, (f->n_garbage + 1) * sizeof(json_object *));
    f->garbage[f->n_garbage++] = o;
    return o;
}

static const char *jtext(json_object *o) {
    return o ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN) : "nothing";
}

/* The member at a dotted PATH ("image.backing-image.filename"), or NULL. */
static json_object *jpath(json_object *o, const char *path) {
    while (o && *path) {
        const char *dot = strchr(path, '.');
        size_t n = dot ? (size_t)(dot - path) : strlen(path);
        char key[128];
        snprintf(key, sizeof(key), "%.*s", (int)n, path);
        json_object *next = NULL;
        if (!json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, key, &next)) return NULL;
        o = next;
        path += n + (dot ? 1 : 0);
    }
    return o;
}

static const char *jstr(json_object *o, const char *path) {
    json_object *v = jpath(o, path);
    return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

static void expect_int(Fixture *f, const char *what, json_object *got, int64_t want) {
    if (!got || !json_object_is_type(got, json_type_int) || json_object_get_int64(got) != want)
        FAILF(f, "%s: expected %" PRId64 ", found %s", what, want, jtext(got));
}

static void expect_bool(Fixture *f, const char *what, json_object *got, bool want) {
    if (!got || !json_object_is_type(got, json_type_boolean) || json_object_get_boolean(got) != want)
        FAILF(f, "%s: expected %s, found %s", what, want ? "true" : "false", jtext(got));
}

static void expect_str(Fixture *f, const char *what, json_object *got, const char *want) {
    if (!got || !json_object_is_type(got, json_type_string) || !streq(json_object_get_string(got), want))
        FAILF(f, "%s: expected \"%s\", found %s", what, want, jtext(got));
}

static const char *qmp_err(const QmpClient *q) { return q->error ? q->error : "(no detail)"; }

/* Runs CMD (ARGS taken) and returns its "return" value; any error fails the test. */
static json_object *qmp(Fixture *f, const char *cmd, json_object *args) {
    json_object *ret = NULL;
    if (qmp_execute(&f->qmp, cmd, args, &ret, QMP_TIMEOUT_MS) < 0) FAILF(f, "QMP %s: %s", cmd, qmp_err(&f->qmp));
    return keep(f, ret);
}

static json_object *qom_get(Fixture *f, const char *path, const char *prop) {
    json_object *ret = NULL;
    json_object *args = json_object_new_object();
    json_object_object_add(args, "path", json_object_new_string(path));
    json_object_object_add(args, "property", json_object_new_string(prop));
    if (qmp_execute(&f->qmp, "qom-get", args, &ret, QMP_TIMEOUT_MS) < 0) FAILF(f, "QMP qom-get %s %s: %s", path, prop, qmp_err(&f->qmp));
    return keep(f, ret);
}

static json_object *hmp(Fixture *f, const char *line) {
    json_object *a = json_object_new_object();
    json_object_object_add(a, "command-line", json_object_new_string(line));
    return qmp(f, "human-monitor-command", a);
}

static char *read_text(const char *path) {
    FILE *fp = fopen(path, "re");
    if (!fp) return NULL;
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0) fwrite(chunk, 1, n, mem);
    fclose(fp);
    fclose(mem);
    return buf;
}

static int write_long(const char *path, long v) {
    int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
    if (fd < 0) return -errno;
    char buf[32];
    int n = snprintf(buf, sizeof(buf), "%ld\n", v);
    int r = write(fd, buf, (size_t)n) == n ? 0 : -errno;
    close(fd);
    return r;
}

static long read_long(const char *path) {
    char *s = read_text(path);
    long v = s ? strtol(s, NULL, 10) : -1;
    free(s);
    return v;
}

/* Runs ARGV (no shell) with stdout and stderr into LOG; returns its exit status or -1. */
static int run_program(char *const argv[], const char *log) {
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execvp(argv[0], argv);
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* ---- adapting an example to this host: each step small and said aloud --- */

/* Memory: the examples size real servers; 256M is plenty for a VM that never
 * leaves -S, and keeps the huge page reservation small. Rounded up to the
 * huge page size so it still divides memory. */
static void adapt_memory(Fixture *f) {
    VmConfig *cfg = &f->cfg;
    uint64_t m = TEST_MEMORY;
    if (cfg->memory.backing == BACKING_HUGEPAGES && m % cfg->memory.hugepage_size)
        m = (m / cfg->memory.hugepage_size + 1) * cfg->memory.hugepage_size;
    if (cfg->vm.memory > m) cfg->vm.memory = m;
}

/* NUMA nodes: an example written for a two-node server names node 1; here
 * only the nodes that exist can be bound, so missing ones become node 0. */
static void adapt_nodes(Fixture *f) {
    CpuList *nodes = &f->cfg.memory.nodes;
    for (size_t i = 0; i < nodes->n; i++) {
        char path[64];
        snprintf(path, sizeof(path), "/sys/devices/system/node/node%d", nodes->cpu[i]);
        if (access(path, F_OK) == 0) continue;
        printf("# %s: host node %d does not exist here: binding to node 0 instead\n", f->label, nodes->cpu[i]);
        nodes->cpu[0] = 0;
        nodes->n = 1;
        return;
    }
}

/* Disks: each file becomes a fresh image of the same format (qcow2 when the
 * example leaves it to detection) in the temporary directory, whose path
 * carries EVIL: QEMU must open exactly that file, which query-block shows. */
static void adapt_disks(Fixture *f) {
    for (size_t i = 0; i < f->cfg.n_disks; i++) {
        DiskSection *d = &f->cfg.disks[i];
        const char *fmt = d->format == FORMAT_RAW ? "raw" : "qcow2";
        char *path = xasprintf("%s/%s%s.%s", f->tmpdir, d->head.id, EVIL, fmt);
        char *argv[] = { "qemu-img", "create", "-q", "-f", (char *)fmt, path, TEST_DISK_SIZE, NULL };
        int st = run_program(argv, f->log_path);
        free(d->file);
        d->file = path;
        if (st != 0) FAILF(f, "[disk \"%s\"]: qemu-img create -f %s %s failed (exit %d), see %s", d->head.id, fmt, path, st, f->log_path);
    }
}

/* Boot: the example's kernel and initrd do not exist here; the test guest's
 * do. They are reached through symlinks whose names carry EVIL, so -kernel
 * and -initrd are shown to pass any path verbatim. */
static void adapt_boot(Fixture *f) {
    VmSection *vm = &f->cfg.vm;
    static const char *const names[] = { "vmlinuz", "initrd.img" };
    char **fields[] = { &vm->kernel, &vm->initrd };
    for (size_t i = 0; i < 2; i++) {
        if (!*fields[i]) continue;
        char *target = xasprintf("%s/%s", guest_dir, names[i]);
        char *link = xasprintf("%s/%s%s", f->tmpdir, names[i], EVIL);
        int r = symlink(target, link);
        free(target);
        free(*fields[i]);
        *fields[i] = link;
        if (r < 0) FAILF(f, "symlink %s: %s", link, strerror(errno));
    }
}

/* Firmware: an OVMF path of another distribution becomes this one's. */
static void adapt_firmware(Fixture *f) {
    VmSection *vm = &f->cfg.vm;
    if (!vm->firmware || access(vm->firmware, R_OK) == 0) return;
    static const char *const known[] = { "/usr/share/OVMF/OVMF_CODE.fd", "/usr/share/OVMF/OVMF_CODE_4M.fd", "/usr/share/ovmf/OVMF.fd" };
    for (size_t i = 0; i < ELEMENTSOF(known); i++)
        if (access(known[i], R_OK) == 0) {
            free(vm->firmware);
            vm->firmware = xstrdup(known[i]);
            return;
        }
    FAILF(f, "[vm] firmware = %s: no OVMF code here (apt-get install ovmf)", vm->firmware);
}

/* Serial: a file: path of the production host becomes one in the temporary
 * directory (EVIL in it: -chardev file,path= is keyval, commas doubled). */
static void adapt_serial(Fixture *f) {
    Serial *s = &f->cfg.vm.serial;
    if (s->kind != SERIAL_FILE) return;
    free(s->path);
    s->path = xasprintf("%s/serial%s.log", f->tmpdir, EVIL);
}

/* The emulator: a path of another host falls back to the one on PATH. */
static void adapt_qemu(Fixture *f) {
    VmSection *vm = &f->cfg.vm;
    if (vm->qemu && access(vm->qemu, X_OK) != 0) vm->qemu = x_free(vm->qemu);
}

/* hugepage-path names a hugetlbfs mount of the production host: mount one of
 * our own, in a private mount namespace of the test process so that it can
 * never be seen by, or outlive, anything else. */
static void adapt_hugetlbfs(Fixture *f) {
    MemorySection *m = &f->cfg.memory;
    if (m->backing != BACKING_HUGEPAGES || !m->hugepage_path) return;
    static bool private_ns;
    if (!private_ns) {
        if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
            FAILF(f, "a mount namespace for hugetlbfs: %s", strerror(errno));
        private_ns = true;
    }
    char *dir = xasprintf("%s/hugetlbfs%s", f->tmpdir, EVIL);
    char opts[64];
    snprintf(opts, sizeof(opts), "pagesize=%" PRIu64 "k", m->hugepage_size >> 10);
    if (mkdir(dir, 0700) < 0 || mount("hugetlbfs", dir, "hugetlbfs", MS_NOSUID | MS_NODEV, opts) < 0) {
        int e = errno;
        free(dir);
        FAILF(f, "mount hugetlbfs (%s): %s", opts, strerror(e));
    }
    f->hugetlbfs = dir;
    free(m->hugepage_path);
    m->hugepage_path = xstrdup(dir);
}

/* Huge pages: whatever the example's reserve-hugepages says, the test raises
 * the pool of the bound node (or the global pool) by what the VM needs, and
 * teardown writes the old value back, also after a failure. */
static void reserve_hugepages(Fixture *f) {
    const MemorySection *m = &f->cfg.memory;
    if (m->backing != BACKING_HUGEPAGES) return;
    long need = (long)(f->cfg.vm.memory / m->hugepage_size);
    char *dir = m->nodes.n ? xasprintf("/sys/devices/system/node/node%d/hugepages/hugepages-%" PRIu64 "kB", m->nodes.cpu[0], m->hugepage_size >> 10)
                           : xasprintf("/sys/kernel/mm/hugepages/hugepages-%" PRIu64 "kB", m->hugepage_size >> 10);
    char *nr = fstr(f, "%s/nr_hugepages", dir), *fr = fstr(f, "%s/free_hugepages", dir);
    long orig = read_long(nr);
    if (orig < 0) {
        free(dir);
        FAILF(f, "%s: cannot read it (huge pages of %" PRIu64 "k unsupported here?)", nr, m->hugepage_size >> 10);
    }
    f->huge = (HugeReserve){ dir, orig };
    int r = write_long(nr, orig + need);
    if (r < 0) FAILF(f, "%s: cannot write %ld: %s", nr, orig + need, strerror(-r));
    long free_pages = read_long(fr);
    if (free_pages < need)
        FAILF(f, "%s: %ld free huge pages after raising nr_hugepages to %ld, the VM needs %ld (memory too fragmented?)", dir, free_pages,
              orig + need, need);
}

static void restore_hugepages(Fixture *f) {
    if (!f->huge.dir) return;
    char *nr = xasprintf("%s/nr_hugepages", f->huge.dir);
    int r = write_long(nr, f->huge.orig);
    if (r < 0) fprintf(stderr, "%s: WARNING: could not restore %s to %ld: %s\n", f->label, nr, f->huge.orig, strerror(-r));
    free(nr);
    f->huge.dir = x_free(f->huge.dir);
}

/* Host facts: probed for real (/dev/kvm, /dev/vhost-net, each disk's format,
 * the emulator on PATH), then three set for the test: QEMU stays root here
 * (dropping privileges is the spawner's job, tested elsewhere), output is not
 * a terminal, and the runtime directory is a temporary one (EVIL in it: the
 * serial log's path goes through keyval). */
static void probe_facts(Fixture *f) {
    hostfacts_probe(&f->cfg, &f->facts);
    f->facts.running_as_root = false;
    f->facts.stdout_kind = STDOUT_OTHER;
    free(f->facts.runtime_dir);
    f->facts.runtime_dir = xasprintf("%s/run%s", f->tmpdir, EVIL);
    if (mkdir(f->facts.runtime_dir, 0700) < 0) FAILF(f, "mkdir %s: %s", f->facts.runtime_dir, strerror(errno));
    hostfacts_assign_fds(&f->cfg, &f->facts);
}

/* ---- network and process ------------------------------------------------ */

static void add_child_fd(Fixture *f, int src, int dst) {
    f->src_fd = xrealloc(f->src_fd, (f->n_fd + 1) * sizeof(int));
    f->dst_fd = xrealloc(f->dst_fd, (f->n_fd + 1) * sizeof(int));
    f->src_fd[f->n_fd] = src;
    f->dst_fd[f->n_fd] = dst;
    f->n_fd++;
}

static void close_child_fds(Fixture *f) {
    for (size_t i = 0; i < f->n_fd; i++)
        if (f->src_fd[i] >= 0) close(f->src_fd[i]);
    f->src_fd = x_free(f->src_fd);
    f->dst_fd = x_free(f->dst_fd);
    f->n_fd = 0;
}

/* In a fresh network namespace: each NIC's multi-queue tap, attached to its
 * bridge (created there too) when the example names one, and a vhost-net
 * device per queue where /dev/vhost-net opens. */
static void plumb_network(Fixture *f) {
    if (f->cfg.n_nets == 0) return;
    int r = netns_test_unshare();
    if (r < 0) FAILF(f, "unshare(CLONE_NEWNET): %s", strerror(-r));
    for (size_t i = 0; i < f->cfg.n_nets; i++) {
        const NetSection *n = &f->cfg.nets[i];
        const NetFds *nf = &f->facts.nets[i];
        char *tap = ftake(f, vmconf_net_tap_name(&f->cfg, n));
        int *fds = xcalloc(nf->queues, sizeof(int));
        r = netns_test_tap_open(tap, nf->queues, fds);
        for (size_t q = 0; r >= 0 && q < nf->queues; q++) add_child_fd(f, fds[q], nf->tap[q]);
        free(fds);
        if (r < 0) FAILF(f, "[net \"%s\"]: tap %s with %zu queues: %s", n->head.id, tap, nf->queues, strerror(-r));
        if (n->bridge && (r = netns_test_bridge_attach(n->bridge, tap)) < 0)
            FAILF(f, "[net \"%s\"]: bridge %s in the test's namespace: %s", n->head.id, n->bridge, strerror(-r));
        for (size_t q = 0; nf->vhost && q < nf->queues; q++) {
            int fd = open("/dev/vhost-net", O_RDWR | O_CLOEXEC);
            if (fd < 0) FAILF(f, "/dev/vhost-net: %s", strerror(errno));
            add_child_fd(f, fd, nf->vhost[q]);
        }
    }
}

/* The child: every descriptor at the number HostFacts gave it, nothing else
 * open but stdio (stdout and stderr into the log), then exec. */
static void __attribute__((noreturn)) exec_qemu(Fixture *f, int log_fd, pid_t parent) {
    /* Should the test die (a crash, a kill), QEMU dies with it. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(125);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    int max = 2;
    for (size_t i = 0; i < f->n_fd; i++) max = f->dst_fd[i] > max ? f->dst_fd[i] : max;
    /* Out of the way first, so no source is overwritten by another's target. */
    int *hi = xcalloc(f->n_fd, sizeof(int));
    for (size_t i = 0; i < f->n_fd; i++) hi[i] = fcntl(f->src_fd[i], F_DUPFD, max + 1);
    int log_hi = fcntl(log_fd, F_DUPFD, max + 1);
    int null = open("/dev/null", O_RDONLY);
    if (null < 0 || dup2(null, 0) < 0 || dup2(log_hi, 1) < 0 || dup2(log_hi, 2) < 0) _exit(126);
    for (size_t i = 0; i < f->n_fd; i++)
        if (hi[i] < 0 || dup2(hi[i], f->dst_fd[i]) < 0) {
            dprintf(2, "test: cannot place descriptor %d at %d: %m\n", f->src_fd[i], f->dst_fd[i]);
            _exit(126);
        }
    for (int fd = 3; fd <= max; fd++) {
        bool wanted = false;
        for (size_t i = 0; i < f->n_fd; i++) wanted |= f->dst_fd[i] == fd;
        if (!wanted) close(fd);
    }
    close_range((unsigned)max + 1, ~0U, 0);
    setenv("TMPDIR", f->overlay_dir, 1);
    execv(f->argv.v[0], f->argv.v);
    dprintf(2, "test: exec %s: %m\n", f->argv.v[0]);
    _exit(127);
}

static void print_log(Fixture *f) {
    char *log = f->log_path ? read_text(f->log_path) : NULL;
    if (log && *log) fprintf(stderr, "---- %s: QEMU's output:\n%s---- end of QEMU's output\n", f->label, log);
    free(log);
}

/* The descriptors HostFacts numbers besides the NICs', opened as kvmlaunch
 * opens them: QMP (one end of a socketpair; ours is returned), the status
 * and control monitors' listening sockets, and the serial socket pair
 * unless serial = none (the guest never runs here, so nothing is relayed). */
static int open_control_fds(Fixture *f) {
    int sp[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0) FAILF(f, "socketpair: %s", strerror(errno));
    add_child_fd(f, sp[1], f->facts.qmp_fd);
    f->qmp.fd = sp[0]; /* closed on teardown if QMP never connects */

    /* The status monitor's and the control monitor's (qmp, balloon, pin). */
    for (int k = 0; k < 2; k++) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        const char *path = k ? fstr(f, "%s/control.sock", f->tmpdir) : (f->status_path = fstr(f, "%s/status.sock", f->tmpdir));
        if (strlen(path) >= sizeof(sa.sun_path)) FAILF(f, "%s: too long for a socket address", path);
        memcpy(sa.sun_path, path, strlen(path) + 1);
        int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (s < 0) FAILF(f, "socket: %s", strerror(errno));
        add_child_fd(f, s, k ? f->facts.control_fd : f->facts.status_fd);
        if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(s, 4) < 0) FAILF(f, "listen on %s: %s", path, strerror(errno));
    }

    char *serial = NULL;
    if (hostfacts_serial(&f->cfg, &f->facts, &serial) == SERIAL_FILE) f->serial_path = ftake(f, serial);
    else free(serial);
    if (f->facts.serial_fd >= 0) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) FAILF(f, "socketpair: %s", strerror(errno));
        add_child_fd(f, sv[1], f->facts.serial_fd);
        f->serial_sock = sv[0];
    }
    f->qmp.fd = -1;
    return sp[0];
}

/* Starts QEMU and waits for QMP: greeting and qmp_capabilities. */
static void spawn_qemu(Fixture *f) {
    int sp[2] = { open_control_fds(f), -1 };
    int log_fd = open(f->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (log_fd < 0) {
        close(sp[0]);
        FAILF(f, "%s: %s", f->log_path, strerror(errno));
    }
    fflush(NULL);
    double t0 = now_s();
    pid_t parent = getpid();
    f->pid = fork();
    if (f->pid == 0) exec_qemu(f, log_fd, parent);
    int fork_errno = errno;
    close(log_fd);
    close_child_fds(f);
    if (f->pid < 0) {
        f->pid = 0;
        close(sp[0]);
        FAILF(f, "fork: %s", strerror(fork_errno));
    }
    qmp_init(&f->qmp, sp[0]);
    int r = qmp_handshake(&f->qmp, QMP_TIMEOUT_MS);
    f->ready_s = now_s() - t0;
    if (r < 0) FAILF(f, "QEMU did not become ready on QMP: %s (its output is printed below)", qmp_err(&f->qmp));
    printf("# %s: QEMU start to QMP ready: %.3f s\n", f->label, f->ready_s);
}

/* `quit`, then QEMU must close QMP and exit 0 in time. */
static void quit_qemu(Fixture *f) {
    qmp(f, "quit", NULL);
    /* Events (SHUTDOWN) until QEMU closes the socket. */
    for (;;) {
        json_object *ev = NULL;
        int r = qmp_next_event(&f->qmp, &ev, QMP_TIMEOUT_MS);
        json_object_put(ev);
        if (r == -ECONNRESET) break;
        if (r < 0) FAILF(f, "after quit: %s", qmp_err(&f->qmp));
    }
    int st = 0;
    for (int waited = 0;; waited += 10) {
        pid_t p = waitpid(f->pid, &st, WNOHANG);
        if (p == f->pid) break;
        if (p < 0 && errno != EINTR) FAILF(f, "waitpid: %s", strerror(errno));
        if (waited >= QUIT_TIMEOUT_MS) FAILF(f, "QEMU still running %d ms after quit", QUIT_TIMEOUT_MS);
        usleep(10000);
    }
    f->pid = 0;
    /* Warnings are not failures, but worth seeing (e.g. a topology QEMU
     * finds odd for the CPU model). */
    char *log = read_text(f->log_path);
    for (char *line = log, *next; line && *line; line = next) {
        next = line + strcspn(line, "\n");
        if (*next) *next++ = '\0';
        printf("# %s: QEMU said: %s\n", f->label, line);
    }
    free(log);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        FAILF(f, "QEMU ended with %s %d after quit, expected exit 0", WIFEXITED(st) ? "exit" : "signal",
              WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
}

/* ---- the checks ----------------------------------------------------------- */

static void check_identity(Fixture *f) {
    const VmConfig *cfg = &f->cfg;
    expect_str(f, "query-name name", jpath(qmp(f, "query-name", NULL), "name"), cfg->vm.name);
    static const char *const prefix[] = { [MACHINE_Q35] = "pc-q35-", [MACHINE_PC] = "pc-i440fx-", [MACHINE_MICROVM] = "microvm-machine" };
    json_object *type = qom_get(f, "/machine", "type");
    if (!json_object_is_type(type, json_type_string) || strncmp(json_object_get_string(type), prefix[cfg->vm.machine], strlen(prefix[cfg->vm.machine])))
        FAILF(f, "/machine type: expected %s..., found %s", prefix[cfg->vm.machine], jtext(type));
    bool kvm = cfg->vm.accel == ACCEL_KVM || (cfg->vm.accel == ACCEL_AUTO && f->facts.kvm_usable);
    expect_bool(f, "query-kvm enabled", jpath(qmp(f, "query-kvm", NULL), "enabled"), kvm);
    expect_int(f, "query-memory-size-summary base-memory", jpath(qmp(f, "query-memory-size-summary", NULL), "base-memory"),
               (int64_t)cfg->vm.memory);
    if (cfg->vm.kernel) expect_str(f, "/machine kernel", qom_get(f, "/machine", "kernel"), cfg->vm.kernel);
    if (cfg->vm.initrd) expect_str(f, "/machine initrd", qom_get(f, "/machine", "initrd"), cfg->vm.initrd);
    if (cfg->vm.append) expect_str(f, "/machine append", qom_get(f, "/machine", "append"), cfg->vm.append);
    if (cfg->vm.firmware) expect_str(f, "/machine pflash0", qom_get(f, "/machine", "pflash0"), "fw-code");
}

/* vCPU i sits at socket i/(cores*threads), core (i/threads)%cores, thread
 * i%threads: QEMU's x86 order, which pinning by index relies on. */
static void check_cpus(Fixture *f) {
    const VmSection *vm = &f->cfg.vm;
    json_object *cpus = qmp(f, "query-cpus-fast", NULL);
    size_t n = json_object_array_length(cpus);
    if ((int64_t)n != vm->vcpus) FAILF(f, "query-cpus-fast: expected %" PRId64 " vCPUs, found %zu", vm->vcpus, n);
    char *seen = fstr(f, "%*s", (int)n, ""); /* 'x' at each cpu-index reported */
    for (size_t k = 0; k < n; k++) {
        json_object *c = json_object_array_get_idx(cpus, k);
        int64_t i = json_object_get_int64(jpath(c, "cpu-index"));
        if (i < 0 || i >= vm->vcpus || seen[i] == 'x') FAILF(f, "query-cpus-fast: cpu-index %" PRId64 " out of range or twice", i);
        seen[i] = 'x';
        char *what = fstr(f, "vCPU %" PRId64 " socket-id", i);
        expect_int(f, what, jpath(c, "props.socket-id"), i / (vm->cores * vm->threads));
        expect_int(f, fstr(f, "vCPU %" PRId64 " core-id", i), jpath(c, "props.core-id"), (i / vm->threads) % vm->cores);
        expect_int(f, fstr(f, "vCPU %" PRId64 " thread-id", i), jpath(c, "props.thread-id"), i % vm->threads);
        if (vm->machine != MACHINE_MICROVM) expect_int(f, fstr(f, "vCPU %" PRId64 " node-id", i), jpath(c, "props.node-id"), 0);
        json_object *tid = jpath(c, "thread-id");
        if (!tid || json_object_get_int64(tid) <= 0) FAILF(f, "vCPU %" PRId64 ": no host thread id to pin (%s)", i, jtext(c));
    }
    /* The model: "max,+x" is the class "max-x86_64-cpu". */
    bool kvm = vm->accel == ACCEL_KVM || (vm->accel == ACCEL_AUTO && f->facts.kvm_usable);
    const char *model = vm->cpu_model ? vm->cpu_model : kvm ? "host" : "max";
    char *want = fstr(f, "%.*s-x86_64-cpu", (int)strcspn(model, ","), model);
    expect_str(f, "vCPU 0 type", qom_get(f, jstr(json_object_array_get_idx(cpus, 0), "qom-path"), "type"), want);
}

static const char *backend_type(const MemorySection *m) {
    if (m->backing == BACKING_ANONYMOUS) return "memory-backend-ram";
    return m->backing == BACKING_HUGEPAGES && m->hugepage_path ? "memory-backend-file" : "memory-backend-memfd";
}

static json_object *find_named(json_object *list, const char *key, const char *value) {
    for (size_t i = 0; list && i < json_object_array_length(list); i++) {
        json_object *e = json_object_array_get_idx(list, i);
        const char *v = jstr(e, key);
        if (v && streq(v, value)) return e;
    }
    return NULL;
}

static void check_memory(Fixture *f) {
    const VmConfig *cfg = &f->cfg;
    const MemorySection *m = &cfg->memory;
    json_object *list = qmp(f, "query-memdev", NULL);
    if (json_object_array_length(list) != 1) FAILF(f, "query-memdev: expected one backend, found %s", jtext(list));
    json_object *md = json_object_array_get_idx(list, 0);
    expect_str(f, "memdev id", jpath(md, "id"), "ram-node0");
    expect_int(f, "memdev size", jpath(md, "size"), (int64_t)cfg->vm.memory);
    expect_bool(f, "memdev merge", jpath(md, "merge"), m->merge);
    expect_bool(f, "memdev prealloc", jpath(md, "prealloc"), vmconf_prealloc(cfg));
    expect_bool(f, "memdev share", jpath(md, "share"), m->share);
    static const char *const policies[] = { [POLICY_DEFAULT] = "default", [POLICY_BIND] = "bind", [POLICY_PREFERRED] = "preferred",
                                            [POLICY_INTERLEAVE] = "interleave" };
    expect_str(f, "memdev policy", jpath(md, "policy"), m->nodes.n ? policies[m->policy == POLICY_DEFAULT ? POLICY_BIND : m->policy] : "default");
    json_object *hn = jpath(md, "host-nodes");
    size_t nn = hn ? json_object_array_length(hn) : 0;
    bool same = nn == m->nodes.n;
    for (size_t i = 0; same && i < nn; i++) same = cpulist_contains(&m->nodes, (int)json_object_get_int64(json_object_array_get_idx(hn, i)));
    if (!same) FAILF(f, "memdev host-nodes: expected %zu nodes as in [memory] nodes, found %s", m->nodes.n, jtext(hn));

    json_object *args = json_object_new_object();
    json_object_object_add(args, "path", json_object_new_string("/objects"));
    json_object *obj = find_named(qmp(f, "qom-list", args), "name", "ram-node0");
    expect_str(f, "/objects/ram-node0", obj ? jpath(obj, "type") : NULL, fstr(f, "child<%s>", backend_type(m)));
    if (m->backing == BACKING_HUGEPAGES && !m->hugepage_path) {
        expect_bool(f, "ram-node0 hugetlb", qom_get(f, "/objects/ram-node0", "hugetlb"), true);
        expect_int(f, "ram-node0 hugetlbsize", qom_get(f, "/objects/ram-node0", "hugetlbsize"), (int64_t)m->hugepage_size);
    } else if (m->backing == BACKING_HUGEPAGES) {
        expect_str(f, "ram-node0 mem-path", qom_get(f, "/objects/ram-node0", "mem-path"), m->hugepage_path);
    }
}

/* What each cache mode means in QEMU (as libvirt and QEMU's docs spell it):
 * O_DIRECT, flushes ignored, and the guest-visible write cache. */
typedef struct Cache { bool direct, no_flush, writeback; } Cache;
static Cache cache_meaning(int mode) {
    switch (mode) {
    case CACHE_NONE: return (Cache){ true, false, true };
    case CACHE_WRITEBACK: return (Cache){ false, false, true };
    case CACHE_WRITETHROUGH: return (Cache){ false, false, false };
    case CACHE_DIRECTSYNC: return (Cache){ true, false, false };
    default: return (Cache){ false, true, true }; /* unsafe */
    }
}

static void expect_cache(Fixture *f, const char *what, json_object *node, Cache want) {
    expect_bool(f, fstr(f, "%s cache.direct", what), jpath(node, "cache.direct"), want.direct);
    expect_bool(f, fstr(f, "%s cache.no-flush", what), jpath(node, "cache.no-flush"), want.no_flush);
}

static const char *format_name(Fixture *f, size_t i) {
    int fmt = f->cfg.disks[i].format == FORMAT_AUTO ? f->facts.disks[i].detected_format : f->cfg.disks[i].format;
    return fmt == FORMAT_QCOW2 ? "qcow2" : "raw";
}

/* The file under a snapshot=on overlay: QEMU names the overlay node with a
 * json: filename, {"file": {"filename": OVERLAY}, "backing": ...}. */
static const char *overlay_path(Fixture *f, const char *file) {
    if (strncmp(file, "json:", 5)) return file;
    json_object *o = keep(f, json_tokener_parse(file + 5));
    return o ? jstr(o, "file.filename") : NULL;
}

static void check_snapshot_disk(Fixture *f, const DiskSection *d, json_object *ins, json_object *nodes, const char *fmt) {
    const char *id = d->head.id;
    /* QEMU's temporary overlay: a qcow2 in QEMU's TMPDIR, backed by our file. */
    expect_str(f, fstr(f, "disk %s overlay drv", id), jpath(ins, "drv"), "qcow2");
    expect_str(f, fstr(f, "disk %s backing image", id), jpath(ins, "image.backing-image.filename"), d->file);
    expect_str(f, fstr(f, "disk %s backing format", id), jpath(ins, "image.backing-image.format"), fmt);
    const char *ov = jstr(ins, "file") ? overlay_path(f, jstr(ins, "file")) : NULL;
    if (!ov || strncmp(ov, f->overlay_dir, strlen(f->overlay_dir)) || ov[strlen(f->overlay_dir)] != '/')
        FAILF(f, "disk %s: expected the snapshot overlay in QEMU's TMPDIR %s, found %s", id, f->overlay_dir, jtext(jpath(ins, "file")));
    /* QEMU opens its temporary overlay with cache=unsafe whatever -drive
     * says (bdrv_temp_snapshot_options); the cache mode applies below it. */
    expect_cache(f, fstr(f, "disk %s overlay", id), ins, (Cache){ false, true, true });
    bool fmt_seen = false, file_seen = false;
    for (size_t k = 0; k < json_object_array_length(nodes); k++) {
        json_object *n = json_object_array_get_idx(nodes, k);
        const char *file = jstr(n, "file"), *drv = jstr(n, "drv");
        if (!file || !drv || !streq(file, d->file)) continue;
        fmt_seen |= streq(drv, fmt);
        file_seen |= streq(drv, "file");
        expect_cache(f, fstr(f, "disk %s node %s", id, jstr(n, "node-name")), n, cache_meaning(d->cache));
        /* Under an overlay the image itself is only read. */
        expect_bool(f, fstr(f, "disk %s node %s ro", id, jstr(n, "node-name")), jpath(n, "ro"), true);
    }
    if (!fmt_seen || !file_seen) FAILF(f, "disk %s: expected a %s node and a file node for %s in query-named-block-nodes", id, fmt, d->file);
}

static void check_plain_disk(Fixture *f, const DiskSection *d, json_object *ins, json_object *nodes, const char *fmt) {
    const char *id = d->head.id;
    Cache c = cache_meaning(d->cache);
    expect_str(f, fstr(f, "disk %s file", id), jpath(ins, "file"), d->file);
    expect_str(f, fstr(f, "disk %s image filename", id), jpath(ins, "image.filename"), d->file);
    expect_str(f, fstr(f, "disk %s drv", id), jpath(ins, "drv"), fmt);
    expect_str(f, fstr(f, "disk %s image format", id), jpath(ins, "image.format"), fmt);
    expect_cache(f, fstr(f, "disk %s", id), ins, c);
    json_object *fn = find_named(nodes, "node-name", fstr(f, "file-%s", id));
    if (!fn) FAILF(f, "disk %s: no node file-%s in query-named-block-nodes", id, id);
    expect_str(f, fstr(f, "node file-%s drv", id), jpath(fn, "drv"), "file");
    expect_str(f, fstr(f, "node file-%s file", id), jpath(fn, "file"), d->file);
    expect_bool(f, fstr(f, "node file-%s ro", id), jpath(fn, "ro"), d->readonly);
    expect_cache(f, fstr(f, "node file-%s", id), fn, c);
}

static void check_disk_device(Fixture *f, const DiskSection *d) {
    const char *id = d->head.id;
    char *dev = fstr(f, "/machine/peripheral/disk-%s", id);
    char *iot = d->iothread ? fstr(f, "/objects/iothread-%s", id) : "";
    int64_t queues = (int64_t)vmconf_disk_queues(&f->cfg, d);
    expect_str(f, fstr(f, "disk-%s drive", id), qom_get(f, dev, "drive"), fstr(f, "fmt-%s", id));
    expect_str(f, fstr(f, "disk-%s write-cache", id), qom_get(f, dev, "write-cache"), cache_meaning(d->cache).writeback ? "on" : "off");
    if (d->bus == BUS_VIRTIO_SCSI) {
        char *ctrl = fstr(f, "/machine/peripheral/scsi-%s", id);
        expect_int(f, fstr(f, "scsi-%s num_queues", id), qom_get(f, ctrl, "num_queues"), queues);
        expect_str(f, fstr(f, "scsi-%s iothread", id), qom_get(f, ctrl, "iothread"), iot);
    } else {
        expect_int(f, fstr(f, "disk-%s num-queues", id), qom_get(f, dev, "num-queues"), queues);
        expect_str(f, fstr(f, "disk-%s iothread", id), qom_get(f, dev, "iothread"), iot);
    }
}

static void check_disks(Fixture *f) {
    json_object *blocks = qmp(f, "query-block", NULL), *nodes = qmp(f, "query-named-block-nodes", NULL);
    json_object *threads = qmp(f, "query-iothreads", NULL);
    size_t want_threads = 0;
    for (size_t i = 0; i < f->cfg.n_disks; i++) {
        const DiskSection *d = &f->cfg.disks[i];
        const char *id = d->head.id, *fmt = format_name(f, i);
        char *fmt_node = fstr(f, "fmt-%s", id);
        /* -blockdev: the device's backend has our node name; -drive (snapshot): the drive's id. */
        json_object *b = find_named(blocks, "inserted.node-name", fmt_node);
        if (!b) b = find_named(blocks, "device", fmt_node);
        if (!b) FAILF(f, "disk %s: no %s in query-block: %s", id, fmt_node, jtext(blocks));
        /* qdev: the device's id when it has one (scsi-hd), else its QOM path
         * (virtio-blk-pci's inner ".../virtio-backend"). */
        const char *qdev = jstr(b, "qdev");
        char *want_qdev = fstr(f, "/machine/peripheral/disk-%s", id);
        if (!qdev || (strncmp(qdev, want_qdev, strlen(want_qdev)) && !streq(qdev, want_qdev + strlen("/machine/peripheral/"))))
            FAILF(f, "disk %s: expected it attached to %s, found qdev %s", id, want_qdev, qdev ? qdev : "none");
        json_object *ins = jpath(b, "inserted");
        expect_bool(f, fstr(f, "disk %s ro", id), jpath(ins, "ro"), d->readonly);
        expect_bool(f, fstr(f, "disk %s cache.writeback", id), jpath(ins, "cache.writeback"), cache_meaning(d->cache).writeback);
        if (d->snapshot) check_snapshot_disk(f, d, ins, nodes, fmt);
        else check_plain_disk(f, d, ins, nodes, fmt);
        check_disk_device(f, d);
        if (!d->iothread) continue;
        want_threads++;
        json_object *t = find_named(threads, "id", fstr(f, "iothread-%s", id));
        if (!t || json_object_get_int64(jpath(t, "thread-id")) <= 0) FAILF(f, "disk %s: no iothread-%s in query-iothreads: %s", id, id, jtext(threads));
    }
    if (json_object_array_length(threads) != want_threads)
        FAILF(f, "query-iothreads: expected %zu I/O threads, one per disk with iothread = yes, found %s", want_threads, jtext(threads));
}

/* aio= is not in query-block; its traces are: an "[aio]" ring mapped for
 * Linux AIO (native), an io_uring descriptor for io_uring. */
static void check_aio(Fixture *f) {
    bool native = false, uring = false;
    for (size_t i = 0; i < f->cfg.n_disks; i++) {
        native |= f->cfg.disks[i].aio == AIO_NATIVE;
        uring |= f->cfg.disks[i].aio == AIO_IO_URING;
    }
    if (native) {
        char *maps = read_text(fstr(f, "/proc/%d/maps", (int)f->pid));
        bool ok = maps && strstr(maps, "/[aio]");
        free(maps);
        if (!ok) FAILF(f, "aio = native: no Linux AIO ring in QEMU's /proc/%d/maps", (int)f->pid);
    }
    if (uring) {
        bool ok = false;
        for (int fd = 0; fd < 1024 && !ok; fd++) {
            char target[64] = "";
            ssize_t n = readlink(fstr(f, "/proc/%d/fd/%d", (int)f->pid, fd), target, sizeof(target) - 1);
            ok = n > 0 && strstr(target, "io_uring");
        }
        if (!ok) FAILF(f, "aio = io_uring: no io_uring descriptor in QEMU's /proc/%d/fd", (int)f->pid);
    }
    if (native || uring) printf("# %s: aio:%s%s in use in QEMU\n", f->label, native ? " native" : "", uring ? " io_uring" : "");
}

static void check_nets(Fixture *f) {
    const char *info = json_object_get_string(hmp(f, "info network"));
    for (size_t i = 0; i < f->cfg.n_nets; i++) {
        const NetSection *n = &f->cfg.nets[i];
        const NetFds *nf = &f->facts.nets[i];
        const char *id = n->head.id;
        char *dev = fstr(f, "/machine/peripheral/nic-%s", id);
        int64_t queues = vmconf_net_queues(&f->cfg, n);
        MacAddr mac = vmconf_net_mac(&f->cfg, n);
        char *macf = ftake(f, mac_format(&mac));
        expect_str(f, fstr(f, "nic-%s netdev", id), qom_get(f, dev, "netdev"), fstr(f, "net-%s", id));
        expect_str(f, fstr(f, "nic-%s mac", id), qom_get(f, dev, "mac"), macf);
        expect_bool(f, fstr(f, "nic-%s mq", id), qom_get(f, dev, "mq"), queues > 1);
        if (queues > 1 && f->cfg.vm.machine != MACHINE_MICROVM)
            expect_int(f, fstr(f, "nic-%s vectors", id), qom_get(f, dev, "vectors"), 2 * queues + 2);
        expect_int(f, fstr(f, "nic-%s host_mtu", id), qom_get(f, dev, "host_mtu"), n->mtu);
        /* Each queue is a tap backend of its own on the descriptor HostFacts gave it, in order. */
        char *want = fstr(f, "%s", "");
        for (size_t q = 0; q < nf->queues; q++) want = fstr(f, "%s net-%s: index=%zu,type=tap,fd=%d;", want, id, q, nf->tap[q]);
        char *found = fstr(f, "%s", "");
        char *tag = fstr(f, " net-%s: ", id);
        for (const char *p = strstr(info, tag); p; p = strstr(p + 1, tag))
            found = fstr(f, "%s%.*s;", found, (int)strcspn(p, "\r\n"), p);
        if (!streq(found, want)) FAILF(f, "[net \"%s\"]: info network: expected \"%s\", found \"%s\" in:\n%s", id, want, found, info);
    }
}

static void check_balloon_exit(Fixture *f) {
    const BalloonSection *b = &f->cfg.balloon;
    const char *dev = "/machine/peripheral/balloon0";
    if (b->enabled) {
        expect_bool(f, "balloon0 deflate-on-oom", qom_get(f, dev, "deflate-on-oom"), b->deflate_on_oom);
        expect_bool(f, "balloon0 free-page-reporting", qom_get(f, dev, "free-page-reporting"), b->free_page_reporting);
        expect_int(f, "balloon0 guest-stats-polling-interval", qom_get(f, dev, "guest-stats-polling-interval"), (int64_t)(b->stats_period_ms / 1000));
    }
    if (f->cfg.vm.exit_device) {
        expect_int(f, "exit0 iobase", qom_get(f, "/machine/peripheral/exit0", "iobase"), 0xf4);
        expect_int(f, "exit0 iosize", qom_get(f, "/machine/peripheral/exit0", "iosize"), 4);
    }
}

/* Exactly the devices the example asks for, of the right types. */
static void check_peripherals(Fixture *f) {
    const VmConfig *cfg = &f->cfg;
    const char *sfx = cfg->vm.machine == MACHINE_MICROVM ? "device" : "pci";
    StrVec want = STRVEC_INIT;
    for (size_t i = 0; i < cfg->n_disks; i++) {
        const DiskSection *d = &cfg->disks[i];
        if (d->bus == BUS_VIRTIO_SCSI) {
            strvec_pushf(&want, "scsi-%s child<virtio-scsi-%s>", d->head.id, sfx);
            strvec_pushf(&want, "disk-%s child<scsi-hd>", d->head.id);
        } else {
            strvec_pushf(&want, "disk-%s child<virtio-blk-%s>", d->head.id, sfx);
        }
    }
    for (size_t i = 0; i < cfg->n_nets; i++) strvec_pushf(&want, "nic-%s child<virtio-net-%s>", cfg->nets[i].head.id, sfx);
    if (cfg->balloon.enabled) strvec_pushf(&want, "balloon0 child<virtio-balloon-%s>", sfx);
    if (cfg->vm.exit_device) strvec_push(&want, "exit0 child<isa-debug-exit>");
    /* Always on q35 and pc: a guest panic reaches the supervisor ([vm] on-crash). */
    if (cfg->vm.machine != MACHINE_MICROVM) strvec_push(&want, "pvpanic0 child<pvpanic>");
    if (cfg->vm.watchdog == WATCHDOG_I6300ESB) strvec_push(&want, "watchdog0 child<i6300esb>");
    if (cfg->vm.guest_agent) {
        strvec_pushf(&want, "vser0 child<virtio-serial-%s>", sfx);
        strvec_push(&want, "qga0-port child<virtserialport>");
    }
    if (cfg->tpm.enabled) strvec_pushf(&want, "tpm0-dev child<%s>", cfg->vm.machine == MACHINE_Q35 ? "tpm-crb" : "tpm-tis");
    for (size_t i = 0; i < want.n; i++) fstr(f, "%s", want.v[i]); /* kept past a failure */
    size_t first = f->n_strings - want.n, n = want.n;
    strvec_clear(&want);

    json_object *args = json_object_new_object();
    json_object_object_add(args, "path", json_object_new_string("/machine/peripheral"));
    json_object *list = qmp(f, "qom-list", args);
    size_t children = 0;
    for (size_t k = 0; k < json_object_array_length(list); k++) {
        json_object *e = json_object_array_get_idx(list, k);
        const char *type = jstr(e, "type");
        if (!type || strncmp(type, "child<", 6)) continue;
        children++;
        char *have = fstr(f, "%s %s", jstr(e, "name"), type);
        bool expected = false;
        for (size_t i = 0; i < n; i++) expected |= streq(f->strings[first + i], have);
        if (!expected) FAILF(f, "/machine/peripheral: unexpected device %s", have);
    }
    if (children != n) FAILF(f, "/machine/peripheral: expected %zu devices, found %zu: %s", n, children, jtext(list));
}

/* The second monitor (for `kvmlaunch status`) answers on its socket. */
static void check_status_monitor(Fixture *f) {
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    memcpy(sa.sun_path, f->status_path, strlen(f->status_path) + 1);
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        if (s >= 0) close(s);
        FAILF(f, "status monitor %s: %s", f->status_path, strerror(errno));
    }
    QmpClient st;
    json_object *ret = NULL;
    qmp_init(&st, s);
    int r = qmp_handshake(&st, QMP_TIMEOUT_MS);
    if (r >= 0) r = qmp_execute(&st, "query-status", NULL, &ret, QMP_TIMEOUT_MS);
    char *err = fstr(f, "%s", qmp_err(&st));
    qmp_close(&st);
    if (r < 0) FAILF(f, "status monitor: %s", err);
    keep(f, ret);
    expect_str(f, "status monitor: query-status status", jpath(ret, "status"), "prelaunch");
}

/* What only the process shows: the seccomp sandbox, locked memory, and the
 * serial console: a socket at its number, never the log itself (the
 * supervisor writes that). */
static void check_process(Fixture *f) {
    char *status = read_text(fstr(f, "/proc/%d/status", (int)f->pid));
    const char *sec = status ? strstr(status, "\nSeccomp:") : NULL;
    const char *lck = status ? strstr(status, "\nVmLck:") : NULL;
    long mode = sec ? strtol(sec + 9, NULL, 10) : -1, locked = lck ? strtol(lck + 7, NULL, 10) : -1;
    free(status);
    if (mode != 2) FAILF(f, "-sandbox on: expected Seccomp: 2 (filter) in /proc/%d/status, found %ld", (int)f->pid, mode);
    if (f->cfg.memory.lock && locked <= 0) FAILF(f, "[memory] lock: expected VmLck > 0, found %ld kB", locked);
    if (f->facts.serial_fd < 0) return;
    char target[PATH_MAX];
    ssize_t n = readlink(fstr(f, "/proc/%d/fd/%d", (int)f->pid, f->facts.serial_fd), target, sizeof(target) - 1);
    if (n > 0) target[n] = '\0';
    if (n <= 0 || strncmp(target, "socket:", 7))
        FAILF(f, "serial: expected QEMU to hold the serial socket at fd %d, found %s", f->facts.serial_fd, n > 0 ? target : "nothing");
    for (int fd = 0; fd < 1024 && f->serial_path; fd++) {
        n = readlink(fstr(f, "/proc/%d/fd/%d", (int)f->pid, fd), target, sizeof(target) - 1);
        if (n <= 0) continue;
        target[n] = '\0';
        if (streq(target, f->serial_path)) FAILF(f, "serial: QEMU holds the log %s (fd %d): the supervisor is to write it", f->serial_path, fd);
    }
}

/* ---- one example from start to end ---------------------------------------- */

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    if (remove(path) < 0) fprintf(stderr, "WARNING: cannot remove %s: %s\n", path, strerror(errno));
    return 0;
}

static int fixture_teardown(void **state);

static int fixture_setup(void **state) {
    Fixture *f = *state;
    f->tmpdir = xasprintf("%s/kl-e2e%s.XXXXXX", tmp_base, EVIL);
    if (!mkdtemp(f->tmpdir)) {
        fprintf(stderr, "%s: mkdtemp %s: %s\n", f->label, f->tmpdir, strerror(errno));
        f->tmpdir = x_free(f->tmpdir);
        return -1;
    }
    f->overlay_dir = xasprintf("%s/tmp%s", f->tmpdir, EVIL);
    f->log_path = xasprintf("%s/qemu.log", f->tmpdir);
    memset(&f->qmp, 0, sizeof(f->qmp));
    f->qmp.fd = -1; /* not connected: qmp_close does nothing */
    f->serial_sock = -1;
    f->passed = false;
    if (mkdir(f->overlay_dir, 0700) < 0) {
        fprintf(stderr, "%s: mkdir %s: %s\n", f->label, f->overlay_dir, strerror(errno));
        fixture_teardown(state); /* cmocka runs no teardown after a failed setup */
        return -1;
    }
    return 0;
}

static int fixture_teardown(void **state) {
    Fixture *f = *state;
    if (f->pid > 0) {
        kill(f->pid, SIGKILL);
        while (waitpid(f->pid, NULL, 0) < 0 && errno == EINTR) {}
        f->pid = 0;
    }
    if (!f->passed) {
        if (f->argv.v) {
            char *text = qemucmd_render(f->argv.v);
            fprintf(stderr, "---- %s: the command line:\n%s\n", f->label, text);
            free(text);
        }
        print_log(f);
    }
    qmp_close(&f->qmp);
    if (f->serial_sock >= 0) close(f->serial_sock);
    f->serial_sock = -1;
    close_child_fds(f);
    restore_hugepages(f);
    if (f->hugetlbfs && umount2(f->hugetlbfs, MNT_DETACH) < 0) fprintf(stderr, "WARNING: umount %s: %s\n", f->hugetlbfs, strerror(errno));
    f->hugetlbfs = x_free(f->hugetlbfs);
    if (f->tmpdir) nftw(f->tmpdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
    for (size_t i = 0; i < f->n_garbage; i++) json_object_put(f->garbage[i]);
    for (size_t i = 0; i < f->n_strings; i++) free(f->strings[i]);
    f->garbage = x_free(f->garbage);
    f->strings = x_free(f->strings);
    f->n_garbage = f->n_strings = 0;
    strvec_clear(&f->argv);
    hostfacts_free(&f->facts);
    vmconf_free(&f->cfg);
    f->tmpdir = x_free(f->tmpdir);
    f->overlay_dir = x_free(f->overlay_dir);
    f->log_path = x_free(f->log_path);
    return 0;
}

static void load_config(Fixture *f) {
    ErrList errors = { 0 };
    int r = f->ini ? vmconf_load_file(f->ini, &f->cfg, &errors)
                   : vmconf_load_buffer(f->label, f->ini_text, strlen(f->ini_text), &f->cfg, &errors);
    if (r < 0) {
        for (size_t i = 0; i < errors.n; i++) fprintf(stderr, "%s\n", errors.e[i].msg);
        errlist_clear(&errors);
        FAILF(f, "does not load (%s)", strerror(-r));
    }
    errlist_clear(&errors);
}

static void build_argv(Fixture *f) {
    ErrList errors = { 0 }, notes = { 0 };
    int r = qemucmd_build(&f->cfg, &f->facts, &f->argv, &errors, &notes);
    for (size_t i = 0; i < errors.n; i++) fprintf(stderr, "%s\n", errors.e[i].msg);
    errlist_clear(&errors);
    errlist_clear(&notes);
    if (r < 0) FAILF(f, "qemucmd_build: %s", strerror(-r));
}

static void test_example(void **state) {
    Fixture *f = *state;
    load_config(f);
    adapt_memory(f);
    adapt_nodes(f);
    adapt_disks(f);
    adapt_boot(f);
    adapt_firmware(f);
    adapt_serial(f);
    adapt_qemu(f);
    adapt_hugetlbfs(f);
    reserve_hugepages(f);
    probe_facts(f);
    build_argv(f);
    plumb_network(f);
    spawn_qemu(f);

    check_identity(f);
    check_cpus(f);
    check_memory(f);
    check_disks(f);
    check_aio(f);
    check_nets(f);
    check_balloon_exit(f);
    check_peripherals(f);
    check_process(f);
    check_status_monitor(f);
    quit_qemu(f);
    f->passed = true;
}

/* A VM of the test's own with every character the grammar lets through in the
 * name, and `,` `=` and quotes in every path and in the kernel command line;
 * test_example adds EVIL to each path. It also covers what the examples may
 * not: several sockets and threads (the vCPU order), io_uring, directsync, a
 * read-only snapshot disk, virtio-scsi, no iothread, a queue count override,
 * MTU and a bridge. (Under TCG, -cpu max is an AMD model without topoext, so
 * QEMU warns about threads = 2; the warning is harmless and shown.) */
static const char injection_ini[] =
    "[vm]\n"
    "name = Inj.e2e_Name-1\n"
    "memory = 128M\n"
    "vcpus = 4\n"
    "sockets = 2\n"
    "cores = 1\n"
    "threads = 2\n"
    "user = nobody\n"
    "kernel = /replaced/by/the/test\n"
    "initrd = /replaced/by/the/test\n"
    "append = console=ttyS0 a=b,c x=\"y, z\" 'q=1,snapshot=on' -drive=file=/etc/passwd,if=none k=\"\" ,,\n"
    "serial = file:/replaced/by/the/test\n"
    "exit-device = yes\n"
    "\n"
    "[disk \"a_b-1\"]\n"
    "file = /replaced/by/the/test\n"
    "format = qcow2\n"
    "cache = none\n"
    "aio = io_uring\n"
    "queues = 3\n"
    "\n"
    "[disk \"ro\"]\n"
    "file = /replaced\n"
    "format = raw\n"
    "cache = directsync\n"
    "readonly = yes\n"
    "snapshot = yes\n"
    "\n"
    "[disk \"scsi\"]\n"
    "file = /replaced/scsi\n"
    "format = raw\n"
    "bus = virtio-scsi\n"
    "cache = unsafe\n"
    "iothread = no\n"
    "\n"
    "[net \"lan\"]\n"
    "bridge = br-e2e\n"
    "queues = 2\n"
    "mtu = 9000\n"
    "mac = 52:54:00:12:34:56\n"
    "\n"
    "[balloon]\n"
    "deflate-on-oom = no\n"
    "stats-period = 3s\n";

/* ---- the program ------------------------------------------------------------ */

static bool on_path(const char *prog) {
    const char *path = getenv("PATH");
    char *copy = xstrdup(path ? path : "/usr/bin:/bin"), *save = NULL;
    bool found = false;
    for (char *dir = strtok_r(copy, ":", &save); dir && !found; dir = strtok_r(NULL, ":", &save)) {
        char *cand = xasprintf("%s/%s", dir, prog);
        found = access(cand, X_OK) == 0;
        free(cand);
    }
    free(copy);
    return found;
}

/* Whether O_DIRECT works in DIR, for cache = none images. */
static bool direct_io_works(const char *dir) {
    char *path = xasprintf("%s/.kl-e2e-odirect.XXXXXX", dir);
    int fd = mkstemp(path);
    bool ok = false;
    if (fd >= 0) {
        close(fd);
        fd = open(path, O_RDWR | O_DIRECT | O_CLOEXEC);
        void *buf = NULL;
        if (fd >= 0 && posix_memalign(&buf, 4096, 4096) == 0) {
            memset(buf, 0, 4096);
            ok = pwrite(fd, buf, 4096, 0) == 4096;
        }
        free(buf);
        if (fd >= 0) close(fd);
        unlink(path);
    }
    free(path);
    return ok;
}

static const char *fs_name(const char *dir) {
    struct statfs sf;
    if (statfs(dir, &sf) < 0) return "?";
    switch ((unsigned long)sf.f_type) {
    case 0xEF53: return "ext4";
    case 0x01021994: return "tmpfs";
    case 0x58465342: return "xfs";
    case 0x9123683E: return "btrfs";
    case 0x794c7630: return "overlayfs";
    default: return "other";
    }
}

/* Temporary directories go where O_DIRECT works: $TMPDIR, else /var/tmp (as
 * QEMU's own snapshot overlays), else /tmp. */
static const char *pick_tmp_base(void) {
    const char *cands[] = { getenv("TMPDIR"), "/var/tmp", "/tmp" };
    for (size_t i = 0; i < ELEMENTSOF(cands); i++) {
        if (!cands[i] || !*cands[i]) continue;
        bool direct = direct_io_works(cands[i]);
        printf("# %s: %s, O_DIRECT %s\n", cands[i], fs_name(cands[i]), direct ? "works" : "fails");
        if (direct) return cands[i];
    }
    return NULL;
}

int main(void) {
    const char *dir = getenv("KVMLAUNCH_TEST_EXAMPLES");
    if (!dir || !*dir) dir = "examples";
    char *pattern = xasprintf("%s/*.ini", dir);
    glob_t g = { 0 };
    int gr = glob(pattern, 0, NULL, &g); /* sorted */
    free(pattern);
    if (gr != 0 || g.gl_pathc == 0) {
        fprintf(stderr, "FAIL: no %s/*.ini found: every example must start in QEMU, and there is none to try\n", dir);
        globfree(&g);
        return 1;
    }
    int rc;
    if (geteuid() != 0) rc = skip_program("needs root (taps in a network namespace, huge pages, QEMU's -sandbox as root)");
    else if (access("/dev/net/tun", R_OK | W_OK) != 0) rc = skip_program("/dev/net/tun is missing (modprobe tun)");
    else if (!on_path("qemu-system-x86_64") || !on_path("qemu-img")) rc = skip_program("qemu-system-x86_64 or qemu-img is not on PATH (make deps)");
    else if (!(guest_dir = realpath("tests/guest/out", NULL)) || access("tests/guest/out/vmlinuz", R_OK) || access("tests/guest/out/initrd.img", R_OK))
        rc = skip_program("the test guest is missing: run tests/guest/build.sh (tests/guest/out/vmlinuz, initrd.img)");
    else if (!(tmp_base = pick_tmp_base())) rc = skip_program("no temporary directory where O_DIRECT works (cache = none needs it)");
    else rc = -1;
    if (rc >= 0) {
        free(guest_dir);
        globfree(&g);
        return rc;
    }

    size_t n = g.gl_pathc + 1;
    Fixture *fx = xcalloc(n, sizeof(Fixture));
    struct CMUnitTest *tests = xcalloc(n, sizeof(struct CMUnitTest));
    for (size_t i = 0; i < g.gl_pathc; i++) {
        fx[i].ini = xstrdup(g.gl_pathv[i]);
        const char *slash = strrchr(fx[i].ini, '/');
        fx[i].label = slash ? slash + 1 : fx[i].ini;
        tests[i] = (struct CMUnitTest){ fx[i].label, test_example, fixture_setup, fixture_teardown, &fx[i] };
    }
    fx[n - 1].label = "injection (built-in)";
    fx[n - 1].ini_text = injection_ini;
    tests[n - 1] = (struct CMUnitTest){ fx[n - 1].label, test_example, fixture_setup, fixture_teardown, &fx[n - 1] };
    int failed = _cmocka_run_group_tests("examples_qemu", tests, n, NULL, NULL);
    for (size_t i = 0; i < n; i++) free(fx[i].ini);
    free(fx);
    free(tests);
    free(guest_dir);
    globfree(&g);
    return failed ? 1 : 0;
}
