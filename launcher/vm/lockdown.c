/* The supervisor locks itself down once the guest runs. From then on it only
 * waits (poll on QMP, a signalfd and a timerfd), relays the serial console
 * (accepting its clients), signals and reaps QEMU,
 * re-checks thread placement, logs, and at teardown removes what it created
 * and writes root-owned host knobs back. Everything else is taken away:
 * capabilities, the chance to gain any (no_new_privs), and every syscall not
 * listed below (the filter kills the whole process). */
#include "lockdown.h"

#include <cap-ng.h>
#include <errno.h>
#include <linux/netlink.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/sockios.h>
#include <sched.h>
#include <seccomp.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#if defined(__SANITIZE_ADDRESS__)
#define LOCKDOWN_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LOCKDOWN_ASAN 1
#endif
#endif

/* The supervisor stays uid 0, and only because restoring root-owned host
 * files needs it: the sysfs, procfs and cgroupfs knobs it writes back at
 * teardown (0644 or 0200, owner root), the cgroup directories and the
 * runtime directory it created itself. As their owner it passes the plain
 * permission check, so it needs neither CAP_DAC_OVERRIDE nor
 * CAP_DAC_READ_SEARCH nor CAP_FOWNER, which would open every file on the
 * host, whoever owns it. Files QEMU made in the runtime directory go away
 * through that directory, which is ours and not sticky. Reading QEMU's
 * /proc/PID/task/TID/{stat,status} needs nothing: they are world-readable.
 * What uid 0 still allows is writing any root-owned file with its owner
 * write bit set; seccomp cannot see paths, so narrowing that is Landlock's
 * job (a later issue), not this filter's.
 *
 * What it still does with privilege, one capability a reason. A later
 * teardown step that needs one more (e.g. CAP_NET_ADMIN to delete a
 * persistent tap or to put ethtool settings back) adds it here, with why. */
static const struct {
    unsigned cap;
    const char *why;
} kept_caps[] = {
    { CAP_KILL, "signal QEMU, which runs under another uid (SIGTERM forwarding, SIGKILL past shutdown-timeout)" },
    { CAP_SYS_NICE, "re-pin QEMU's threads, tasks of another uid, with sched_setaffinity when placement is re-checked" },
    /* With socket() limited to one UDP socket and ioctl() to TCGETS and
     * SIOCETHTOOL below, what is left of it are writes to root-owned
     * network sysfs files and ethtool requests. */
    { CAP_NET_ADMIN, "steer tap queues again (rps_cpus/xps_cpus need it) when the guest enables more of them, "
                     "and put a [hostnic]'s offloads back at teardown (ETHTOOL_SFEATURES)" },
};

/* A VM with a [hostdev] gives its group's /dev/vfio/N to QEMU's user;
 * where that node outlives the unbinding at teardown (another device of
 * the group was on vfio-pci before), it is given back, which needs these
 * two, and the syscalls below. Only for such a VM. */
static const struct {
    unsigned cap;
    const char *why;
} hostdev_caps[] = {
    { CAP_CHOWN, "give a [hostdev]'s /dev/vfio/N, QEMU's user's while the VM ran, back to its owner at teardown" },
    { CAP_FOWNER, "put that node's mode back (it is QEMU's user's then, not ours)" },
};
static bool with_hostdevs;

void lockdown_allow_hostdevs(void) { with_hostdevs = true; }

uint64_t lockdown_kept_capabilities(void) {
    uint64_t mask = 0;
    for (size_t i = 0; i < ELEMENTSOF(kept_caps); i++)
        mask |= UINT64_C(1) << kept_caps[i].cap;
    for (size_t i = 0; with_hostdevs && i < ELEMENTSOF(hostdev_caps); i++)
        mask |= UINT64_C(1) << hostdev_caps[i].cap;
    return mask;
}

/* A syscall the supervisor may make, with up to three argument checks that
 * must all hold (socket's domain, type and protocol, say). */
typedef struct Rule {
    const char *name;
    unsigned n_args;
    struct scmp_arg_cmp args[3];
} Rule;

#define NO_EXEC(argno) { .arg = (argno), .op = SCMP_CMP_MASKED_EQ, .datum_a = PROT_EXEC, .datum_b = 0 }
#define ARG_EQ(argno, v) { .arg = (argno), .op = SCMP_CMP_EQ, .datum_a = (v), .datum_b = 0 }
#define ALLOW(n) { .name = (n) }
#define ALLOW_IF(n, a) { .name = (n), .n_args = 1, .args = { a } }
#define ALLOW_IF2(n, a, b) { .name = (n), .n_args = 2, .args = { a, b } }
#define ALLOW_IF3(n, a, b, c) { .name = (n), .n_args = 3, .args = { a, b, c } }

static const Rule allowlist[] = {
    /* The wait: poll on the QMP socket, the signalfd (SIGTERM, SIGINT,
     * SIGCHLD, SIGHUP) and the timer; QMP talks with read/write. */
    ALLOW("ppoll"), ALLOW("poll"),
    ALLOW("read"), ALLOW("readv"), ALLOW("write"), ALLOW("writev"),
    ALLOW("signalfd"), ALLOW("signalfd4"),
    ALLOW("timerfd_create"), ALLOW("timerfd_settime"), ALLOW("timerfd_gettime"),
    /* Time: deadlines (vDSO first, these when it falls back) and the short
     * sleeps of the shutdown escalation. */
    ALLOW("clock_gettime"), ALLOW("clock_getres"), ALLOW("gettimeofday"), ALLOW("time"),
    ALLOW("nanosleep"), ALLOW("clock_nanosleep"),
    /* Signals: kill drives QEMU's shutdown; the rest is glibc's own signal
     * plumbing (abort() raises with tgkill on our own thread). */
    ALLOW("kill"), ALLOW("tgkill"),
    ALLOW("rt_sigprocmask"), ALLOW("rt_sigaction"), ALLOW("rt_sigreturn"), ALLOW("restart_syscall"),
    /* Reaping QEMU, and leaving. */
    ALLOW("wait4"), ALLOW("waitid"), ALLOW("exit_group"), ALLOW("exit"),
    /* Who we are (glibc and logging). */
    ALLOW("getpid"), ALLOW("gettid"), ALLOW("getppid"),
    ALLOW("getuid"), ALLOW("geteuid"), ALLOW("getgid"), ALLOW("getegid"),
    /* Memory: malloc (glibc and json-c for QMP). Never executable: nothing
     * after lockdown loads code, and W^X stops injected code from running. */
    ALLOW("brk"), ALLOW("munmap"), ALLOW("mremap"), ALLOW("madvise"),
    ALLOW_IF("mmap", NO_EXEC(2)), ALLOW_IF("mprotect", NO_EXEC(2)),
    /* glibc internals: futex for its locks, getrandom for hash seeds (json-c),
     * sysinfo/uname for sysconf, limits read (never set) by getrlimit. */
    ALLOW("futex"), ALLOW("getrandom"), ALLOW("sysinfo"), ALLOW("uname"),
    ALLOW_IF("prlimit64", ARG_EQ(2, 0)),
    /* stdio asks isatty() (TCGETS) the first time it buffers a stream. */
    ALLOW_IF("ioctl", ARG_EQ(1, TCGETS)),
    /* Teardown puts a [hostnic]'s offloads back (launcher/net/hostnic.c): the
     * ethtool ioctl on one UDP socket, exactly as hostnic opens it (no
     * other family, type, flag or protocol: no TCP, raw, ping or netlink
     * socket, and connect/sendto stay refused, so the socket sends
     * nothing). Seccomp cannot see which ethtool command the request
     * carries; what it may do is bounded by the CAP_NET_ADMIN kept above. */
    ALLOW_IF3("socket", ARG_EQ(0, AF_INET), ARG_EQ(1, SOCK_DGRAM | SOCK_CLOEXEC), ARG_EQ(2, 0)),
    ALLOW_IF("ioctl", ARG_EQ(1, SIOCETHTOOL)),
    /* The serial console (serialrelay.c): clients of NAME/console.sock,
     * the one listening socket the supervisor holds, are accepted
     * nonblocking; it reads and writes them, nothing more. */
    ALLOW_IF("accept4", ARG_EQ(3, SOCK_CLOEXEC | SOCK_NONBLOCK)),
    /* Files: /proc/PID/task and /proc files (placement re-check), the journal,
     * and teardown: write root-owned knobs back (openat O_WRONLY|O_TRUNC),
     * remove what we created (files, cgroup and runtime directories), locks. */
    ALLOW("openat"), ALLOW("close"), ALLOW("lseek"),
    /* The same opens inside a redirected host tree (KVMLAUNCH_ROOT, tests):
     * openat2 with RESOLVE_IN_ROOT can reach no more than openat. */
    ALLOW("openat2"),
    ALLOW("pread64"), ALLOW("pwrite64"), ALLOW("getdents64"),
    ALLOW("fstat"), ALLOW("newfstatat"), ALLOW("statx"),
    ALLOW("faccessat"), ALLOW("faccessat2"),
    ALLOW("fcntl"), ALLOW("flock"),
    ALLOW("ftruncate"),
    ALLOW("unlinkat"), ALLOW("unlink"), ALLOW("rmdir"),
    /* The host-wide knob state is replaced atomically (write, rename)
     * when teardown puts a knob back. */
    ALLOW("rename"), ALLOW("renameat"), ALLOW("renameat2"),
    /* Placement re-check: read each thread's CPUs and policy, re-pin drift. */
    ALLOW("sched_getaffinity"), ALLOW("sched_setaffinity"),
    ALLOW("sched_getscheduler"), ALLOW("sched_getparam"),
    /* Teardown of later issues goes here, each with an argument check. Not
     * allowed on purpose: exec*, fork/vfork/clone/clone3 (the supervisor never
     * forks after lockdown), ptrace, mount, set*id, bpf, open_by_handle_at,
     * socket other than the one above, socketpair, connect, sendto, keyctl,
     * perf_event_open, userfaultfd, module and kexec calls. */
};

#ifdef LOCKDOWN_ASAN
/* Only in the ASan+UBSan build: what the sanitizer runtime does after
 * lockdown, found by running it under a logging filter. Above all
 * LeakSanitizer's check at exit: it starts a tracer task with a raw clone
 * (these exact flags, unlike fork's or pthread_create's), which lists
 * /proc/self/task (open, getdents), ptrace-attaches to our one thread
 * (ptrace is limited to our pid, see lockdown_build_filter), reads its
 * registers and detaches. The tracer is not in our thread group, so a
 * syscall the filter refuses kills only the tracer, and the leak check then
 * waits for it forever: keep this list complete. Allowing it only under
 * ASan keeps clone and ptrace out of the production filter and still lets
 * the sanitized build check the teardown code for leaks and report errors
 * after lockdown. */
#define LSAN_CLONE_FLAGS (CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_UNTRACED)
static const Rule asan_allowlist[] = {
    ALLOW("open"), ALLOW("getdents"), ALLOW("sigaltstack"), ALLOW("sched_yield"),
    /* Reports: the module name from /proc/self/exe, and a pipe that probes
     * whether memory is readable. */
    ALLOW("readlink"), ALLOW("readlinkat"), ALLOW("pipe2"), ALLOW("pipe"),
    ALLOW_IF("clone", ARG_EQ(0, LSAN_CLONE_FLAGS)),
    /* The tracer dies with us, and may need to make us traceable. */
    ALLOW_IF("prctl", ARG_EQ(0, PR_SET_PDEATHSIG)), ALLOW_IF("prctl", ARG_EQ(0, PR_SET_PTRACER)),
    ALLOW_IF("prctl", ARG_EQ(0, PR_GET_DUMPABLE)), ALLOW_IF("prctl", ARG_EQ(0, PR_SET_DUMPABLE)),
};
#endif

static int add_rule(scmp_filter_ctx ctx, const Rule *rule) {
    int nr = seccomp_syscall_resolve_name(rule->name);
    if (nr == __NR_SCMP_ERROR)
        return log_error_errno(-EINVAL, "Unknown syscall \"%s\" in the supervisor's seccomp allowlist", rule->name);
    if (nr < 0) return 0; /* not a syscall on this architecture: nothing to allow */
    int r = seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, nr, rule->n_args, rule->args);
    if (r < 0)
        return log_error_errno(r, "Failed to allow %s in the supervisor's seccomp filter: %m", rule->name);
    return 0;
}

int lockdown_build_filter(scmp_filter_ctx *out) {
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
    if (!ctx) return log_error_errno(-ENOMEM, "Failed to create the supervisor's seccomp filter: %m");
    int r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
    if (r >= 0) r = seccomp_attr_set(ctx, SCMP_FLTATR_API_SYSRAWRC, 1); /* real errno from seccomp_load */
    if (r < 0) {
        seccomp_release(ctx);
        return log_error_errno(r, "Failed to set the attributes of the supervisor's seccomp filter: %m");
    }
    for (size_t i = 0; i < ELEMENTSOF(allowlist) && r >= 0; i++)
        r = add_rule(ctx, &allowlist[i]);
    /* [hostdev] teardown (hostdev_bind.c): a device's driver link is read,
     * the group's node given back (hostdev_caps). */
    static const Rule hostdev_rules[] = {
        ALLOW("readlinkat"), ALLOW_IF("fchownat", ARG_EQ(4, AT_EMPTY_PATH)), ALLOW("fchmodat"), ALLOW("chmod"),
        /* A VF's MAC and VLAN cleared on its PF: one rtnetlink request and
         * its ack (CAP_NET_ADMIN is kept already). */
        ALLOW_IF3("socket", ARG_EQ(0, AF_NETLINK), ARG_EQ(1, SOCK_RAW | SOCK_CLOEXEC), ARG_EQ(2, NETLINK_ROUTE)),
        ALLOW("sendto"), ALLOW("recvfrom"),
    };
    for (size_t i = 0; with_hostdevs && i < ELEMENTSOF(hostdev_rules) && r >= 0; i++)
        r = add_rule(ctx, &hostdev_rules[i]);
#ifdef LOCKDOWN_ASAN
    for (size_t i = 0; i < ELEMENTSOF(asan_allowlist) && r >= 0; i++)
        if (!(with_hostdevs && streq(asan_allowlist[i].name, "readlinkat"))) r = add_rule(ctx, &asan_allowlist[i]);
    if (r >= 0) {
        Rule ptrace_self = ALLOW_IF("ptrace", ARG_EQ(1, (scmp_datum_t)getpid()));
        r = add_rule(ctx, &ptrace_self);
    }
#endif
    if (r < 0) {
        seccomp_release(ctx);
        return r;
    }
    *out = ctx;
    return 0;
}

/* Capabilities are per thread: a second thread would keep its own. */
static int check_single_threaded(void) {
    FILE *f = fopen("/proc/self/status", "re");
    if (!f) return 0; /* no /proc: nothing can tell, and the filter still applies */
    char line[256];
    long threads = 0;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "Threads: %ld", &threads) == 1) break;
    fclose(f);
    if (threads > 1)
        return log_error_errno(-EBUSY, "Cannot lock the supervisor down: it runs %ld threads, and only the calling one would lose its capabilities", threads);
    return 0;
}

/* Clears every capability but the kept ones (those the process holds) from
 * the effective, permitted, inheritable, ambient and bounding sets. The uid
 * stays 0. */
static int drop_capabilities(void) {
    errno = 0;
    if (capng_get_caps_process() < 0)
        return log_error_errno(errno ? -errno : -EIO, "Failed to read the supervisor's capabilities: %m");
    bool can_bound = capng_have_capability(CAPNG_EFFECTIVE, CAP_SETPCAP) == 1;
    uint64_t keep = 0;
    for (size_t i = 0; i < ELEMENTSOF(kept_caps); i++) {
        /* Keep only what we hold: capset cannot add to the permitted set. */
        if (capng_have_capability(CAPNG_PERMITTED, kept_caps[i].cap) == 1)
            keep |= UINT64_C(1) << kept_caps[i].cap;
        else if (geteuid() == 0)
            log_warning("The supervisor lacks %s, needed to %s",
                        capng_capability_to_name(kept_caps[i].cap), kept_caps[i].why);
    }
    for (size_t i = 0; with_hostdevs && i < ELEMENTSOF(hostdev_caps); i++)
        if (capng_have_capability(CAPNG_PERMITTED, hostdev_caps[i].cap) == 1) keep |= UINT64_C(1) << hostdev_caps[i].cap;

    capng_clear(CAPNG_SELECT_ALL);
    for (unsigned cap = 0; cap < 64; cap++)
        if (keep & (UINT64_C(1) << cap) &&
            capng_update(CAPNG_ADD, CAPNG_EFFECTIVE | CAPNG_PERMITTED | CAPNG_BOUNDING_SET, cap) < 0)
            return log_error_errno(-EINVAL, "Failed to keep %s: %m", capng_capability_to_name(cap));
    /* Shrinking the bounding set needs CAP_SETPCAP. Without it (kvmlaunch not
     * started as root) the set stays as it is, which grants nothing here:
     * we hold no capabilities, never exec, and no_new_privs follows. */
    capng_select_t set = can_bound ? CAPNG_SELECT_ALL : CAPNG_SELECT_CAPS | CAPNG_SELECT_AMBIENT;
    int r = capng_apply(set);
    if (r < 0)
        return log_error_errno(-EPERM, "Failed to drop the supervisor's capabilities (libcap-ng error %d): %m", r);

    /* Trust but verify the bounding set: a libcap-ng that skips it silently
     * would leave every capability one exec away (exec is filtered, but the
     * claim should hold on its own). */
    for (int cap = 0, in; can_bound && (in = prctl(PR_CAPBSET_READ, cap, 0, 0, 0)) >= 0; cap++)
        if (in == 1 && !(keep & (UINT64_C(1) << cap)))
            return log_error_errno(-EPERM, "Capability %d is still in the supervisor's bounding set", cap);
    return 0;
}

int lockdown_supervisor(void) {
    static bool done;
    if (done) return log_error_errno(-EALREADY, "The supervisor is already locked down");

    int r = check_single_threaded();
    if (r < 0) return r;
    /* Built first: a failure here leaves the process as it was. */
    scmp_filter_ctx ctx;
    r = lockdown_build_filter(&ctx);
    if (r < 0) return r;

    r = drop_capabilities();
    if (r >= 0 && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        r = log_error_errno(-errno, "Failed to set no_new_privs on the supervisor: %m");
    if (r >= 0) {
        r = seccomp_load(ctx);
        if (r < 0) r = log_error_errno(r, "Failed to load the supervisor's seccomp filter: %m");
    }
    seccomp_release(ctx);
    if (r < 0) return r;
    done = true;
    log_debug("Supervisor locked down: no_new_privs, %zu syscalls allowed, every other kills it",
              ELEMENTSOF(allowlist));
    return 0;
}
