/* list, status, stop, cleanup: they read the runtime dirs, /proc, and the
 * status monitor; none of them needs the VM's vm.ini. */
#include "commands.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cgroup.h"
#include "cli.h"
#include "cpuclaim.h"
#include "hostnic.h"
#include "hostplan.h"
#include "log.h"
#include "qmp.h"
#include "runtime.h"
#include "schema.h"
#include "supervise.h"
#include "util.h"

#define STOP_WAIT_MS 180000

static int check_name(const char *name) {
    char err[VALUE_ERR_MAX];
    if (schema_check_vm_name(name, err) < 0) {
        fprintf(stderr, "kvmlaunch: NAME: %s\n", err);
        return -EINVAL;
    }
    return 0;
}

int cmd_list(void) {
    DIR *d = opendir(runtime_base());
    if (!d) {
        if (errno == ENOENT) return EXIT_OK;
        log_error_errno(-errno, "Failed to list %s: %m", runtime_base());
        return EXIT_RUNTIME;
    }
    struct dirent *de;
    printf("%-24s %10s %10s\n", "NAME", "KVMLAUNCH", "QEMU");
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        pid_t sup, qemu;
        if (runtime_query(de->d_name, &sup, &qemu) == 1) printf("%-24s %10ld %10ld\n", de->d_name, (long)sup, (long)qemu);
    }
    closedir(d);
    return EXIT_OK;
}

int cmd_stop(const char *name) {
    if (check_name(name) < 0) return EXIT_CONFIG;
    pid_t sup = 0, qemu = 0;
    int r = runtime_query(name, &sup, &qemu);
    if (r <= 0) {
        log_error("%s is not running", name);
        return EXIT_RUNTIME;
    }
    /* The supervisor powers the guest down, then quits QEMU, then kills it. */
    if (kill(sup, SIGTERM) < 0) {
        log_error_errno(-errno, "Failed to signal kvmlaunch (pid %ld): %m", (long)sup);
        return EXIT_RUNTIME;
    }
    int64_t until = monotonic_ms() + STOP_WAIT_MS;
    while (monotonic_ms() < until) {
        if (runtime_query(name, NULL, NULL) != 1) {
            log_info("%s stopped", name);
            return EXIT_OK;
        }
        usleep(100 * 1000);
    }
    log_error("%s did not stop within %ds", name, STOP_WAIT_MS / 1000);
    return EXIT_RUNTIME;
}

/* NAME's runtime dir and the host knobs it relied on; NULL: every VM that
 * is not running. */
int cmd_cleanup(const char *name) {
    if (name && check_name(name) < 0) return EXIT_CONFIG;
    int rc = EXIT_OK;
    if (name) {
        int r = runtime_cleanup(name);
        if (r == -EBUSY) {
            log_error("%s is running; `kvmlaunch stop %s` first", name, name);
            return EXIT_RUNTIME;
        }
        if (r < 0) rc = EXIT_RUNTIME;
    } else {
        DIR *d = opendir(runtime_base());
        struct dirent *de;
        while (d && (de = readdir(d))) {
            char err[VALUE_ERR_MAX];
            if (de->d_type != DT_DIR || schema_check_vm_name(de->d_name, err) < 0) continue;
            int r = runtime_cleanup(de->d_name);
            if (r < 0 && r != -EBUSY) rc = EXIT_RUNTIME;
            else if (r == 0) log_info("%s: runtime dir removed", de->d_name);
        }
        if (d) closedir(d);
    }
    HostRoot hr = HOSTROOT_INIT;
    if (hostroot_open(&hr) < 0) return EXIT_RUNTIME;
    /* A dead VM's knobs go back unless a running VM still relies on them. */
    if ((name && hostplan_restore(&hr, name) < 0) || hostplan_replay_dead(&hr) < 0) rc = EXIT_RUNTIME;
    if ((name && hostnic_offloads_restore(&hr, name) < 0) || hostnic_offloads_replay_dead(&hr) < 0) rc = EXIT_RUNTIME;
    if (cpuclaim_release(name) < 0) rc = EXIT_RUNTIME;
    CgroupLayout cgl;
    memset(&cgl, 0, sizeof(cgl));
    if (name && cgroup_detect(&hr, &cgl) == 0 && cgl.version != CGROUP_NONE && cgroup_cleanup(&hr, &cgl, name) < 0) rc = EXIT_RUNTIME;
    cgroup_layout_free(&cgl);
    hostroot_close(&hr);
    if (rc == EXIT_OK) log_info("%s: nothing is left", name ? name : "all stopped VMs");
    return rc;
}

static char *read_text(const char *path) {
    FILE *f = fopen(path, "re");
    if (!f) return NULL;
    char *buf = xcalloc(1, 4096);
    size_t n = fread(buf, 1, 4095, f);
    fclose(f);
    buf[n] = 0;
    return buf;
}

/* "Cpus_allowed_list:\t0-1" from /proc/.../status. */
static char *status_field(const char *status, const char *field) {
    const char *p = status;
    size_t fl = strlen(field);
    while (p && *p) {
        if (!strncmp(p, field, fl) && p[fl] == ':') {
            p += fl + 1;
            while (*p == ' ' || *p == '\t') p++;
            return xstrndup(p, strcspn(p, "\n"));
        }
        p = strchr(p, '\n');
        if (p) p++;
    }
    return xstrdup("?");
}

/* Field 39 of /proc/PID/task/TID/stat: the CPU it last ran on. */
static int last_cpu(const char *stat) {
    const char *p = stat ? strrchr(stat, ')') : NULL;
    if (!p) return -1;
    int field = 2;
    for (p++; *p && field < 39; p++)
        if (*p == ' ') field++;
    return atoi(p);
}

static json_object *query_status(const char *name) {
    _cleanup_free_ char *path = xasprintf("%s/%s/qmp.sock", runtime_base(), name);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        if (fd >= 0) close(fd);
        return NULL;
    }
    QmpClient q;
    qmp_init(&q, fd);
    json_object *ret = NULL;
    if (qmp_handshake(&q, 5000) < 0 || qmp_execute(&q, "query-status", NULL, &ret, 5000) < 0) ret = NULL;
    qmp_close(&q);
    return ret;
}

int cmd_status(const char *name, bool json) {
    if (check_name(name) < 0) return EXIT_CONFIG;
    pid_t sup = 0, qemu = 0;
    if (runtime_query(name, &sup, &qemu) != 1 || qemu <= 0) {
        log_error("%s is not running", name);
        return EXIT_RUNTIME;
    }
    json_object *out = json_object_new_object();
    json_object_object_add(out, "name", json_object_new_string(name));
    json_object_object_add(out, "kvmlaunch_pid", json_object_new_int(sup));
    json_object_object_add(out, "qemu_pid", json_object_new_int(qemu));
    json_object *st = query_status(name), *v;
    const char *state = st && json_object_object_get_ex(st, "status", &v) ? json_object_get_string(v) : "unknown";
    json_object_object_add(out, "state", json_object_new_string(state));

    /* Uptime from the process start time (clock ticks after boot). */
    _cleanup_free_ char *spath = xasprintf("/proc/%ld/stat", (long)qemu);
    _cleanup_free_ char *stat = read_text(spath);
    _cleanup_free_ char *uptime = read_text("/proc/uptime");
    if (stat && uptime) {
        const char *p = strrchr(stat, ')');
        int field = 2;
        for (p = p ? p + 1 : stat; *p && field < 22; p++)
            if (*p == ' ') field++;
        double started = strtod(p, NULL) / (double)sysconf(_SC_CLK_TCK);
        json_object_object_add(out, "uptime_s", json_object_new_int64((int64_t)(strtod(uptime, NULL) - started)));
    }
    json_object *vcpus = json_object_new_array();
    _cleanup_free_ char *tpath = xasprintf("/proc/%ld/task", (long)qemu);
    DIR *d = opendir(tpath);
    struct dirent *de;
    while (d && (de = readdir(d))) {
        if (!isdigit((unsigned char)de->d_name[0])) continue;
        _cleanup_free_ char *cpath = xasprintf("%s/%s/comm", tpath, de->d_name);
        _cleanup_free_ char *comm = read_text(cpath);
        int index;
        /* debug-threads=on names vCPU threads "CPU N/KVM" or "CPU N/TCG". */
        if (!comm || sscanf(comm, "CPU %d/", &index) != 1) continue;
        _cleanup_free_ char *stpath = xasprintf("%s/%s/status", tpath, de->d_name);
        _cleanup_free_ char *tstatus = read_text(stpath);
        _cleanup_free_ char *tsp = xasprintf("%s/%s/stat", tpath, de->d_name);
        _cleanup_free_ char *tstat = read_text(tsp);
        _cleanup_free_ char *allowed = status_field(tstatus, "Cpus_allowed_list");
        json_object *c = json_object_new_object();
        json_object_object_add(c, "vcpu", json_object_new_int(index));
        json_object_object_add(c, "tid", json_object_new_int(atoi(de->d_name)));
        json_object_object_add(c, "allowed_cpus", json_object_new_string(allowed));
        json_object_object_add(c, "last_cpu", json_object_new_int(last_cpu(tstat)));
        json_object_array_add(vcpus, c);
    }
    if (d) closedir(d);
    json_object_object_add(out, "vcpus", vcpus);
    if (json) {
        printf("%s\n", json_object_to_json_string_ext(out, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
    } else {
        json_object *u = json_object_object_get(out, "uptime_s");
        printf("%s: %s, kvmlaunch pid %ld, QEMU pid %ld, up %llds\n", name, state, (long)sup, (long)qemu,
               u ? (long long)json_object_get_int64(u) : -1LL);
        for (size_t i = 0; i < json_object_array_length(vcpus); i++) {
            json_object *c = json_object_array_get_idx(vcpus, i);
            printf("  vcpu%d  tid %d  allowed %s  last cpu %d\n", json_object_get_int(json_object_object_get(c, "vcpu")),
                   json_object_get_int(json_object_object_get(c, "tid")), json_object_get_string(json_object_object_get(c, "allowed_cpus")),
                   json_object_get_int(json_object_object_get(c, "last_cpu")));
        }
    }
    json_object_put(st);
    json_object_put(out);
    return EXIT_OK;
}
