/* Looking at the host before planning. Reads only; changes nothing. */
#include "hostfacts.h"
#include "boottime.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "caller.h"
#include "cloudinit.h"
#include "firmware.h"
#include "hostroot.h"
#include "log.h"
#include "kfiles.h"
#include "machinetype.h"
#include "runtime.h"
#include "share.h"
#include "tpm.h"
#include "spawn.h"
#include "tap.h"
#include "util.h"
#include "userdb.h"

/* As kvmlaunch itself: vhost-net is opened here and passed as an fd. */
static bool opens_rw(const HostRoot *hr, const char *path) {
    int fd = hostroot_openat(hr, path, O_RDWR | O_NOCTTY, 0);
    if (fd < 0) return false;
    close(fd);
    return true;
}

/* QEMU's user and the groups the group database gives it: what the
 * spawner sets (setgroups) and every open "as QEMU" takes. */
static void probe_identity(const VmConfig *cfg, HostFacts *f) {
    if (!cfg->vm.user) return;
    struct passwd *pw = userdb_getpwnam(cfg->vm.user);
    if (!pw) return;
    f->user_known = true;
    f->qemu_uid = pw->pw_uid;
    f->qemu_gid = pw->pw_gid;
    int n = 16, got = n;
    gid_t *g = xcalloc((size_t)n, sizeof(gid_t));
    /* -1 with GOT raised to what it needs when the array is too small. */
    while (userdb_getgrouplist(cfg->vm.user, f->qemu_gid, g, &got) < 0) {
        if (got <= n) {
            /* No answer to grow for: the primary group alone. */
            got = 1;
            g[0] = f->qemu_gid;
            break;
        }
        n = got;
        g = xrealloc(g, (size_t)n * sizeof(gid_t));
    }
    f->qemu_groups = g;
    f->n_qemu_groups = (size_t)got;
    f->qemu_group_names = xcalloc(f->n_qemu_groups ? f->n_qemu_groups : 1, sizeof(char *));
    for (size_t i = 0; i < f->n_qemu_groups; i++) {
        struct group *gr = userdb_getgrgid(g[i]);
        f->qemu_group_names[i] = gr ? xstrdup(gr->gr_name) : xasprintf("%lu", (unsigned long)g[i]);
    }
}

SpawnIdentity hostfacts_qemu_identity(const HostFacts *f) {
    if (!f->user_known || !f->running_as_root) return (SpawnIdentity){ .change_id = false };
    return (SpawnIdentity){ true, f->qemu_uid, f->qemu_gid, f->qemu_groups, f->n_qemu_groups };
}

char *hostfacts_qemu_identity_text(const HostFacts *f, const char *user) {
    char *groups = xstrdup("");
    for (size_t i = 0; i < f->n_qemu_groups; i++) {
        char *next = xasprintf("%s%s%s", groups, i ? ", " : "", f->qemu_group_names[i]);
        free(groups);
        groups = next;
    }
    char *s = xasprintf("%s (uid %lu, gid %lu, %s%s)", user, (unsigned long)f->qemu_uid, (unsigned long)f->qemu_gid,
                        f->n_qemu_groups ? "groups " : "no groups", groups);
    free(groups);
    return s;
}

typedef struct KvmOpen {
    const HostRoot *hr;
} KvmOpen;

/* In the thread with QEMU's identity: system calls only. */
static int open_kvm(void *arg) {
    const KvmOpen *k = arg;
    int fd = hostroot_openat(k->hr, "/dev/kvm", O_RDWR | O_NOCTTY, 0);
    if (fd < 0) return fd;
    close(fd);
    return 0;
}

/* QEMU opens /dev/kvm itself, as the VM's user with its groups: root
 * being able to open it says nothing (a 0660 root:kvm /dev/kvm refuses a
 * user outside group kvm). Through HR, so a redirected root's /dev/kvm (a
 * file of its tree) is tried the same way; its mode and group name the
 * fix when it refuses. */
static void probe_kvm(const HostRoot *hr, const VmConfig *cfg, HostFacts *f) {
    f->kvm_err = -ENOENT;
    if (hr->fd < 0) return;
    _cleanup_close_ int pfd = hostroot_openat(hr, "/dev/kvm", O_PATH, 0);
    struct stat st;
    if (pfd >= 0 && fstat(pfd, &st) == 0) {
        f->kvm_stat_known = true;
        f->kvm_mode = st.st_mode;
        f->kvm_gid = st.st_gid;
        struct group *gr = userdb_getgrgid(st.st_gid);
        f->kvm_group = gr ? xstrdup(gr->gr_name) : xasprintf("%lu", (unsigned long)st.st_gid);
    }
    SpawnIdentity id = hostfacts_qemu_identity(f);
    KvmOpen k = { hr };
    if (id.change_id) {
        f->kvm_checked_as = xstrdup(cfg->vm.user);
        f->kvm_err = spawn_call_as_groups(id.uid, id.gid, id.groups, id.n_groups, open_kvm, &k, NULL);
    } else {
        f->kvm_err = open_kvm(&k);
    }
    f->kvm_usable = f->kvm_err == 0;
}

static StdoutKind probe_stdout(void) {
    if (isatty(STDOUT_FILENO)) return STDOUT_TERMINAL;
    struct stat st;
    /* A file counts as attached too: `kvmlaunch vm.ini > ci.log` wants the
     * console in ci.log, not in a runtime dir removed at exit. */
    if (fstat(STDOUT_FILENO, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode) || S_ISREG(st.st_mode))) return STDOUT_PIPE;
    return STDOUT_OTHER;
}

static DiskFacts probe_disk(const char *path) {
    DiskFacts f = { false, false, FORMAT_RAW };
    /* O_NONBLOCK: a FIFO named as a disk must not hang the probe. */
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) return f;
    if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) return f;
    f.exists = true;
    f.is_block = S_ISBLK(st.st_mode);
    unsigned char magic[4];
    if (pread(fd, magic, sizeof(magic), 0) == (ssize_t)sizeof(magic) && !memcmp(magic, "QFI\xfb", 4)) f.detected_format = FORMAT_QCOW2;
    return f;
}

/* The emulator as execve will find it: an absolute path stays; a bare name
 * is looked up on PATH now, so the child needs no PATH of its own. */
static char *find_qemu(const char *configured) {
    if (configured) return xstrdup(configured);
    const char *path = getenv("PATH");
    if (!path || !*path) path = "/usr/local/bin:/usr/bin:/bin";
    _cleanup_free_ char *copy = xstrdup(path);
    char *save = NULL;
    for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
        if (dir[0] != '/') continue;
        char *cand = xasprintf("%s/qemu-system-x86_64", dir);
        if (access(cand, X_OK) == 0) return cand;
        free(cand);
    }
    return xstrdup("qemu-system-x86_64");
}

/* Who holds each tap, and the other VMs' NICs: check refuses a tap in use
 * and a MAC another VM has on the same bridge. */
static void probe_taps(const HostRoot *hr, const VmConfig *cfg, HostFacts *facts) {
    facts->tap_links = xcalloc(cfg->n_nets, sizeof(TapLink));
    for (size_t i = 0; i < cfg->n_nets; i++) {
        if (cfg->nets[i].mode == NET_MODE_USER) continue;
        _cleanup_free_ char *tap = vmconf_net_tap_name(cfg, &cfg->nets[i]);
        TapLink *l = &facts->tap_links[i];
        int r = tap_link_query(tap, l);
        if (r < 0) {
            /* Unknown use: check warns when the tap is there. */
            log_warning_errno(r, "Failed to ask the kernel about tap %s: %m", tap);
            *l = (TapLink){ .exists = if_nametoindex(tap) != 0, .is_tun = true };
        }
    }
    /* This VM's own too: a tap it holds, were it running, is no other's. */
    tap_probe_others(hr, NULL, &facts->other_nics);
}

int memfacts_parse_meminfo(const char *text, MemFacts *m) {
    uint64_t total = 0, avail = 0, limit = 0, committed = 0;
    m->known = false;
    if (kfile_parse_meminfo(text, "MemAvailable", &avail) < 0) return -ENOENT;
    (void)kfile_parse_meminfo(text, "MemTotal", &total);
    /* Only strict overcommit reads these; a tree without them says 0. */
    (void)kfile_parse_meminfo(text, "CommitLimit", &limit);
    (void)kfile_parse_meminfo(text, "Committed_AS", &committed);
    m->known = true;
    m->total = total << 10;
    m->available = avail << 10;
    m->commit_limit = limit << 10;
    m->committed = committed << 10;
    return 0;
}

void hostfacts_probe_memory(const HostRoot *hr, MemFacts *m) {
    memset(m, 0, sizeof(*m));
    _cleanup_free_ char *meminfo = NULL, *mode = NULL;
    if (hr->fd >= 0 && hostroot_read(hr, "/proc/meminfo", &meminfo) == 0) (void)memfacts_parse_meminfo(meminfo, m);
    int64_t v;
    if (hr->fd >= 0 && hostroot_read(hr, "/proc/sys/vm/overcommit_memory", &mode) == 0 && kfile_parse_int(mode, &v) == 0 && v >= 0 && v <= 2) {
        m->overcommit = (int)v;
        m->overcommit_known = true;
    }
}

/* ---- the allocation (issue 22) ---- */

/* A field of /proc/self/status as a cpulist; -ENOENT without it. */
static int status_list(const HostRoot *hr, const char *key, CpuList *out) {
    _cleanup_free_ char *text = NULL, *v = NULL;
    int r = hostroot_read(hr, "/proc/self/status", &text);
    if (r < 0) return r;
    r = kfile_parse_field(text, key, ':', &v);
    if (r < 0) return r;
    return kfile_parse_cpulist(v, out);
}

/* The CPUs kvmlaunch's threads may run on: sched_getaffinity (taskset,
 * systemd's CPUAffinity=, a scheduler's binding). A redirected root is a
 * test's host: its /proc/self/status says. */
static int affinity(const HostRoot *hr, CpuList *out, char **from) {
    if (hr->redirected) {
        int r = status_list(hr, "Cpus_allowed_list", out);
        if (r >= 0) *from = xstrdup("/proc/self/status Cpus_allowed_list");
        return r;
    }
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) < 0) return -errno;
    *out = (CpuList){ xcalloc(CPU_SETSIZE, sizeof(int)), 0 };
    for (int c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, &set)) out->cpu[out->n++] = c;
    *from = xstrdup("sched_getaffinity");
    return 0;
}

/* The effective set FILE of our cpuset cgroup, or of the nearest cgroup up
 * that has the file (v2 shows it only where cpuset is enabled). *dir: the
 * cgroup read. */
static int cgroup_effective(const HostRoot *hr, const CgroupLayout *l, const char *file, const char *v1_old, CpuList *out, char **dir) {
    _cleanup_free_ char *d = xstrdup(l->own ? l->own : l->mount);
    for (;;) {
        _cleanup_free_ char *path = xasprintf("%s/%s", d, file), *text = NULL;
        int r = hostroot_read(hr, path, &text);
        if (r == -ENOENT && v1_old) {
            /* A v1 kernel before effective_cpus (3.x): the set itself. */
            free(path);
            path = xasprintf("%s/%s", d, v1_old);
            r = hostroot_read(hr, path, &text);
        }
        if (r >= 0) {
            r = kfile_parse_cpulist(text, out);
            if (r >= 0) *dir = TAKE_PTR(d);
            return r;
        }
        char *slash = strrchr(d, '/');
        if (r != -ENOENT || streq(d, l->mount) || !slash || slash == d) return r;
        *slash = '\0';
    }
}

static void list_intersect(CpuList *a, const CpuList *b) {
    size_t k = 0;
    for (size_t i = 0; i < a->n; i++)
        if (cpulist_contains(b, a->cpu[i])) a->cpu[k++] = a->cpu[i];
    a->n = k;
}

static void list_sort(CpuList *l) {
    CpuList s = cpulist_sorted(l);
    cpulist_free(l);
    *l = s;
}

void hostfacts_probe_allocation(const HostRoot *hr, const CgroupLayout *cgl, AllocFacts *a) {
    memset(a, 0, sizeof(*a));
    if (hr->fd < 0) return;
    CpuList aff = { 0 }, cg = { 0 }, mems = { 0 };
    _cleanup_free_ char *aff_from = NULL, *cg_dir = NULL, *mem_dir = NULL;
    bool have_aff = affinity(hr, &aff, &aff_from) >= 0;
    bool v1 = cgl->version == CGROUP_V1, v2 = cgl->version == CGROUP_V2;
    const char *fc = v1 ? (cgl->noprefix ? "effective_cpus" : "cpuset.effective_cpus") : "cpuset.cpus.effective";
    const char *fm = v1 ? (cgl->noprefix ? "effective_mems" : "cpuset.effective_mems") : "cpuset.mems.effective";
    bool have_cg = (v1 || v2) && cgroup_effective(hr, cgl, fc, v1 ? (cgl->noprefix ? "cpus" : "cpuset.cpus") : NULL, &cg, &cg_dir) >= 0;
    bool have_mems = (v1 || v2) && cgroup_effective(hr, cgl, fm, v1 ? (cgl->noprefix ? "mems" : "cpuset.mems") : NULL, &mems, &mem_dir) >= 0;
    if (have_aff || have_cg) {
        _cleanup_free_ char *at = have_aff ? cpulist_format(&aff) : NULL, *ct = have_cg ? cpulist_format(&cg) : NULL;
        a->cpus_known = true;
        a->cpus = have_aff ? cpulist_copy(&aff) : cpulist_copy(&cg);
        if (have_aff && have_cg) list_intersect(&a->cpus, &cg);
        list_sort(&a->cpus);
        _cleanup_free_ char *one = have_aff ? xasprintf("kvmlaunch's affinity (%s: %s)", aff_from, at) : NULL;
        _cleanup_free_ char *two = have_cg ? xasprintf("%s cpuset cgroup %s (%s: %s)", have_aff ? "its" : "kvmlaunch's", cg_dir, fc, ct) : NULL;
        a->cpus_from = xasprintf("%s%s%s", one ? one : "", one && two ? " and " : "", two ? two : "");
    }
    if (!have_mems && status_list(hr, "Mems_allowed_list", &mems) >= 0) {
        have_mems = true;
        mem_dir = NULL;
    }
    if (have_mems) {
        _cleanup_free_ char *mt = cpulist_format(&mems);
        a->mems_known = true;
        a->mems = cpulist_sorted(&mems);
        a->mems_from = mem_dir ? xasprintf("kvmlaunch's cpuset cgroup %s (%s: %s)", mem_dir, fm, mt)
                               : xasprintf("kvmlaunch's /proc/self/status (Mems_allowed_list: %s)", mt);
    }
    cpulist_free(&aff);
    cpulist_free(&cg);
    cpulist_free(&mems);
}

char *allocfacts_describe(const AllocFacts *a) {
    _cleanup_free_ char *c = a->cpus_known ? cpulist_format(&a->cpus) : NULL, *m = a->mems_known ? cpulist_format(&a->mems) : NULL;
    _cleanup_free_ char *cs = a->cpus_known ? xasprintf("CPUs %s (%s)", a->cpus.n ? c : "none", a->cpus_from) : xstrdup("CPUs unknown");
    _cleanup_free_ char *ms = a->mems_known ? xasprintf("memory nodes %s (%s)", a->mems.n ? m : "none", a->mems_from)
                                            : xstrdup("memory nodes unknown");
    return xasprintf("%s; %s", cs, ms);
}

void allocfacts_free(AllocFacts *a) {
    cpulist_free(&a->cpus);
    cpulist_free(&a->mems);
    free(a->cpus_from);
    free(a->mems_from);
    memset(a, 0, sizeof(*a));
}

void hostfacts_probe_in(const HostRoot *hr, const VmConfig *cfg, HostFacts *facts) {
    memset(facts, 0, sizeof(*facts));
    facts->running_as_root = geteuid() == 0;
    probe_identity(cfg, facts);
    probe_kvm(hr, cfg, facts);
    facts->vhost_net_usable = opens_rw(hr, "/dev/vhost-net");
    facts->stdout_kind = probe_stdout();
    facts->qemu_binary = find_qemu(cfg->vm.qemu);
    machinetype_probe(cfg, facts->qemu_binary, &facts->machine_type, &facts->machine_source);
    facts->runtime_dir = xasprintf("%s/%s", runtime_base(), cfg->vm.name);
    facts->n_disks = cfg->n_disks;
    facts->disks = xcalloc(cfg->n_disks, sizeof(DiskFacts));
    for (size_t i = 0; i < cfg->n_disks; i++) facts->disks[i] = probe_disk(cfg->disks[i].file);
    facts->bridge_mtu = xcalloc(cfg->n_nets ? cfg->n_nets : 1, sizeof(int));
    for (size_t i = 0; i < cfg->n_nets; i++)
        if (cfg->nets[i].bridge) facts->bridge_mtu[i] = tap_bridge_mtu(cfg->nets[i].bridge);
    if (cfg->n_nets) probe_taps(hr, cfg, facts);
    usernet_probe(hr, cfg, &facts->user_nets, &facts->unpriv_port_start);
    hostfacts_probe_memory(hr, &facts->mem);
    if (cfg->vm.machine == MACHINE_MICROVM) facts->tsc_khz = bootfacts_probe_tsc_khz(hr);
    if (cfg->n_shares) {
        /* Under sudo the variable is the user's word, and virtiofsd runs as
         * full root: only root's own start may name another binary. */
        Caller c;
        caller_identify(&c);
        facts->virtiofsd = share_find_virtiofsd(!c.other);
        caller_free(&c);
    }
    hostdev_probe(hr, cfg, &facts->hostdev);
    if (cfg->tpm.enabled) {
        /* swtpm runs as the VM's user, but under sudo the variable is
         * still the user's word, not root's. */
        Caller c;
        caller_identify(&c);
        facts->swtpm = tpm_find_swtpm(!c.other);
        caller_free(&c);
    }
    hostfacts_assign_fds(cfg, facts);
}

void hostfacts_probe(const VmConfig *cfg, HostFacts *facts) {
    HostRoot hr = HOSTROOT_INIT;
    /* A root that does not open (said) opens no device either. */
    (void)hostroot_open(&hr);
    hostfacts_probe_in(&hr, cfg, facts);
    hostroot_close(&hr);
}

SerialKind hostfacts_serial(const VmConfig *cfg, const HostFacts *facts, char **path) {
    SerialKind kind = cfg->vm.serial.kind;
    *path = NULL;
    if (kind == SERIAL_DEFAULT) {
        if (facts->stdout_kind != STDOUT_OTHER) return SERIAL_STDOUT;
        *path = xasprintf("%s/serial.log", facts->runtime_dir ? facts->runtime_dir : runtime_base());
        return SERIAL_FILE;
    }
    if (kind == SERIAL_FILE) *path = xstrdup(cfg->vm.serial.path);
    return kind;
}

void hostfacts_assign_fds(const VmConfig *cfg, HostFacts *facts) {
    int next = 3;
    facts->qmp_fd = next++;
    facts->status_fd = next++;
    _cleanup_free_ char *serial_path = NULL;
    facts->serial_fd = hostfacts_serial(cfg, facts, &serial_path) != SERIAL_NONE ? next++ : -1;
    for (size_t i = 0; i < facts->n_nets; i++) {
        free(facts->nets[i].tap);
        free(facts->nets[i].vhost);
    }
    free(facts->nets);
    facts->n_nets = cfg->n_nets;
    facts->nets = xcalloc(cfg->n_nets, sizeof(NetFds));
    for (size_t i = 0; i < cfg->n_nets; i++) {
        const NetSection *n = &cfg->nets[i];
        NetFds *f = &facts->nets[i];
        if (n->mode == NET_MODE_USER) continue;
        f->queues = (size_t)vmconf_net_queues(cfg, n);
        f->tap = xcalloc(f->queues, sizeof(int));
        for (size_t q = 0; q < f->queues; q++) f->tap[q] = next++;
        if (n->vhost != VHOST_OFF && facts->vhost_net_usable) {
            f->vhost = xcalloc(f->queues, sizeof(int));
            for (size_t q = 0; q < f->queues; q++) f->vhost[q] = next++;
        }
    }
    free(facts->share_fd);
    facts->n_share_fd = cfg->n_shares;
    facts->share_fd = xcalloc(cfg->n_shares ? cfg->n_shares : 1, sizeof(int));
    for (size_t i = 0; i < cfg->n_shares; i++)
        facts->share_fd[i] = share_driver(facts, &cfg->shares[i]) == SHARE_DRIVER_VIRTIOFS ? next++ : -1;
    /* Last, so the numbers of the others stay as they were before it came. */
    facts->control_fd = next++;
    facts->seed_fd = cloudinit_wanted(cfg) ? next++ : -1;
    facts->tpm_fd = cfg->tpm.enabled ? next++ : -1;
    facts->agent_fd = cfg->vm.guest_agent ? next++ : -1;
    facts->fw_code_fd = firmware_code(&cfg->vm) ? next++ : -1;
    facts->fw_vars_fd = firmware_vars_template(&cfg->vm) ? next++ : -1;
}

void hostfacts_free(HostFacts *facts) {
    hostdev_probe_free(&facts->hostdev);
    for (size_t i = 0; i < facts->n_nets; i++) {
        free(facts->nets[i].tap);
        free(facts->nets[i].vhost);
    }
    free(facts->nets);
    free(facts->bridge_mtu);
    free(facts->tap_links);
    usernet_facts_free(facts->user_nets, facts->n_nets);
    vmnics_free(&facts->other_nics);
    free(facts->disks);
    free(facts->qemu_binary);
    free(facts->kvm_checked_as);
    free(facts->kvm_group);
    for (size_t i = 0; i < facts->n_qemu_groups; i++) free(facts->qemu_group_names[i]);
    free(facts->qemu_group_names);
    free(facts->qemu_groups);
    free(facts->runtime_dir);
    free(facts->virtiofsd);
    free(facts->swtpm);
    free(facts->share_fd);
    free(facts->machine_type);
    allocfacts_free(&facts->alloc);
    memset(facts, 0, sizeof(*facts));
}
