/* The supervisor's lockdown: the allowlist as exported PFC text, and the
 * exported BPF program run on made-up syscalls (other architectures, the
 * x32 ABI), then for real in forked children (as root), so this process
 * stays unlocked: the capabilities left, no_new_privs, Seccomp 2,
 * supervision and teardown work still working, and a disallowed syscall,
 * an x32 one or a 32-bit `int $0x80` one killing the child with SIGSYS. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <fcntl.h>
#include <json.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/ethtool.h>
#include <linux/filter.h>
#include <linux/netlink.h>
#include <linux/seccomp.h>
#include <linux/sockios.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hostnic.h"
#include "lockdown.h"
#include "netns_test.h"
#include "runtime.h"
#include "skip.h"
#include "util.h"
#include "vmconf.h"

#if defined(__SANITIZE_ADDRESS__)
#define ASAN_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ASAN_BUILD 1
#endif
#endif

/* The documented kept set (launcher/vm/lockdown.c): a change there must come
 * with a change here. */
#define KEPT_CAPS ((UINT64_C(1) << CAP_KILL) | (UINT64_C(1) << CAP_SYS_NICE) | (UINT64_C(1) << CAP_NET_ADMIN))

static char *filter_pfc(void) {
    scmp_filter_ctx ctx = NULL;
    assert_int_equal(lockdown_build_filter(&ctx), 0);
    FILE *f = tmpfile();
    assert_non_null(f);
    assert_int_equal(seccomp_export_pfc(ctx, fileno(f)), 0);
    seccomp_release(ctx);
    long len = lseek(fileno(f), 0, SEEK_END);
    assert_true(len > 0);
    char *text = xmalloc((size_t)len + 1);
    assert_int_equal(pread(fileno(f), text, (size_t)len, 0), len);
    text[len] = 0;
    fclose(f);
    return text;
}

/* The rule block of NAME in the PFC text, up to the next syscall's, or NULL. */
static char *pfc_block(const char *pfc, const char *name) {
    _cleanup_free_ char *head = xasprintf("# filter for syscall \"%s\" ", name);
    const char *p = strstr(pfc, head);
    if (!p) return NULL;
    const char *end = strstr(p + strlen(head), "# filter for syscall \"");
    return end ? xstrndup(p, (size_t)(end - p)) : xstrdup(p);
}

static bool pfc_allows(const char *pfc, const char *name) {
    _cleanup_free_ char *b = pfc_block(pfc, name);
    return b != NULL;
}

static void test_filter_pfc(void **state) {
    (void)state;
    _cleanup_free_ char *pfc = filter_pfc();

    static const char *const allowed[] = {
        "kill", "wait4", "waitid", "read", "write", "ppoll", "poll", "openat", "close", "getdents64",
        "unlinkat", "rmdir", "pwrite64", "ftruncate", "flock", "clock_gettime",
        "rt_sigreturn", "rt_sigprocmask", "exit_group", "brk", "munmap", "sched_setaffinity",
        "getrandom", "futex",
        /* What teardown needs besides: the host-wide state files replaced
         * (write, rename) or removed, knobs read back, the runtime
         * dir emptied, a [hostnic]'s offloads put back, QEMU reaped. */
        "rename", "renameat", "renameat2", "unlink", "newfstatat", "fstat", "lseek", "pread64", "fcntl",
        "socket", "ioctl", "sched_getaffinity", "nanosleep", "clock_nanosleep", "exit", "mmap", "mprotect",
        "timerfd_create", "timerfd_settime", "signalfd4",
        /* The serial console's clients (serialrelay.c). */
        "accept4",
    };
    for (size_t i = 0; i < ELEMENTSOF(allowed); i++)
        if (!pfc_allows(pfc, allowed[i])) fail_msg("%s is not in the allowlist", allowed[i]);

    static const char *const refused[] = {
        "execve", "execveat", "fork", "vfork", "clone3", "socketpair", "connect", "sendto", "sendmsg", "bind",
        "mount", "umount2", "pivot_root", "chroot", "setns", "unshare",
        "setuid", "setgid", "setresuid", "setresgid", "setgroups", "capset",
        "open_by_handle_at", "name_to_handle_at", "bpf", "perf_event_open", "userfaultfd",
        "keyctl", "add_key", "init_module", "finit_module", "kexec_load", "process_vm_writev",
        "seccomp", "memfd_create", "mkdirat", "chmod", "fchmodat", "fchownat", "setrlimit",
        "pidfd_getfd", "io_uring_setup",
        "process_vm_readv", "kcmp", "pidfd_open", "pidfd_send_signal", "tkill", "rt_sigqueueinfo",
        "personality", "modify_ldt", "iopl", "ioperm", "arch_prctl", "set_tid_address",
        "link", "linkat", "symlink", "symlinkat", "mknod", "mknodat", "chown", "fchown", "truncate",
        "socketcall", "accept", "listen", "recvfrom", "recvmsg", "sendmmsg",
        "reboot", "swapon", "swapoff", "syslog", "acct", "quotactl", "settimeofday", "clock_settime", "adjtimex",
        "sethostname", "setdomainname", "fanotify_init", "inotify_init1", "fsopen", "fsmount", "move_mount",
        "open_tree", "mount_setattr", "lookup_dcookie", "migrate_pages", "move_pages", "mbind", "set_mempolicy",
        "vmsplice", "splice", "tee", "memfd_secret", "landlock_restrict_self", "uselib",
#ifndef ASAN_BUILD
        "ptrace", "clone", "prctl", "sigaltstack",
#endif
    };
    for (size_t i = 0; i < ELEMENTSOF(refused); i++)
        if (pfc_allows(pfc, refused[i])) fail_msg("%s must not be in the allowlist", refused[i]);

    /* Arguments checked where the call alone would be too much. */
    static const struct { const char *name, *arg; } checked[] = {
        { "mmap", "$a2" }, { "mprotect", "$a2" }, { "ioctl", "$a1" }, { "prlimit64", "$a2" },
        { "socket", "$a0" }, { "socket", "$a1" }, { "socket", "$a2" }, { "accept4", "$a3" },
#ifdef ASAN_BUILD
        { "clone", "$a0" }, { "ptrace", "$a1" },
#endif
    };
    for (size_t i = 0; i < ELEMENTSOF(checked); i++) {
        _cleanup_free_ char *b = pfc_block(pfc, checked[i].name);
        if (!b || !strstr(b, checked[i].arg))
            fail_msg("%s is not allowed with a check of %s:\n%s", checked[i].name, checked[i].arg, b ? b : "(absent)");
    }
    /* Rules for one architecture only, x86_64; any other (i386 through
     * `int $0x80`, x32, a foreign one) takes the bad-architecture action,
     * which kills the process as the default action does. */
    const char *arch = strstr(pfc, "# filter for arch ");
    if (!arch || strncmp(arch, "# filter for arch x86_64 ", strlen("# filter for arch x86_64 ")))
        fail_msg("the first architecture of the filter is not x86_64:\n%.200s", arch ? arch : pfc);
    if (strstr(arch + 1, "# filter for arch ")) fail_msg("the filter has rules for a second architecture");
    assert_null(strstr(pfc, "x32"));
    assert_null(strstr(pfc, "x86 ("));
    assert_non_null(strstr(pfc, "# default action\n  action KILL_PROCESS;\n# invalid architecture action\naction KILL_PROCESS;\n"));
    /* Everything else, and any other architecture, kills the process. */
    assert_non_null(strstr(pfc, "action KILL_PROCESS;"));
    assert_null(strstr(pfc, "action KILL;"));
    assert_null(strstr(pfc, "action TRAP"));
    assert_null(strstr(pfc, "action ERRNO"));
}

static void test_kept_set_documented(void **state) {
    (void)state;
    assert_int_equal(lockdown_kept_capabilities(), KEPT_CAPS);
}

/* ---- the exported BPF program, run here on made-up syscalls ---- */

/* The filter as the kernel gets it. */
static struct sock_filter *filter_bpf(size_t *n) {
    scmp_filter_ctx ctx = NULL;
    assert_int_equal(lockdown_build_filter(&ctx), 0);
    FILE *f = tmpfile();
    assert_non_null(f);
    assert_int_equal(seccomp_export_bpf(ctx, fileno(f)), 0);
    seccomp_release(ctx);
    long len = lseek(fileno(f), 0, SEEK_END);
    assert_true(len > 0 && len % (long)sizeof(struct sock_filter) == 0);
    struct sock_filter *prog = xmalloc((size_t)len);
    assert_int_equal(pread(fileno(f), prog, (size_t)len, 0), len);
    fclose(f);
    *n = (size_t)len / sizeof(struct sock_filter);
    return prog;
}

/* Classic BPF as seccomp runs it (the instructions libseccomp emits: loads
 * from struct seccomp_data, scratch memory, ALU on K, jumps, returns). An
 * instruction it does not know fails the test rather than guess. */
static uint32_t bpf_run(const struct sock_filter *prog, size_t n, const struct seccomp_data *d) {
    uint32_t a = 0, x = 0, mem[BPF_MEMWORDS] = { 0 };
    for (size_t pc = 0; pc < n; pc++) {
        const struct sock_filter *i = &prog[pc];
        switch (i->code) {
        case BPF_LD | BPF_W | BPF_ABS:
            assert_true(i->k + 4 <= sizeof(*d) && i->k % 4 == 0);
            memcpy(&a, (const char *)d + i->k, 4);
            break;
        case BPF_LD | BPF_MEM: a = mem[i->k]; break;
        case BPF_LDX | BPF_MEM: x = mem[i->k]; break;
        case BPF_ST: mem[i->k] = a; break;
        case BPF_STX: mem[i->k] = x; break;
        case BPF_LD | BPF_IMM: a = i->k; break;
        case BPF_MISC | BPF_TAX: x = a; break;
        case BPF_MISC | BPF_TXA: a = x; break;
        case BPF_ALU | BPF_AND | BPF_K: a &= i->k; break;
        case BPF_ALU | BPF_OR | BPF_K: a |= i->k; break;
        case BPF_JMP | BPF_JA: pc += i->k; break;
        case BPF_JMP | BPF_JEQ | BPF_K: pc += a == i->k ? i->jt : i->jf; break;
        case BPF_JMP | BPF_JGT | BPF_K: pc += a > i->k ? i->jt : i->jf; break;
        case BPF_JMP | BPF_JGE | BPF_K: pc += a >= i->k ? i->jt : i->jf; break;
        case BPF_JMP | BPF_JSET | BPF_K: pc += (a & i->k) ? i->jt : i->jf; break;
        case BPF_JMP | BPF_JEQ | BPF_X: pc += a == x ? i->jt : i->jf; break;
        case BPF_JMP | BPF_JGT | BPF_X: pc += a > x ? i->jt : i->jf; break;
        case BPF_JMP | BPF_JGE | BPF_X: pc += a >= x ? i->jt : i->jf; break;
        case BPF_RET | BPF_K: return i->k;
        case BPF_RET | BPF_A: return a;
        default: fail_msg("instruction %zu: BPF code 0x%x is not known to this test", pc, i->code);
        }
    }
    fail_msg("the program ran off its end");
    return 0;
}

static void test_filter_bpf_arches(void **state) {
    (void)state;
    size_t n;
    _cleanup_free_ struct sock_filter *prog = filter_bpf(&n);
    const uint32_t allow = SECCOMP_RET_ALLOW, kill = SECCOMP_RET_KILL_PROCESS;
    static const struct {
        const char *what;
        uint32_t arch;
        int nr;
        uint64_t arg2;
        bool allowed;
    } cases[] = {
        /* The interpreter first: native calls as the allowlist says. */
        { "x86_64 read", AUDIT_ARCH_X86_64, SYS_read, 0, true },
        { "x86_64 exit_group", AUDIT_ARCH_X86_64, SYS_exit_group, 0, true },
        { "x86_64 mmap PROT_READ", AUDIT_ARCH_X86_64, SYS_mmap, PROT_READ, true },
        { "x86_64 mmap PROT_READ|PROT_EXEC", AUDIT_ARCH_X86_64, SYS_mmap, PROT_READ | PROT_EXEC, false },
        { "x86_64 execve", AUDIT_ARCH_X86_64, SYS_execve, 0, false },
        { "x86_64 ptrace", AUDIT_ARCH_X86_64, SYS_ptrace, 0, false },
        { "x86_64 syscall 1023 (none)", AUDIT_ARCH_X86_64, 1023, 0, false },
        /* The x32 ABI: the x86_64 arch token with bit 30 set in the number.
         * read, write and exit_group are allowed natively: not so here. */
        { "x32 read", AUDIT_ARCH_X86_64, 0x40000000 | SYS_read, 0, false },
        { "x32 write", AUDIT_ARCH_X86_64, 0x40000000 | SYS_write, 0, false },
        { "x32 exit_group", AUDIT_ARCH_X86_64, 0x40000000 | SYS_exit_group, 0, false },
        { "x32 execve (520)", AUDIT_ARCH_X86_64, 0x40000000 | 520, 0, false },
        /* i386, what `int $0x80` reaches: 3 read, 4 write, 1 exit, 252
         * exit_group, 11 execve, 20 getpid, 102 socketcall. */
        { "i386 read", AUDIT_ARCH_I386, 3, 0, false },
        { "i386 write", AUDIT_ARCH_I386, 4, 0, false },
        { "i386 exit", AUDIT_ARCH_I386, 1, 0, false },
        { "i386 exit_group", AUDIT_ARCH_I386, 252, 0, false },
        { "i386 execve", AUDIT_ARCH_I386, 11, 0, false },
        { "i386 getpid", AUDIT_ARCH_I386, 20, 0, false },
        { "i386 socketcall", AUDIT_ARCH_I386, 102, 0, false },
        { "aarch64 read", AUDIT_ARCH_AARCH64, 63, 0, false },
        { "arch 0", 0, SYS_read, 0, false },
    };
    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        struct seccomp_data d = { .nr = cases[i].nr, .arch = cases[i].arch };
        d.args[2] = cases[i].arg2;
        uint32_t got = bpf_run(prog, n, &d);
        uint32_t want = cases[i].allowed ? allow : kill;
        if (got != want) fail_msg("%s: the filter returns 0x%08x, expected 0x%08x", cases[i].what, got, want);
    }
}

/* ---- in forked children ---- */

#define CHECK(cond) do { \
        if (!(cond)) { \
            fprintf(stderr, "child %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            _exit(1); \
        } \
    } while (0)

static uint64_t status_hex(const char *status, const char *key) {
    const char *p = strstr(status, key);
    CHECK(p);
    return strtoull(p + strlen(key), NULL, 16);
}

static long status_long(const char *status, const char *key) {
    const char *p = strstr(status, key);
    CHECK(p);
    return strtol(p + strlen(key), NULL, 10);
}

static size_t read_file(const char *path, char *buf, size_t size) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    CHECK(fd >= 0);
    size_t len = 0;
    ssize_t n;
    while ((n = read(fd, buf + len, size - 1 - len)) > 0) len += (size_t)n;
    CHECK(n == 0);
    close(fd);
    buf[len] = 0;
    return len;
}

static uint64_t own_capprm(void) {
    char status[8192];
    read_file("/proc/self/status", status, sizeof(status));
    return status_hex(status, "CapPrm:\t");
}

/* A child that hangs is a failure, not a stuck suite: under ASan, a leak
 * check whose tracer the filter killed would spin forever. */
static int wait_child(pid_t pid) {
    int st;
    for (int ms = 0; ms < 60000; ms += 10) {
        pid_t w = waitpid(pid, &st, WNOHANG);
        assert_true(w >= 0);
        if (w == pid) return st;
        struct timespec ts = { 0, 10 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    fail_msg("child %d still running after 60 s: killed", (int)pid);
    return -1;
}

static void no_core_dumps(void) {
    /* SIGSYS dumps core by default; the kills below are expected. */
    struct rlimit rl = { 0, 0 };
    setrlimit(RLIMIT_CORE, &rl);
}

static double timed_lockdown_us(void) {
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    CHECK(lockdown_supervisor() == 0);
    clock_gettime(CLOCK_MONOTONIC, &b);
    return (double)(b.tv_sec - a.tv_sec) * 1e6 + (double)(b.tv_nsec - a.tv_nsec) / 1e3;
}

/* A process under another uid, as QEMU is: the kept CAP_KILL and
 * CAP_SYS_NICE are what let the supervisor reach it. */
static pid_t start_other_uid_child(void) {
    int p[2];
    CHECK(pipe2(p, O_CLOEXEC) == 0);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        if (setresgid(65534, 65534, 65534) < 0 || setresuid(65534, 65534, 65534) < 0) _exit(2);
        if (write(p[1], "u", 1) != 1) _exit(3);
        for (;;) pause();
    }
    close(p[1]);
    char c;
    CHECK(read(p[0], &c, 1) == 1);
    close(p[0]);
    return pid;
}

static void locked_child(const char *dir, int out_fd, uint64_t expect_caps) {
    no_core_dumps();
    /* Prepared while still privileged, as the real supervisor does. */
    _cleanup_free_ char *sub = xasprintf("%s/cgroup-like", dir);
    _cleanup_free_ char *file = xasprintf("%s/journal", dir);
    _cleanup_free_ char *ro = xasprintf("%s/read-only", dir);
    _cleanup_free_ char *theirs = xasprintf("%s/theirs", dir);
    CHECK(mkdir(sub, 0755) == 0);
    int fd = open(ro, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0400);
    CHECK(fd >= 0);
    close(fd);
    fd = open(theirs, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    CHECK(fd >= 0 && fchown(fd, 65534, 65534) == 0);
    close(fd);
    pid_t qemu_like = start_other_uid_child();

    double us = timed_lockdown_us();
    fprintf(stderr, "lockdown_supervisor() took %.0f us\n", us);

    char status[8192];
    read_file("/proc/self/status", status, sizeof(status));
    CHECK(status_hex(status, "CapEff:\t") == expect_caps);
    CHECK(status_hex(status, "CapPrm:\t") == expect_caps);
    CHECK(status_hex(status, "CapBnd:\t") == expect_caps);
    CHECK(status_hex(status, "CapInh:\t") == 0);
    CHECK(status_hex(status, "CapAmb:\t") == 0);
    CHECK(status_long(status, "NoNewPrivs:\t") == 1);
    CHECK(status_long(status, "Seccomp:\t") == 2);
    CHECK(getuid() == 0 && geteuid() == 0);

    /* Memory, small and large (brk, mmap, mremap, munmap). */
    for (int i = 0; i < 64; i++) {
        size_t n = (size_t)1 << (10 + i % 18);
        char *p = malloc(n);
        CHECK(p);
        memset(p, i, n);
        p = realloc(p, n * 2);
        CHECK(p);
        free(p);
    }
    char *big = calloc(256, 1 << 20);
    CHECK(big && big[12345] == 0);
    free(big);
    /* json-c, as QMP uses it (its hash seed may come from getrandom). */
    json_object *o = json_tokener_parse("{\"execute\": \"query-status\", \"id\": 7}");
    CHECK(o);
    json_object_object_add(o, "arguments", json_object_new_object());
    CHECK(strstr(json_object_to_json_string(o), "query-status"));
    json_object_put(o);

    struct timespec ts;
    CHECK(clock_gettime(CLOCK_MONOTONIC, &ts) == 0);
    CHECK(syscall(SYS_clock_gettime, CLOCK_REALTIME, &ts) == 0); /* past the vDSO */
    CHECK(kill(getppid(), 0) == 0);
    (void)isatty(STDERR_FILENO); /* stdio's TCGETS */

    /* A [hostnic]'s teardown: the ethtool ioctl on its one socket. */
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    CHECK(s >= 0);
    struct {
        struct ethtool_sset_info i;
        uint32_t n;
    } ss = { .i = { .cmd = ETHTOOL_GSSET_INFO, .sset_mask = UINT64_C(1) << ETH_SS_FEATURES } };
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    strcpy(ifr.ifr_name, "lo");
    ifr.ifr_data = (void *)&ss;
    CHECK(ioctl(s, SIOCETHTOOL, &ifr) == 0 && ss.n > 0);
    close(s);

    /* Placement re-check and signalling a process of another uid. */
    cpu_set_t cpus;
    CHECK(sched_getaffinity(qemu_like, sizeof(cpus), &cpus) == 0);
    CHECK(sched_setaffinity(qemu_like, sizeof(cpus), &cpus) == 0);
    CHECK(kill(qemu_like, SIGKILL) == 0);
    int st;
    CHECK(waitpid(qemu_like, &st, 0) == qemu_like && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);

    /* /proc reading as the placement re-check does it. */
    DIR *d = opendir("/proc/self/task");
    CHECK(d);
    int tasks = 0;
    for (struct dirent *de; (de = readdir(d));) tasks += de->d_name[0] != '.';
    closedir(d);
    CHECK(tasks == 1);

    /* Teardown: write a file back, lock it, remove what we created. */
    fd = open(file, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    CHECK(fd >= 0);
    CHECK(flock(fd, LOCK_EX) == 0);
    CHECK(write(fd, "thp enabled always\n", 19) == 19);
    CHECK(pwrite(fd, "THP", 3, 0) == 3 && ftruncate(fd, 10) == 0);
    close(fd);
    fd = open(file, O_WRONLY | O_TRUNC | O_CLOEXEC);
    CHECK(fd >= 0 && write(fd, "madvise\n", 8) == 8);
    close(fd);
    CHECK(unlink(file) == 0);
    CHECK(rmdir(sub) == 0);
    /* uid 0 without CAP_DAC_OVERRIDE: the permission bits hold again. */
    CHECK(open(ro, O_WRONLY | O_CLOEXEC) < 0 && errno == EACCES);
    CHECK(open(theirs, O_RDONLY | O_CLOEXEC) < 0 && errno == EACCES);
    CHECK(unlink(ro) == 0 && unlink(theirs) == 0);

    CHECK(lockdown_supervisor() == -EALREADY);
    CHECK(write(out_fd, "done", 4) == 4);
    /* exit() runs no cleanup attributes: once the compiler drops the last
     * pointer to one of these, LeakSanitizer would count it. */
    free(TAKE_PTR(sub));
    free(TAKE_PTR(file));
    free(TAKE_PTR(ro));
    free(TAKE_PTR(theirs));
    /* exit(), not _exit(): atexit handlers, stdio and, under ASan, the leak
     * check run under the filter as the real supervisor's exit does. */
    exit(0);
}

static void test_locked_down_child(void **state) {
    (void)state;
    char dir[] = "/tmp/kvmlaunch-lockdown-XXXXXX";
    assert_non_null(mkdtemp(dir));
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    uint64_t expect = KEPT_CAPS & own_capprm();
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        locked_child(dir, p[1], expect);
    }
    close(p[1]);
    int st = wait_child(pid);
    char buf[8] = "";
    ssize_t n = read(p[0], buf, sizeof(buf) - 1);
    close(p[0]);
    /* What a failing child left behind; a passing one removed it all. */
    static const char *const left[] = { "cgroup-like", "journal", "read-only", "theirs" };
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    for (size_t i = 0; dfd >= 0 && i < ELEMENTSOF(left); i++)
        if (unlinkat(dfd, left[i], 0) < 0) unlinkat(dfd, left[i], AT_REMOVEDIR);
    if (dfd >= 0) close(dfd);
    assert_int_equal(rmdir(dir), 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        fail_msg("locked-down child: %s %d", WIFEXITED(st) ? "exit" : "signal",
                 WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
    assert_int_equal(n, 4);
    assert_string_equal(buf, "done");
}

/* ---- a [hostnic]'s offloads put back after lockdown ---- */

/* rx-gro of DEV: sets it to ON when SET, returns its active state (0 or 1)
 * or -errno. Only socket + SIOCETHTOOL: usable after lockdown. */
static int gro(const char *dev, bool set, bool on) {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", dev);
    struct {
        struct ethtool_sset_info i;
        uint32_t n;
    } ss = { .i = { .cmd = ETHTOOL_GSSET_INFO, .sset_mask = UINT64_C(1) << ETH_SS_FEATURES } };
    ifr.ifr_data = (void *)&ss;
    int r = ioctl(fd, SIOCETHTOOL, &ifr) < 0 ? -errno : 0;
    uint32_t n = ss.n, nb = (n + 31) / 32;
    struct ethtool_gstrings *g = xcalloc(1, sizeof(*g) + (size_t)n * ETH_GSTRING_LEN);
    struct ethtool_gfeatures *gf = xcalloc(1, sizeof(*gf) + nb * sizeof(gf->features[0]));
    struct ethtool_sfeatures *sf = xcalloc(1, sizeof(*sf) + nb * sizeof(sf->features[0]));
    if (r == 0) {
        *g = (struct ethtool_gstrings){ .cmd = ETHTOOL_GSTRINGS, .string_set = ETH_SS_FEATURES, .len = n };
        ifr.ifr_data = (void *)g;
        r = ioctl(fd, SIOCETHTOOL, &ifr) < 0 ? -errno : 0;
    }
    int idx = -ENOENT;
    for (uint32_t i = 0; r == 0 && i < n; i++)
        if (!strncmp((char *)g->data + i * ETH_GSTRING_LEN, "rx-gro", ETH_GSTRING_LEN)) idx = (int)i;
    if (r == 0 && idx < 0) r = idx;
    if (r == 0 && set) {
        *sf = (struct ethtool_sfeatures){ .cmd = ETHTOOL_SFEATURES, .size = nb };
        sf->features[idx / 32].valid = UINT32_C(1) << (idx % 32);
        sf->features[idx / 32].requested = on ? UINT32_C(1) << (idx % 32) : 0;
        ifr.ifr_data = (void *)sf;
        r = ioctl(fd, SIOCETHTOOL, &ifr) < 0 ? -errno : 0;
    }
    if (r == 0) {
        *gf = (struct ethtool_gfeatures){ .cmd = ETHTOOL_GFEATURES, .size = nb };
        ifr.ifr_data = (void *)gf;
        r = ioctl(fd, SIOCETHTOOL, &ifr) < 0 ? -errno : (int)((gf->features[idx / 32].active >> (idx % 32)) & 1);
    }
    free(g);
    free(gf);
    free(sf);
    close(fd);
    return r;
}

static void offloads_child(const char *run) {
    no_core_dumps();
    setenv("KVMLAUNCH_RUNDIR", run, 1);
    unsetenv("KVMLAUNCH_ROOT");
    /* A namespace of our own, or nothing: never a NIC of the host. */
    if (netns_test_unshare() < 0) _exit(77);
    int fds[1];
    if (netns_test_tap_open("kllock0", 1, fds) < 0) _exit(77);
    CHECK(gro("kllock0", true, false) == 0);
    static const char ini[] = "[vm]\nname = lockvm\nmemory = 1G\nvcpus = 1\n[hostnic \"kllock0\"]\noffloads = on\n";
    VmConfig cfg;
    ErrList el = { 0 };
    CHECK(vmconf_load_buffer("t.ini", ini, strlen(ini), &cfg, &el) == 0);
    HostRoot hr = HOSTROOT_INIT;
    CHECK(hostroot_open(&hr) == 0 && !hr.redirected);
    Runtime rt = RUNTIME_INIT;
    CHECK(runtime_acquire("lockvm", &rt, NULL) == 0);
    CHECK(hostnic_offloads_apply(&hr, &cfg) == 0);
    CHECK(gro("kllock0", false, false) == 1);

    CHECK(lockdown_supervisor() == 0);
    /* Teardown as run.c does it: offloads back, the runtime dir gone. */
    CHECK(hostnic_offloads_restore(&hr, "lockvm") == 0);
    CHECK(gro("kllock0", false, false) == 0);
    runtime_release(&rt);
    hostroot_close(&hr);
    vmconf_free(&cfg);
    close(fds[0]);
    exit(0); /* under ASan the leak check runs under the filter too */
}

static void test_offloads_restored_after_lockdown(void **state) {
    (void)state;
    char dir[] = "/tmp/kvmlaunch-lockdown-nic-XXXXXX";
    assert_non_null(mkdtemp(dir));
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) offloads_child(dir);
    int st = wait_child(pid);
    _cleanup_free_ char *cmd = xasprintf("rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 77) {
        skip_because("no network namespace with a tap here: offloads after lockdown not tested");
    }
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        fail_msg("offloads child: %s %d", WIFEXITED(st) ? "exit" : "signal", WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
}

/* ---- what kills ---- */

typedef void (*Forbidden)(void);

static void do_execve(void) {
    char *const argv[] = { (char *)"/bin/true", NULL };
    execve("/bin/true", argv, environ);
}
static void do_socket_inet6(void) { (void)socket(AF_INET6, SOCK_STREAM, 0); }
static void do_socket_unix(void) { (void)socket(AF_UNIX, SOCK_DGRAM, 0); }
static void do_socket_inet_stream(void) { (void)socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0); }
static void do_socket_ping(void) { (void)socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_ICMP); }
static void do_socket_netlink(void) { (void)socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, 0); }
static void do_sendto(void) {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(9), .sin_addr = { htonl(INADDR_LOOPBACK) } };
    (void)sendto(fd, "x", 1, 0, (struct sockaddr *)&sa, sizeof(sa));
}
static void do_fork(void) { if (fork() == 0) _exit(0); }
static void do_ptrace(void) { (void)ptrace(PTRACE_TRACEME, 0, NULL, NULL); }
static void do_setuid(void) { (void)setuid(65534); }
static void do_mount(void) { (void)mount("none", "/mnt", "tmpfs", 0, NULL); }
static void do_exec_mapping(void) { (void)mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0); }
static void do_setrlimit(void) { struct rlimit rl = { 1024, 1024 }; (void)setrlimit(RLIMIT_NOFILE, &rl); }
static void do_other_ioctl(void) { int n; (void)ioctl(STDERR_FILENO, FIONREAD, &n); }
static void do_mkdir(void) { (void)mkdir("/tmp/kvmlaunch-lockdown-never", 0700); }
/* getpid by the x32 ABI: the kernel here may not even have x32 (ENOSYS),
 * but seccomp sees the call first. */
static void do_x32_getpid(void) { (void)syscall(0x40000000 | SYS_getpid); }
/* getpid (20) through the 32-bit entry. */
static long int80_getpid(void) {
    long r;
    __asm__ volatile("int $0x80" : "=a"(r) : "a"(20L) : "memory");
    return r;
}
static void do_int80_getpid(void) { (void)int80_getpid(); }
static void *nothing(void *arg) { return arg; }
static void do_thread(void) { pthread_t t; (void)pthread_create(&t, NULL, nothing, NULL); }

static void test_forbidden_kills(void **state) {
    (void)state;
    static const struct { const char *what; Forbidden fn; } cases[] = {
        { "execve /bin/true", do_execve }, { "socket(AF_INET6, SOCK_STREAM)", do_socket_inet6 },
        { "socket(AF_UNIX, SOCK_DGRAM)", do_socket_unix }, { "socket(AF_INET, SOCK_STREAM)", do_socket_inet_stream },
        { "socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP)", do_socket_ping }, { "socket(AF_NETLINK)", do_socket_netlink },
        { "sendto on the ethtool socket", do_sendto }, { "fork", do_fork },
        { "pthread_create", do_thread }, { "ptrace(PTRACE_TRACEME)", do_ptrace },
        { "setuid", do_setuid }, { "mount", do_mount }, { "mmap PROT_EXEC", do_exec_mapping },
        { "setrlimit", do_setrlimit }, { "ioctl FIONREAD", do_other_ioctl }, { "mkdir", do_mkdir },
        { "getpid by the x32 ABI", do_x32_getpid },
    };
    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        fflush(NULL);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            no_core_dumps();
            CHECK(lockdown_supervisor() == 0);
            cases[i].fn();
            _exit(0); /* survived: the filter let it through */
        }
        int st = wait_child(pid);
        if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGSYS)
            fail_msg("%s after lockdown: %s %d, expected SIGSYS", cases[i].what,
                     WIFEXITED(st) ? "exit" : "signal", WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
    }
}

/* The 32-bit ABI for real, where the kernel has it (IA32 emulation): an
 * `int $0x80` getpid works without the filter and kills with it. Without
 * IA32 emulation the instruction faults (SIGSEGV) before seccomp is asked;
 * then test_filter_bpf_arches is what shows the i386 arch refused. */
static void test_int80_kills(void **state) {
    (void)state;
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        no_core_dumps();
        /* cmocka's handler would catch the fault and run the rest of the
         * suite in this child. */
        signal(SIGSEGV, SIG_DFL);
        signal(SIGILL, SIG_DFL);
        _exit(int80_getpid() == getpid() ? 0 : 1);
    }
    int st = wait_child(pid);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        skip_because("no 32-bit syscall entry in this kernel (int $0x80 without a filter: %s %d): "
                     "the i386 arch is shown refused on the exported BPF only",
                     WIFEXITED(st) ? "exit" : "signal", WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
    }
    fflush(NULL);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        no_core_dumps();
        CHECK(lockdown_supervisor() == 0);
        do_int80_getpid();
        _exit(0);
    }
    st = wait_child(pid);
    if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGSYS)
        fail_msg("int $0x80 getpid after lockdown: %s %d, expected SIGSYS", WIFEXITED(st) ? "exit" : "signal",
                 WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
}

/* Capabilities are per thread, so a second thread would keep them all. */
static void *park(void *arg) { (void)arg; for (;;) pause(); return NULL; }

static void test_threads_refused(void **state) {
    (void)state;
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        pthread_t t;
        CHECK(pthread_create(&t, NULL, park, NULL) == 0);
        CHECK(lockdown_supervisor() == -EBUSY);
        CHECK(own_capprm() != 0);
        _exit(0);
    }
    int st = wait_child(pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

/* A VM with a [hostdev]: its teardown's calls pass, and only those
 * (run last: the flag stays set in this process). */
static uint32_t run_call(const struct sock_filter *prog, size_t n, int nr, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a4) {
    struct seccomp_data d = { .nr = nr, .arch = AUDIT_ARCH_X86_64 };
    d.args[0] = a0;
    d.args[1] = a1;
    d.args[2] = a2;
    d.args[4] = a4;
    return bpf_run(prog, n, &d);
}

static void test_hostdev_teardown_calls(void **state) {
    (void)state;
    const uint32_t allow = SECCOMP_RET_ALLOW, kill = SECCOMP_RET_KILL_PROCESS;
    const uint64_t nl_type = SOCK_RAW | SOCK_CLOEXEC;
    size_t n;
    struct sock_filter *prog = filter_bpf(&n);
    assert_int_equal(run_call(prog, n, SYS_socket, AF_NETLINK, nl_type, NETLINK_ROUTE, 0), kill);
    assert_int_equal(run_call(prog, n, SYS_fchownat, 3, 0, 0, AT_EMPTY_PATH), kill);
    free(prog);
    assert_false(lockdown_kept_capabilities() & (UINT64_C(1) << CAP_CHOWN));

    lockdown_allow_hostdevs();
    prog = filter_bpf(&n);
    assert_int_equal(run_call(prog, n, SYS_socket, AF_NETLINK, nl_type, NETLINK_ROUTE, 0), allow);
    assert_int_equal(run_call(prog, n, SYS_socket, AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, 0), kill);
    assert_int_equal(run_call(prog, n, SYS_socket, AF_NETLINK, nl_type, NETLINK_ROUTE + 1, 0), kill);
    assert_int_equal(run_call(prog, n, SYS_sendto, 3, 0, 0, 0), allow);
    assert_int_equal(run_call(prog, n, SYS_recvfrom, 3, 0, 0, 0), allow);
    assert_int_equal(run_call(prog, n, SYS_readlinkat, 3, 0, 0, 0), allow);
    assert_int_equal(run_call(prog, n, SYS_fchownat, 3, 0, 0, AT_EMPTY_PATH), allow);
    assert_int_equal(run_call(prog, n, SYS_fchownat, AT_FDCWD, 0, 0, 0), kill); /* by path: refused */
    assert_int_equal(run_call(prog, n, SYS_ioctl, 3, SIOCGIFINDEX, 0, 0), kill);
    free(prog);
    assert_true(lockdown_kept_capabilities() & (UINT64_C(1) << CAP_CHOWN));
    assert_true(lockdown_kept_capabilities() & (UINT64_C(1) << CAP_FOWNER));
}

int main(void) {
    const struct CMUnitTest filter_tests[] = {
        cmocka_unit_test(test_filter_pfc),
        cmocka_unit_test(test_kept_set_documented),
        cmocka_unit_test(test_filter_bpf_arches),
    };
    const struct CMUnitTest hostdev_tests[] = {
        cmocka_unit_test(test_hostdev_teardown_calls),
    };
    int r = cmocka_run_group_tests_name("lockdown filter", filter_tests, NULL, NULL);
    if (r != 0) return r;
    if (geteuid() != 0) {
        r = cmocka_run_group_tests_name("lockdown with [hostdev]", hostdev_tests, NULL, NULL);
        return r != 0 ? r : skip_program("needs root (the lockdown itself runs in forked children as root)");
    }
    const struct CMUnitTest root_tests[] = {
        cmocka_unit_test(test_locked_down_child),
        cmocka_unit_test(test_offloads_restored_after_lockdown),
        cmocka_unit_test(test_forbidden_kills),
        cmocka_unit_test(test_int80_kills),
        cmocka_unit_test(test_threads_refused),
    };
    r = cmocka_run_group_tests_name("lockdown as root", root_tests, NULL, NULL);
    if (r != 0) return r;
    return cmocka_run_group_tests_name("lockdown with [hostdev]", hostdev_tests, NULL, NULL);
}
