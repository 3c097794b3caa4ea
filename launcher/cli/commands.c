/* list, status, stop, cleanup: they read the runtime dirs, /proc, and the
 * status monitor; none of them needs the VM's vm.ini. What status reports
 * is gathered in vmstatus.c. */
#include "commands.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "cgroup.h"
#include "exitcode.h"
#include "cpuclaim.h"
#include "hostnic.h"
#include "hostdev.h"
#include "hostplan.h"
#include "log.h"
#include "runtime.h"
#include "schema.h"
#include "supervise.h"
#include "util.h"
#include "vmstatus.h"

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
    /* [vm] guest-agent: a guest that ignores the power-down is asked
     * through its agent before the supervisor quits QEMU (agent.h). */
    _cleanup_free_ char *dir = xasprintf("%s/%s", runtime_base(), name);
    _cleanup_close_ int dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    int delay = dir_fd >= 0 ? agent_stop_delay_ms(dir_fd) : -1;
    int64_t agent_at = delay >= 0 ? monotonic_ms() + delay : 0;
    while (monotonic_ms() < until) {
        if (runtime_query(name, NULL, NULL) != 1) {
            log_info("%s stopped", name);
            return EXIT_OK;
        }
        if (agent_at && monotonic_ms() >= agent_at) {
            agent_at = 0;
            (void)agent_stop_try(name, dir, dir_fd);
        }
        usleep(10 * 1000); /* 100 ms made every stop look 50 ms slower (docs/BENCHMARKS.md) */
    }
    log_error("%s did not stop within %ds", name, STOP_WAIT_MS / 1000);
    return EXIT_RUNTIME;
}

/* A VM that holds its lock but whose pid file cannot be read yet counts as
 * running, as the journal counts it (journal_vm_gone). */
static bool vm_running(const char *name) { return runtime_query(name, NULL, NULL) != 0; }

/* NAME's runtime dir, the host knobs it relied on and its cgroups; NULL:
 * every VM that is not running. */
int cmd_cleanup(const char *name) {
    if (name && check_name(name) < 0) return EXIT_CONFIG;
    int rc = EXIT_OK;
    /* NAME's lock is held until all of it is done: a start of NAME in
     * between would otherwise lose its knobs, claims and cgroups to us. */
    Runtime rt = RUNTIME_INIT;
    if (name) {
        int r = runtime_acquire(name, &rt, NULL);
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
    if (hostroot_open(&hr) < 0) {
        runtime_release(&rt);
        return EXIT_RUNTIME;
    }
    /* A dead VM's knobs go back unless a running VM still relies on them. */
    if (name && hostplan_restore(&hr, name) < 0) rc = EXIT_RUNTIME;
    if (hostplan_replay_dead(&hr) < 0) rc = EXIT_RUNTIME;
    if (name && hostnic_offloads_restore(&hr, name) < 0) rc = EXIT_RUNTIME;
    if (hostnic_offloads_replay_dead(&hr) < 0) rc = EXIT_RUNTIME;
    if (name && hostdev_restore(&hr, name) < 0) rc = EXIT_RUNTIME;
    if (hostdev_replay_dead(&hr) < 0) rc = EXIT_RUNTIME;
    if (cpuclaim_release(name) < 0) rc = EXIT_RUNTIME;
    /* The cgroups of a dead VM too (kvmlaunch/ itself stays). */
    CgroupLayout cgl;
    memset(&cgl, 0, sizeof(cgl));
    /* First where each run recorded its tree (nested under the cgroup it
     * ran in, which this process need not share), then what detect sees. */
    if (cgroup_record_release(&hr, name) < 0) rc = EXIT_RUNTIME;
    if (cgroup_detect(&hr, &cgl) == 0 && cgl.version != CGROUP_NONE &&
        (name ? cgroup_cleanup(&hr, &cgl, name) : cgroup_cleanup_dead(&hr, &cgl, vm_running)) < 0)
        rc = EXIT_RUNTIME;
    cgroup_layout_free(&cgl);
    hostroot_close(&hr);
    runtime_release(&rt);
    if (rc == EXIT_OK) log_info("%s: nothing is left", name ? name : "all stopped VMs");
    return rc;
}

int cmd_status(const char *name, bool json) {
    if (check_name(name) < 0) return EXIT_CONFIG;
    pid_t sup = 0, qemu = 0;
    if (runtime_query(name, &sup, &qemu) != 1 || qemu <= 0) {
        log_error("%s is not running", name);
        return EXIT_RUNTIME;
    }
    json_object *report = NULL;
    if (vmstatus_collect(name, sup, qemu, &report) < 0) return EXIT_RUNTIME;
    if (json) {
        printf("%s\n", json_object_to_json_string_ext(report, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
    } else {
        _cleanup_free_ char *text = vmstatus_render(report);
        fputs(text, stdout);
    }
    json_object_put(report);
    return EXIT_OK;
}
