/* The boot timeline of a run (include/boottime.h): the supervisor's view of
 * the guest coming up, kept in RUNDIR/boot.json for status and metrics. */
#include "boottime.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "runtime.h"
#include "supervise.h"
#include "util.h"

/* Replaced by rename: a reader sees the old timeline or the new one. */
static void save(const BootTimeline *b) {
    if (b->dir_fd < 0) return;
    static const char tmp[] = BOOT_STATE_FILE ".tmp";
    json_object *o = boottime_json(b);
    const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    size_t len = strlen(text);
    unlinkat(b->dir_fd, tmp, 0);
    int fd = openat(b->dir_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
    bool ok = fd >= 0 && write(fd, text, len) == (ssize_t)len && write(fd, "\n", 1) == 1;
    if (fd >= 0) close(fd);
    if (ok && renameat(b->dir_fd, tmp, b->dir_fd, BOOT_STATE_FILE) == 0) {
        json_object_put(o);
        return;
    }
    /* The timeline is for people and scrapers; the VM runs on without it. */
    log_debug("the boot timeline could not be written: %s", strerror(errno));
    unlinkat(b->dir_fd, tmp, 0);
    json_object_put(o);
}

void boottime_init(BootTimeline *b, const VmConfig *cfg, int64_t start_us, int64_t qmp_us, int64_t cont_us, bool relayed, int dir_fd) {
    *b = (BootTimeline){ .start_us = start_us, .qmp_us = qmp_us, .cont_us = cont_us, .relayed = relayed, .dir_fd = dir_fd,
                         .budget_ms = cfg->vm.boot_budget_ms, .action = cfg->vm.boot_budget_action };
    save(b);
}

static double ms_of(const BootTimeline *b, int64_t us) { return (double)(us - b->start_us) / 1000.0; }

static void init_seen(BootTimeline *b) {
    b->init_us = monotonic_us();
    double ms = ms_of(b, b->init_us);
    log_debug("boot: QMP up %.1f ms, cont %.1f ms, first serial byte %.1f ms, init %.1f ms (from kvmlaunch's start)", ms_of(b, b->qmp_us),
              ms_of(b, b->cont_us), ms_of(b, b->serial_us), ms);
    if (b->budget_ms && ms > (double)b->budget_ms) b->budget_missed = true;
    save(b);
}

/* Whether MARK is in the output, allowing for it to be split across reads. */
static bool find_mark(const BootTimeline *b, const char *data, size_t n, const char *mark) {
    size_t m = strlen(mark);
    if (memmem(data, n, mark, m)) return true;
    char joint[2 * sizeof(b->tail)];
    size_t take = n < m - 1 ? n : m - 1;
    memcpy(joint, b->tail, b->tail_len);
    memcpy(joint + b->tail_len, data, take);
    return memmem(joint, b->tail_len + take, mark, m) != NULL;
}

void boottime_output(void *arg, const char *data, size_t n) {
    BootTimeline *b = arg;
    if (!n || b->init_us) return;
    if (!b->serial_us) {
        b->serial_us = monotonic_us();
        save(b);
    }
    if (find_mark(b, data, n, BOOT_INIT_MARK) || find_mark(b, data, n, BOOT_READY_MARK)) {
        init_seen(b);
        return;
    }
    /* Keep the last bytes of the output (tail, then data). */
    size_t keep = sizeof(b->tail) - 1;
    if (n >= keep) {
        memcpy(b->tail, data + n - keep, keep);
        b->tail_len = keep;
    } else {
        size_t old = b->tail_len + n > keep ? keep - n : b->tail_len;
        memmove(b->tail, b->tail + b->tail_len - old, old);
        memcpy(b->tail + old, data, n);
        b->tail_len = old + n;
    }
}

int64_t boottime_deadline_ms(const BootTimeline *b) {
    if (!b->budget_ms || b->init_us || b->budget_told) return -1;
    return b->start_us / 1000 + (int64_t)b->budget_ms;
}

bool boottime_budget_passed(BootTimeline *b) {
    b->budget_told = true;
    b->budget_missed = true;
    save(b);
    double budget = (double)b->budget_ms / 1000.0;
    if (b->action == BOOT_BUDGET_FAIL) {
        log_error("the guest did not reach its init within its boot-budget of %gs: stopping it", budget);
        return true;
    }
    log_warning("the guest did not reach its init within its boot-budget of %gs", budget);
    return false;
}

/* A tenth of a ms, written as such: json-c would print a double's 17 digits. */
static json_object *ms_or_null(const BootTimeline *b, int64_t us) {
    if (!us) return NULL;
    double ms = (double)((us - b->start_us) / 100) / 10.0;
    char text[32];
    snprintf(text, sizeof(text), "%.1f", ms);
    return json_object_new_double_s(ms, text);
}

json_object *boottime_json(const BootTimeline *b) {
    json_object *o = json_object_new_object();
    json_object_object_add(o, "qmp_ms", ms_or_null(b, b->qmp_us));
    json_object_object_add(o, "cont_ms", ms_or_null(b, b->cont_us));
    json_object_object_add(o, "first_serial_ms", ms_or_null(b, b->serial_us));
    json_object_object_add(o, "init_ms", ms_or_null(b, b->init_us));
    /* serial = none: kvmlaunch never sees the console, and the last two
     * stay null for the whole run. */
    json_object_object_add(o, "console", json_object_new_string(b->relayed ? "seen" : "not seen (serial = none)"));
    json_object_object_add(o, "budget_ms", b->budget_ms ? json_object_new_int64((int64_t)b->budget_ms) : NULL);
    json_object_object_add(o, "budget_missed", json_object_new_boolean(b->budget_missed));
    return o;
}

json_object *boottime_load(const char *name) {
    _cleanup_free_ char *path = xasprintf("%s/%s/%s", runtime_base(), name, BOOT_STATE_FILE);
    json_object *o = json_object_from_file(path);
    if (o && !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        return NULL;
    }
    return o;
}
