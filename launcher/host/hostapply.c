/* Applying a host plan and putting the host back (include/hostplan.h).
 *
 * Host-wide knobs are shared: two VMs may both want THP = never. Each knob
 * is a record of the journal (include/journal.h) in BASE/host.state: its
 * original value, the value set, and the VMs relying on it, saved before
 * the knob changes, so a crash of kvmlaunch leaves enough to put the host
 * back; a knob returns to its original value when the last VM relying on
 * it is gone. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hostplan.h"
#include "log.h"
#include "journal.h"
#include "util.h"

/* Growing a pool by this many pages or more is done in steps, with progress. */
#define POOL_PROGRESS_MIN_PAGES 1024

/* Writes VALUE into PATH; with a prep knob, writes prep_value first and
 * puts the prep knob back to what it was afterwards. */
static int write_knob(const HostRoot *hr, const char *path, const char *value, const char *prep_path, const char *prep_value) {
    _cleanup_free_ char *prep_was = NULL;
    if (prep_path) {
        int r = hostroot_read(hr, prep_path, &prep_was);
        if (r < 0) return log_error_errno(r, "Failed to read %s: %m", prep_path);
        prep_was[strcspn(prep_was, "\n")] = '\0';
        r = hostroot_write(hr, prep_path, prep_value);
        if (r < 0) return log_error_errno(r, "Failed to write %s to %s: %m", prep_value, prep_path);
    }
    int r = hostroot_write(hr, path, value);
    if (r < 0) log_error_errno(r, "Failed to write %s to %s: %m", value, path);
    if (prep_path) {
        int r2 = hostroot_write(hr, prep_path, prep_was);
        if (r2 < 0) log_error_errno(r2, "Failed to put %s back to %s: %m", prep_path, prep_was);
    }
    return r;
}

/* Growing a huge-page pool may get fewer pages than asked when memory is
 * fragmented: the kernel then compacts memory and the write is tried once
 * more; still short is a failure with the numbers. */
static uint64_t read_count(const HostRoot *hr, const char *path) {
    _cleanup_free_ char *text = NULL;
    return hostroot_read(hr, path, &text) < 0 ? 0 : strtoull(text, NULL, 10);
}

/* Thousands of pages take the kernel seconds to find (zeroing, maybe
 * compacting): grow in tenths and say how far it got, so a slow start reads
 * as progress, not as a hang. */
static void grow_pool_in_steps(const HostRoot *hr, const char *path, uint64_t asked) {
    uint64_t start = read_count(hr, path);
    if (asked <= start || asked - start < POOL_PROGRESS_MIN_PAGES) return;
    uint64_t span = asked - start;
    for (int i = 1; i < 10; i++) {
        char step[32];
        snprintf(step, sizeof(step), "%" PRIu64, start + span * (uint64_t)i / 10);
        if (hostroot_write(hr, path, step) < 0) return;
        uint64_t have = read_count(hr, path);
        log_info("%s: reserving %" PRIu64 " huge pages: %" PRIu64 "%% (%" PRIu64 " now)", path, span,
                 have > start ? (have - start) * 100 / span : 0, have);
    }
}

static int grow_pool(const HostRoot *hr, const char *path, const char *want) {
    uint64_t asked = strtoull(want, NULL, 10);
    grow_pool_in_steps(hr, path, asked);
    int r = hostroot_write(hr, path, want);
    if (r < 0) return log_error_errno(r, "Failed to write %s to %s: %m", want, path);
    for (int attempt = 0;; attempt++) {
        _cleanup_free_ char *got = NULL;
        r = hostroot_read(hr, path, &got);
        if (r < 0) return log_error_errno(r, "Failed to read %s back: %m", path);
        uint64_t have = strtoull(got, NULL, 10);
        if (have >= asked) {
            if (attempt) log_info("%s: %" PRIu64 " huge pages after compacting: 100%%", path, have);
            return 0;
        }
        if (attempt == 1)
            return log_error_errno(-ENOMEM, "%s: asked for %" PRIu64 " huge pages, the kernel found %" PRIu64 " even after compacting memory",
                                   path, asked, have);
        log_notice("%s: %" PRIu64 " of %" PRIu64 " huge pages; compacting memory and trying again", path, have, asked);
        hostroot_write(hr, "/proc/sys/vm/compact_memory", "1");
        r = hostroot_write(hr, path, want);
        if (r < 0) return log_error_errno(r, "Failed to write %s to %s: %m", want, path);
    }
}

/* The journal's restore callback: CTX is the HostRoot. */
static int knob_restore(json_object *k, const void *ctx) {
    const char *path = journal_str(k, "path"), *orig = journal_str(k, "original");
    if (!path || !orig) return JOURNAL_RESTORED;
    int r = write_knob(ctx, path, orig, journal_str(k, "prep_path"), journal_str(k, "prep_value"));
    if (r < 0) return r;
    log_info("restored %s to %s", path, orig);
    return JOURNAL_RESTORED;
}

int hostplan_replay_dead(const HostRoot *hr) {
    return journal_release(HOSTPLAN_STATE_FILE, HOSTPLAN_STATE_KEY, true, NULL, knob_restore, hr);
}

int hostplan_restore(const HostRoot *hr, const char *name) {
    return journal_release(HOSTPLAN_STATE_FILE, HOSTPLAN_STATE_KEY, true, name, knob_restore, hr);
}

/* A pool another VM grew: grow it by this VM's share from where it is. */
static int join_pool(Journal *j, json_object *k, const HostRoot *hr, const char *name, const HostChange *c) {
    _cleanup_free_ char *now = NULL;
    int r = hostroot_read(hr, c->path, &now);
    if (r < 0) return log_error_errno(r, "Failed to read %s: %m", c->path);
    char num[32];
    snprintf(num, sizeof(num), "%" PRIu64, (uint64_t)strtoull(now, NULL, 10) + c->add);
    journal_add_user(k, name);
    json_object_object_add(k, "value", json_object_new_string(num));
    r = journal_save(j);
    return r < 0 ? r : grow_pool(hr, c->path, num);
}

/* A knob already recorded: NAME relies on it too when it wants the value
 * set. Another value is refused while a VM relying on it runs; when only
 * VMs that are gone do (its restore failed), this VM takes it over and the
 * recorded original stays. */
static int join_knob(Journal *j, json_object *k, const HostRoot *hr, const char *name, const HostChange *c) {
    _cleanup_free_ char *set = xstrdup(journal_str(k, "value") ? journal_str(k, "value") : c->new);
    journal_add_user(k, name);
    if (streq(set, c->new)) return journal_save(j);
    const char *holder = journal_running_user(k, name);
    if (holder) return log_error_errno(-EBUSY, "%s is set to %s for running VM %s; this VM wants %s", c->path, set, holder, c->new);
    json_object_object_add(k, "value", json_object_new_string(c->new));
    int r = journal_save(j);
    if (r >= 0) r = write_knob(hr, c->path, c->new, c->prep_path, c->prep_value);
    if (r >= 0) log_info("%s: %s -> %s (%s)", c->path, set, c->new, c->why);
    return r;
}

static int new_knob(Journal *j, const HostRoot *hr, const char *name, const HostChange *c) {
    /* The original as it is now: the plan's reading may predate a dead
     * VM's leftovers being put back just before. */
    _cleanup_free_ char *orig = NULL;
    int r = knob_read_value(hr, c->path, &orig);
    if (r < 0) return log_error_errno(r, "Failed to read %s: %m", c->path);
    json_object *k = json_object_new_object();
    json_object_object_add(k, "path", json_object_new_string(c->path));
    json_object_object_add(k, "original", json_object_new_string(orig));
    json_object_object_add(k, "value", json_object_new_string(c->new));
    if (c->prep_path) {
        json_object_object_add(k, "prep_path", json_object_new_string(c->prep_path));
        json_object_object_add(k, "prep_value", json_object_new_string(c->prep_value));
    }
    journal_add(j, k);
    journal_add_user(k, name);
    /* The original is on disk before the knob changes. */
    r = journal_save(j);
    if (r < 0) return r;
    if (c->additive) r = grow_pool(hr, c->path, c->new);
    else if ((r = write_knob(hr, c->path, c->new, c->prep_path, c->prep_value)) < 0)
        journal_remove(j, k); /* a write that failed changed nothing: nothing to put back */
    if (r >= 0 && !streq(orig, c->new)) log_info("%s: %s -> %s (%s)", c->path, orig, c->new, c->why);
    return r;
}

int hostplan_apply(const HostRoot *hr, const char *name, const HostPlan *plan) {
    if (!plan->n) return 0;
    Journal j = JOURNAL_INIT;
    j.say_dead = true;
    int r = journal_open(&j, HOSTPLAN_STATE_FILE, HOSTPLAN_STATE_KEY);
    if (r < 0) return r;
    journal_settle(&j, NULL, knob_restore, hr);
    for (size_t i = 0; i < plan->n && r >= 0; i++) {
        const HostChange *c = &plan->c[i];
        json_object *k = journal_find(&j, "path", c->path, NULL);
        r = !k ? new_knob(&j, hr, name, c) : c->additive ? join_pool(&j, k, hr, name, c) : join_knob(&j, k, hr, name, c);
    }
    /* Nothing half-done: what this call changed goes back now. What cannot
     * stays recorded (the journal says so), and the caller is told. */
    if (r < 0 && journal_settle(&j, name, knob_restore, hr) < 0) r = -ENOTRECOVERABLE;
    int r2 = journal_save(&j);
    journal_close(&j);
    return r < 0 ? r : r2;
}
