/* Removing a VM's cgroups and giving cpuset back (include/cgroup.h). */
#include "cgroup-internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "util.h"

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
        r = hostroot_rmdir(hr, path);
        if (r == 0 || r == -ENOENT) return 0;
        if (r != -EBUSY) break;
    }
    if (r == -EBUSY)
        return log_error_errno(r, "Failed to remove the cgroup %s: %m (threads are still in it after %d ms)", path,
                               CGROUP_RMDIR_TRIES * CGROUP_RMDIR_DELAY_MS);
    return log_error_errno(r, "Failed to remove the cgroup %s: %m", path);
}

/* Nothing is recursed into deeper than the children: rmdir never takes a
 * cgroup that still has children or threads. */
int cg_remove_vm_dir(const HostRoot *hr, const char *dir) {
    StrVec sub = STRVEC_INIT;
    int r = hostroot_list(hr, dir, true, &sub);
    if (r == -ENOENT) return 0;
    if (r < 0) return log_error_errno(r, "Failed to list the cgroup %s: %m", dir);
    for (size_t i = 0; i < sub.n; i++) {
        _cleanup_free_ char *child = cg_path_join(dir, sub.v[i]);
        int k = rmdir_retry(hr, child);
        if (k < 0 && r == 0) r = k;
    }
    strvec_clear(&sub);
    /* A child that stayed keeps the dir busy: no point waiting on it. */
    return r < 0 ? r : rmdir_retry(hr, dir);
}

bool cg_remove_top(const HostRoot *hr, const char *top) {
    int r = hostroot_rmdir(hr, top);
    if (r == 0 || r == -ENOENT) return true;
    /* EBUSY/ENOTEMPTY: another VM's dir is in it; it goes with the last. */
    if (r != -EBUSY && r != -ENOTEMPTY) log_warning_errno(r, "Failed to remove the cgroup %s: %m", top);
    return false;
}

/* Whether DIR holds a thread: v2's cgroup.events says so for the whole
 * subtree; v1's tasks and either version's cgroup.procs and cgroup.threads
 * name them (a file the hierarchy lacks reads as empty). */
static bool has_threads(const HostRoot *hr, const char *dir) {
    static const char *const files[] = { "tasks", "cgroup.procs", "cgroup.threads" };
    _cleanup_free_ char *events = cg_read_or_empty(hr, dir, "cgroup.events");
    if (strstr(events, "populated 1")) return true;
    for (size_t i = 0; i < ELEMENTSOF(files); i++) {
        _cleanup_free_ char *text = cg_read_or_empty(hr, dir, files[i]);
        if (cg_text_set(text)) return true;
    }
    return false;
}

bool cg_dir_in_use(const HostRoot *hr, const char *dir) {
    if (has_threads(hr, dir)) return true;
    StrVec sub = STRVEC_INIT;
    int r = hostroot_list(hr, dir, true, &sub);
    bool used = r < 0 && r != -ENOENT; /* what cannot be seen may be in use */
    for (size_t i = 0; i < sub.n && !used; i++) {
        _cleanup_free_ char *child = cg_path_join(dir, sub.v[i]);
        used = has_threads(hr, child);
    }
    strvec_clear(&sub);
    return used;
}

/* Whether a child of DIR uses cpuset; *who names it. */
static bool cpuset_in_use(const HostRoot *hr, const char *dir, char **who) {
    StrVec sub = STRVEC_INIT;
    bool used = false;
    if (hostroot_list(hr, dir, true, &sub) < 0) {
        *who = xstrdup("(its children could not be listed)");
        return true;
    }
    for (size_t i = 0; i < sub.n && !used; i++) {
        _cleanup_free_ char *child = cg_path_join(dir, sub.v[i]);
        _cleanup_free_ char *ctl = cg_read_or_empty(hr, child, "cgroup.subtree_control");
        _cleanup_free_ char *cpus = cg_read_or_empty(hr, child, "cpuset.cpus"), *mems = cg_read_or_empty(hr, child, "cpuset.mems");
        used = cgroup_list_has(ctl, "cpuset") || cg_text_set(cpus) || cg_text_set(mems);
        if (used) *who = TAKE_PTR(child);
    }
    strvec_clear(&sub);
    return used;
}

int cgroup_release_cpuset(const HostRoot *hr, const char *dir) {
    _cleanup_free_ char *path = cg_path_join(dir, "cgroup.subtree_control"), *text = NULL;
    int r = hostroot_read(hr, path, &text);
    if (r == -ENOENT) return 0;
    if (r < 0) return log_error_errno(r, "Failed to read %s: %m", path);
    if (!cgroup_list_has(text, "cpuset")) return 0;
    _cleanup_free_ char *who = NULL;
    if (cpuset_in_use(hr, dir, &who)) {
        log_info("cpuset stays enabled in %s: %s uses it", path, who);
        return 0;
    }
    r = hostroot_write(hr, path, "-cpuset");
    /* A VM that turned cpuset on in its own dir just now: still in use. */
    if (r == -EBUSY) log_info("cpuset stays enabled in %s: a child took it up meanwhile", path);
    else if (r < 0) return log_error_errno(r, "Failed to write -cpuset to %s: %m", path);
    return 0;
}

void cgroup_vm_free(CgroupVm *vm) {
    for (size_t i = 0; i < vm->n_enabled; i++) free(vm->enabled[i].path);
    free(vm->enabled);
    free(vm->top);
    free(vm->dir);
    memset(vm, 0, sizeof(*vm));
}
