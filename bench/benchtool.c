/* benchtool: the timing helper of bench/run (issue 8). Not part of kvmlaunch.
 *
 *   benchtool floor [--tap NAME --queues N] [--pin CPU,CPU...] [--user UID:GID] -- QEMU ARGV...
 *       The floor: QEMU started directly with kvmlaunch's argv. QMP socketpair at fd 3,
 *       a listening unix socket at fd 4, tap queues at fds 5.. (opened here, as
 *       kvmlaunch does), QEMU run as UID:GID; qmp_capabilities, query-cpus-fast,
 *       sched_setaffinity of each vCPU thread, cont. Then quit, and wait for QEMU.
 *       Prints "START_MS STOP_MS UP_MS" (start: from before the fork and exec
 *       of the launching process, "benchtool floor-run", to cont's reply, as
 *       `until` times kvmlaunch; stop: from quit sent to QEMU reaped; up: as
 *       floor-run says). With --hold PATH (a fleet): prints START_MS only,
 *       then keeps QEMU running until PATH is gone.
 *   benchtool floor-run ...            the launching process of `floor`: prints
 *       "up MS" (from its fork of QEMU to qmp_capabilities answered), "cont MS"
 *       once cont is answered (MS: from its own start), "stop MS" at the end.
 *   benchtool until SUBSTR LOGFILE -- CMD...
 *       Runs CMD with stdout+stderr into a pipe, until a line holds SUBSTR; prints
 *       "MS PID" (ms from before fork to that line), then leaves a process behind
 *       that copies the rest of CMD's output to LOGFILE, so CMD never gets EPIPE.
 *   benchtool time -- CMD...           prints the ms CMD took (its exit status passes on)
 *   benchtool gone PATH -- CMD...      runs CMD, then waits until PATH is gone;
 *                                      prints ms from start to gone.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void die(const char *what) {
    fprintf(stderr, "benchtool: %s: %s\n", what, strerror(errno));
    exit(1);
}

static char **after_dashes(int argc, char **argv, int from) {
    for (int i = from; i < argc; i++)
        if (!strcmp(argv[i], "--")) return i + 1 < argc ? argv + i + 1 : NULL;
    return NULL;
}

/* A pipe, the clock read, a fork: the start of every timed child. */
static pid_t fork_timed(int p[2], double *t0) {
    if (pipe2(p, O_CLOEXEC) < 0) die("pipe");
    *t0 = now_ms();
    pid_t pid = fork();
    if (pid < 0) die("fork");
    return pid;
}

/* ---- floor ---- */

static char qbuf[1 << 16];
static size_t qlen;

/* The next line from QMP that is not an event, into qbuf (NUL-terminated). */
static char *qmp_reply(int fd) {
    for (;;) {
        char *nl = memchr(qbuf, '\n', qlen);
        while (nl) {
            *nl = 0;
            size_t used = (size_t)(nl - qbuf) + 1;
            static char line[sizeof qbuf];
            memcpy(line, qbuf, used);
            memmove(qbuf, qbuf + used, qlen - used);
            qlen -= used;
            if (!strstr(line, "\"event\"")) return line;
            nl = memchr(qbuf, '\n', qlen);
        }
        if (qlen == sizeof qbuf) { fprintf(stderr, "benchtool: QMP line too long\n"); exit(1); }
        ssize_t n = read(fd, qbuf + qlen, sizeof qbuf - qlen);
        if (n <= 0) { fprintf(stderr, "benchtool: QMP closed\n"); exit(1); }
        qlen += (size_t)n;
    }
}

static char *qmp_cmd(int fd, const char *cmd) {
    if (write(fd, cmd, strlen(cmd)) < 0) die("QMP write");
    char *r = qmp_reply(fd);
    if (!strstr(r, "\"return\"")) { fprintf(stderr, "benchtool: %s -> %s\n", cmd, r); exit(1); }
    return r;
}

static int tap_queue(const char *name) {
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    if (fd < 0) die("/dev/net/tun");
    struct ifreq ifr = {0};
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE;
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", name);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) die("TUNSETIFF");
    return fd;
}

static int cmd_floor_run(int argc, char **argv) {
    double t0 = now_ms();
    const char *tap = NULL, *pin = NULL, *hold = NULL;
    int queues = 0;
    unsigned uid = 65534, gid = 65534;
    int i = 2;
    for (; i < argc && strcmp(argv[i], "--"); i++) {
        if (!strcmp(argv[i], "--tap") && i + 1 < argc) tap = argv[++i];
        else if (!strcmp(argv[i], "--queues") && i + 1 < argc) queues = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--pin") && i + 1 < argc) pin = argv[++i];
        else if (!strcmp(argv[i], "--hold") && i + 1 < argc) hold = argv[++i];
        else if (!strcmp(argv[i], "--user") && i + 1 < argc) sscanf(argv[++i], "%u:%u", &uid, &gid);
        else { fprintf(stderr, "benchtool floor: unknown option %s\n", argv[i]); return 2; }
    }
    char **qargv = after_dashes(argc, argv, 2);
    if (!qargv) { fprintf(stderr, "benchtool floor: no QEMU argv\n"); return 2; }

    int sp[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0) die("socketpair");
    int lsn = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (lsn < 0) die("socket");
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "/tmp/benchtool-%ld.sock", (long)getpid());
    unlink(sa.sun_path);
    if (bind(lsn, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(lsn, 1) < 0) die("bind/listen");
    int tapfd[16];
    for (int q = 0; q < queues && q < 16; q++) tapfd[q] = tap_queue(tap);

    double tfork = now_ms();
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
        /* fds 3, 4, 5.. as kvmlaunch hands them over (dup2 clears CLOEXEC) */
        int hi = 100;
        int a = fcntl(sp[1], F_DUPFD_CLOEXEC, hi), b = fcntl(lsn, F_DUPFD_CLOEXEC, hi);
        int t[16];
        for (int q = 0; q < queues; q++) t[q] = fcntl(tapfd[q], F_DUPFD_CLOEXEC, hi);
        if (dup2(a, 3) < 0 || dup2(b, 4) < 0) _exit(127);
        for (int q = 0; q < queues; q++) if (dup2(t[q], 5 + q) < 0) _exit(127);
        if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0) _exit(126);
        execv(qargv[0], qargv);
        _exit(127);
    }
    close(sp[1]);
    close(lsn);
    unlink(sa.sun_path);
    for (int q = 0; q < queues; q++) close(tapfd[q]);
    int fd = sp[0];
    qmp_reply(fd); /* greeting */
    qmp_cmd(fd, "{\"execute\":\"qmp_capabilities\"}\n");
    /* as kvmlaunch's "QEMU up": from the fork to qmp_capabilities answered */
    printf("up %.1f\n", now_ms() - tfork);
    if (pin) {
        char *r = qmp_cmd(fd, "{\"execute\":\"query-cpus-fast\"}\n");
        int cpus[64], n = 0;
        for (char *s = strtok(strdupa(pin), ","); s && n < 64; s = strtok(NULL, ",")) cpus[n++] = atoi(s);
        int idx = 0;
        for (char *p = strstr(r, "\"thread-id\""); p; p = strstr(p + 1, "\"thread-id\"")) {
            long tid = strtol(strchr(p, ':') + 1, NULL, 10);
            /* query-cpus-fast lists vCPUs by index; cpu-index would be exact, this is the order */
            cpu_set_t set;
            CPU_ZERO(&set);
            CPU_SET(cpus[idx % n], &set);
            if (sched_setaffinity((pid_t)tid, sizeof set, &set) < 0) die("sched_setaffinity");
            idx++;
        }
    }
    qmp_cmd(fd, "{\"execute\":\"cont\"}\n");
    double t1 = now_ms();
    printf("cont %.1f\n", t1 - t0);
    fflush(stdout);
    if (hold) {
        /* a fleet: keep it running until HOLD is removed */
        struct stat sb;
        while (stat(hold, &sb) == 0) usleep(2000);
    }
    qmp_cmd(fd, "{\"execute\":\"quit\"}\n");
    int st;
    waitpid(pid, &st, 0);
    double t2 = now_ms();
    printf("stop %.1f\n", t2 - t1);
    return 0;
}

/* The floor's launching process is timed from before its fork and exec, as
 * `until` times kvmlaunch: both sides pay for starting a process. */
static int cmd_floor(int argc, char **argv) {
    bool hold = false;
    for (int i = 2; i < argc && strcmp(argv[i], "--"); i++) hold |= !strcmp(argv[i], "--hold");
    int p[2];
    double t0;
    pid_t pid = fork_timed(p, &t0);
    if (pid == 0) {
        dup2(p[1], 1);
        argv[1] = (char *)"floor-run";
        execv("/proc/self/exe", argv);
        _exit(127);
    }
    close(p[1]);
    FILE *f = fdopen(p[0], "r");
    char line[128];
    double start = -1, stop = -1, up = -1, v;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "cont %lf", &v) == 1) {
            start = now_ms() - t0;
            if (hold) {
                printf("%.1f\n", start);
                fflush(stdout);
            }
        } else if (sscanf(line, "stop %lf", &v) == 1) {
            stop = v;
        } else if (sscanf(line, "up %lf", &v) == 1) {
            up = v;
        }
    }
    fclose(f);
    int st;
    waitpid(pid, &st, 0);
    if (start < 0 || !WIFEXITED(st) || WEXITSTATUS(st)) {
        fprintf(stderr, "benchtool floor: the floor did not run\n");
        return 1;
    }
    if (!hold) printf("%.1f %.1f %.1f\n", start, stop, up);
    return 0;
}

/* ---- until ---- */

static int cmd_until(int argc, char **argv) {
    if (argc < 6) return 2;
    const char *sub = argv[2], *logpath = argv[3];
    char **cmd = after_dashes(argc, argv, 4);
    if (!cmd) return 2;
    int logfd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (logfd < 0) die(logpath);
    int p[2];
    double t0;
    pid_t pid = fork_timed(p, &t0);
    if (pid == 0) {
        int nul = open("/dev/null", O_RDONLY);
        dup2(nul, 0);
        dup2(p[1], 1);
        dup2(p[1], 2);
        execvp(cmd[0], cmd);
        _exit(127);
    }
    close(p[1]);
    char buf[8192];
    size_t len = 0;
    for (;;) {
        ssize_t n = read(p[0], buf + len, sizeof buf - 1 - len);
        if (n <= 0) {
            int st;
            waitpid(pid, &st, 0);
            fprintf(stderr, "benchtool until: %s ended (status %d) before \"%s\"; its output is in %s\n", cmd[0], st, sub, logpath);
            return 1;
        }
        if (write(logfd, buf + len, (size_t)n) < 0) die("log write");
        len += (size_t)n;
        buf[len] = 0;
        /* memmem, memrchr: a firmware's console output may hold NUL bytes. */
        if (memmem(buf, len, sub, strlen(sub))) break;
        char *nl = memrchr(buf, '\n', len);
        if (nl) { size_t keep = len - (size_t)(nl + 1 - buf); memmove(buf, nl + 1, keep); len = keep; }
        if (len > sizeof buf / 2) len = 0;
    }
    double t1 = now_ms();
    printf("%.1f %ld\n", t1 - t0, (long)pid);
    fflush(stdout);
    /* The drainer: keeps CMD's output going to the log after we answer. */
    pid_t d = fork();
    if (d == 0) {
        int nul = open("/dev/null", O_RDWR);
        dup2(nul, 0); dup2(nul, 1); dup2(nul, 2);
        setsid();
        ssize_t n;
        while ((n = read(p[0], buf, sizeof buf)) > 0)
            if (write(logfd, buf, (size_t)n) < 0) break;
        _exit(0);
    }
    return 0;
}

/* ---- time, gone ---- */

static int run_wait(char **cmd) {
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
        int nul = open("/dev/null", O_RDWR);
        dup2(nul, 0); dup2(nul, 1);
        execvp(cmd[0], cmd);
        _exit(127);
    }
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int cmd_time(int argc, char **argv) {
    char **cmd = after_dashes(argc, argv, 2);
    if (!cmd) return 2;
    double t0 = now_ms();
    int rc = run_wait(cmd);
    printf("%.1f\n", now_ms() - t0);
    return rc;
}

static int cmd_gone(int argc, char **argv) {
    if (argc < 5) return 2;
    const char *path = argv[2];
    char **cmd = after_dashes(argc, argv, 3);
    if (!cmd) return 2;
    double t0 = now_ms();
    int rc = run_wait(cmd);
    struct stat sb;
    while (stat(path, &sb) == 0) {
        if (now_ms() - t0 > 120000) { fprintf(stderr, "benchtool gone: %s still there\n", path); return 1; }
        usleep(1000);
    }
    printf("%.1f\n", now_ms() - t0);
    return rc;
}

int main(int argc, char **argv) {
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2) goto usage;
    if (!strcmp(argv[1], "floor")) return cmd_floor(argc, argv);
    if (!strcmp(argv[1], "floor-run")) return cmd_floor_run(argc, argv);
    if (!strcmp(argv[1], "until")) return cmd_until(argc, argv);
    if (!strcmp(argv[1], "time")) return cmd_time(argc, argv);
    if (!strcmp(argv[1], "gone")) return cmd_gone(argc, argv);
usage:
    fprintf(stderr, "usage: benchtool floor|until|time|gone ... (see bench/benchtool.c)\n");
    return 2;
}
