/* Crash and reboot policy (include/crashpolicy.h): the pure decisions
 * first, then the few QMP commands of a reset and the state file. */
#include "crashpolicy.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "runtime.h"
#include "schema.h"
#include "util.h"
#include "vmlive.h"

/* Each command of a reset must not stall the supervisor's loop. */
#define CRASH_QMP_TIMEOUT_MS 1000
/* system_reset is done by QEMU's main loop, which then sends RESET; cont
 * is sent without it after this long. */
#define CONT_WAIT_MS 5000
/* SeaBIOS resets the machine within its first instructions; a guest
 * slower than this even under TCG on a loaded host has never been seen. */
#define FIRMWARE_RESET_WAIT_MS 30000

void crashwatch_init(CrashWatch *w, const VmSection *vm, int rundir_fd) {
    memset(w, 0, sizeof(*w));
    w->vm = vm;
    w->rundir_fd = rundir_fd;
    /* A model not loaded from a file (a test's) has no limit: 0, no reset. */
    w->ring_cap = vm->restart_limit.count > 0 ? (size_t)vm->restart_limit.count : 1;
    w->reset_ms = xmalloc(w->ring_cap * sizeof(*w->reset_ms));
}

void crashwatch_free(CrashWatch *w) {
    free(w->reset_ms);
    w->reset_ms = NULL;
}

/* ------------------------------------------------------------------ */
/* Pure                                                                */

Trouble crashpolicy_trouble(json_object *event) {
    const char *name = qmp_event_name(event);
    if (streq(name, "GUEST_PANICKED")) return TROUBLE_PANIC;
    if (streq(name, "WATCHDOG")) return TROUBLE_WATCHDOG;
    return TROUBLE_NONE;
}

const char *crashpolicy_trouble_name(Trouble t) {
    switch (t) {
    case TROUBLE_PANIC: return "panic";
    case TROUBLE_WATCHDOG: return "watchdog";
    case TROUBLE_NONE: break;
    }
    return NULL;
}

/* Resets in the ring within the window that ends at NOW_MS. */
static size_t resets_within(const CrashWatch *w, int64_t now_ms) {
    size_t n = 0;
    for (size_t i = 0; i < w->ring_n; i++)
        if (now_ms - w->reset_ms[i] < (int64_t)w->vm->restart_limit.window_ms) n++;
    return n;
}

static CrashDecision reset_or_limit(CrashWatch *w, Trouble t, int64_t now_ms) {
    if (w->vm->restart_limit.count <= 0 || resets_within(w, now_ms) >= (size_t)w->vm->restart_limit.count) return CRASH_LIMIT;
    /* Only the last COUNT resets can decide the next: older ones are
     * overwritten. */
    w->reset_ms[w->ring_next] = now_ms;
    w->ring_next = (w->ring_next + 1) % w->ring_cap;
    if (w->ring_n < w->ring_cap) w->ring_n++;
    w->restarts++;
    w->last = t;
    return CRASH_RESET;
}

CrashDecision crashpolicy_decide(CrashWatch *w, Trouble t, int64_t now_ms) {
    const VmSection *vm = w->vm;
    if (t == TROUBLE_PANIC) {
        switch (vm->on_crash) {
        case ON_CRASH_RESTART: return reset_or_limit(w, t, now_ms);
        case ON_CRASH_PAUSE: return CRASH_HOLD;
        default: return CRASH_STOP;
        }
    }
    if (t == TROUBLE_WATCHDOG) {
        switch (vm->watchdog_action) {
        case WATCHDOG_DO_RESET: return reset_or_limit(w, t, now_ms);
        case WATCHDOG_DO_PAUSE: return CRASH_HOLD;
        case WATCHDOG_DO_POWEROFF: return CRASH_STOP;
        default: return CRASH_IGNORE;
        }
    }
    return CRASH_IGNORE;
}

char *crashpolicy_limit_text(const RestartLimit *l) {
    static const struct { uint64_t ms; const char *unit; } units[] = { { 3600000, "h" }, { 60000, "m" }, { 1000, "s" }, { 1, "ms" } };
    for (size_t i = 0; i < ELEMENTSOF(units); i++)
        if (l->window_ms % units[i].ms == 0)
            return xasprintf("%lld/%llu%s", (long long)l->count, (unsigned long long)(l->window_ms / units[i].ms), units[i].unit);
    return xasprintf("%lld/%llums", (long long)l->count, (unsigned long long)l->window_ms);
}

char *crashpolicy_qemu_action(const VmSection *vm) {
    /* QEMU's words: RebootAction reset|shutdown, PanicAction pause,
     * WatchdogAction pause|none (QAPI run-state.json). */
    const char *reboot = vm->on_reboot == ON_REBOOT_STOP ? "shutdown" : "reset";
    if (vm->watchdog == WATCHDOG_NONE) return xasprintf("reboot=%s,panic=pause", reboot);
    return xasprintf("reboot=%s,panic=pause,watchdog=%s", reboot, vm->watchdog_action == WATCHDOG_DO_NONE ? "none" : "pause");
}

json_object *crashpolicy_state_json(const CrashWatch *w) {
    json_object *o = json_object_new_object();
    const char *reason = crashpolicy_trouble_name(w->last);
    json_object_object_add(o, "count", json_object_new_uint64(w->restarts));
    json_object_object_add(o, "last_reason", reason ? json_object_new_string(reason) : NULL);
    json_object_object_add(o, "last_time", w->restarts ? json_object_new_int64(w->last_time) : NULL);
    return o;
}

/* ------------------------------------------------------------------ */
/* The supervisor's side                                               */

static int set_reboot_action(QmpClient *q, const char *action) {
    json_object *args = json_object_new_object();
    json_object_object_add(args, "reboot", json_object_new_string(action));
    int r = qmp_execute(q, "set-action", args, NULL, CRASH_QMP_TIMEOUT_MS);
    if (r < 0) log_error("set-action reboot=%s failed: %s", action, q->error ? q->error : "no answer");
    return r;
}

int crashwatch_reset(CrashWatch *w, QmpClient *q, int64_t now_ms) {
    if (!q) return log_error_errno(-ENOTCONN, "cannot reset the guest: QEMU's monitor is closed");
    bool stop_on_reboot = w->vm->on_reboot == ON_REBOOT_STOP;
    /* reboot=shutdown would make this reset a shutdown as well: QEMU reads
     * the action when the request is made. */
    int r = stop_on_reboot && !w->reboot_pending ? set_reboot_action(q, "reset") : 0;
    if (r == 0 && (r = qmp_execute(q, "system_reset", NULL, NULL, CRASH_QMP_TIMEOUT_MS)) < 0)
        log_error("system_reset failed: %s", q->error ? q->error : "no answer");
    if (r < 0) {
        /* A guest reboot must still end it. */
        if (stop_on_reboot) set_reboot_action(q, "shutdown");
        w->reboot_pending = false;
        return r;
    }
    w->cont_pending = true;
    w->cont_at_ms = now_ms + CONT_WAIT_MS;
    if (stop_on_reboot && !w->vm->firmware) {
        /* SeaBIOS's own reset comes as soon as it runs. */
        w->reboot_pending = true;
        w->reboot_at_ms = now_ms + FIRMWARE_RESET_WAIT_MS;
    } else if (stop_on_reboot && (r = set_reboot_action(q, "shutdown")) < 0) {
        return r;
    }
    return 0;
}

static int do_cont(CrashWatch *w, QmpClient *q) {
    w->cont_pending = false;
    if (!q) return log_error_errno(-ENOTCONN, "cannot resume the guest: QEMU's monitor is closed");
    if (qmp_execute(q, "cont", NULL, NULL, CRASH_QMP_TIMEOUT_MS) < 0) {
        log_error("cont after the reset failed: %s", q->error ? q->error : "no answer");
        return -EIO;
    }
    return 0;
}

static int restore_reboot(CrashWatch *w, QmpClient *q) {
    w->reboot_pending = false;
    if (!q) return log_error_errno(-ENOTCONN, "cannot set on-reboot = stop again: QEMU's monitor is closed");
    return set_reboot_action(q, "shutdown");
}

int crashwatch_event(CrashWatch *w, QmpClient *q, json_object *event) {
    if (!streq(qmp_event_name(event), "RESET")) return 0;
    /* Ours (host-qmp-system-reset) is done: the guest may run. */
    if (w->cont_pending) return do_cont(w, q);
    json_object *data = json_object_object_get(event, "data"), *guest;
    if (w->reboot_pending && json_object_object_get_ex(data, "guest", &guest) && json_object_get_boolean(guest)) return restore_reboot(w, q);
    return 0;
}

int64_t crashwatch_tick(CrashWatch *w, QmpClient *q, int64_t now_ms, int64_t next, int *error) {
    *error = 0;
    if (w->cont_pending && now_ms >= w->cont_at_ms) {
        log_warning("QEMU did not report the reset: resuming the guest anyway");
        *error = do_cont(w, q);
    }
    if (*error == 0 && w->reboot_pending && !w->cont_pending && now_ms >= w->reboot_at_ms) *error = restore_reboot(w, q);
    if (w->cont_pending && (next < 0 || w->cont_at_ms < next)) next = w->cont_at_ms;
    if (w->reboot_pending && (next < 0 || w->reboot_at_ms < next)) next = w->reboot_at_ms;
    return next;
}

int crashwatch_save(const CrashWatch *w) {
    if (w->rundir_fd < 0) return 0;
    json_object *o = crashpolicy_state_json(w);
    int r = vmlive_save_file(w->rundir_fd, CRASH_STATE_FILE, o);
    json_object_put(o);
    return r;
}

json_object *crashpolicy_read_state(const char *name) {
    _cleanup_free_ char *dir = xasprintf("%s/%s", runtime_base(), name);
    _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    json_object *o = fd >= 0 ? vmlive_load_file(fd, CRASH_STATE_FILE) : NULL;
    json_object *out = json_object_new_object(), *v;
    /* Absent (no reset yet) or unreadable (said): no reset known. */
    json_object_object_add(out, "count", json_object_object_get_ex(o, "count", &v) && json_object_is_type(v, json_type_int)
                                             ? json_object_get(v) : json_object_new_int(0));
    json_object_object_add(out, "last_reason", json_object_object_get_ex(o, "last_reason", &v) && json_object_is_type(v, json_type_string)
                                                   ? json_object_get(v) : NULL);
    json_object_object_add(out, "last_time", json_object_object_get_ex(o, "last_time", &v) && json_object_is_type(v, json_type_int)
                                                 ? json_object_get(v) : NULL);
    json_object_put(o);
    return out;
}
