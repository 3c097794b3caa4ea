/* Applying a host plan and putting the host back (include/hostplan.h).
 *
 * Host-wide knobs are shared: two VMs may both want THP = never. The state
 * file BASE/host.state (JSON, under the OFD lock of BASE/host.lock) keeps,
 * per knob in the order first changed: its original value, the value set,
 * and the VMs relying on it. It is saved before a knob changes, so a
 * crash of kvmlaunch leaves enough to put the host back; a knob
 * returns to its original value when the last VM relying on it is gone. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/file.h>
#include <unistd.h>

#include "hostplan.h"
#include "log.h"
#include "runtime.h"
#include "statefile.h"
#include "util.h"

/* Growing a pool by this many pages or more is done in steps, with progress. */
#define POOL_PROGRESS_MIN_PAGES 1024

static const char *jstr(json_object *o, const char *key) {
    json_object *v;
    return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

static json_object *find_knob(json_object *knobs, const char *path) {
    for (size_t i = 0; i < json_object_array_length(knobs); i++) {
        json_object *k = json_object_array_get_idx(knobs, i);
        const char *p = jstr(k, "path");
        if (p && streq(p, path)) return k;
    }
    return NULL;
}

static bool has_user(json_object *k, const char *name) {
    json_object *users = json_object_object_get(k, "users");
    for (size_t i = 0; users && i < json_object_array_length(users); i++)
        if (streq(json_object_get_string(json_object_array_get_idx(users, i)), name)) return true;
    return false;
}

static void add_user(json_object *k, const char *name) {
    if (has_user(k, name)) return;
    json_object_array_add(json_object_object_get(k, "users"), json_object_new_string(name));
}

static void remove_user(json_object *k, const char *name) {
    json_object *users = json_object_object_get(k, "users");
    for (size_t i = 0; users && i < json_object_array_length(users); i++) {
        if (streq(json_object_get_string(json_object_array_get_idx(users, i)), name)) {
            json_object_array_del_idx(users, i, 1);
            return;
        }
    }
}

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

static int restore_knob(const HostRoot *hr, json_object *k) {
    const char *path = jstr(k, "path"), *orig = jstr(k, "original");
    if (!path || !orig) return 0;
    int r = write_knob(hr, path, orig, jstr(k, "prep_path"), jstr(k, "prep_value"));
    if (r == 0) log_info("restored %s to %s", path, orig);
    return r;
}

/* Restores and drops every knob nobody relies on any more, newest first. */
static int settle(const HostRoot *hr, json_object *knobs) {
    int result = 0;
    for (size_t i = json_object_array_length(knobs); i-- > 0;) {
        json_object *k = json_object_array_get_idx(knobs, i);
        json_object *users = json_object_object_get(k, "users");
        if (users && json_object_array_length(users) > 0) continue;
        int r = restore_knob(hr, k);
        if (r < 0 && !result) result = r;
        json_object_array_del_idx(knobs, i, 1);
    }
    return result;
}

static void drop_dead_users(json_object *knobs) {
    for (size_t i = 0; i < json_object_array_length(knobs); i++) {
        json_object *users = json_object_object_get(json_object_array_get_idx(knobs, i), "users");
        for (size_t j = users ? json_object_array_length(users) : 0; j-- > 0;) {
            const char *u = json_object_get_string(json_object_array_get_idx(users, j));
            if (runtime_query(u, NULL, NULL) != 1) {
                log_notice("putting back what %s left behind", u);
                json_object_array_del_idx(users, j, 1);
            }
        }
    }
}

int hostplan_replay_dead(const HostRoot *hr) {
    StateFile l = { -1, NULL, NULL };
    int r = statefile_lock(&l, HOSTPLAN_STATE_FILE, HOSTPLAN_STATE_KEY);
    if (r < 0) return r;
    json_object *knobs = statefile_load(&l);
    if (!knobs) {
        statefile_unlock(&l);
        return -EIO;
    }
    drop_dead_users(knobs);
    r = settle(hr, knobs);
    int r2 = statefile_save(&l, knobs);
    json_object_put(knobs);
    statefile_unlock(&l);
    return r < 0 ? r : r2;
}

int hostplan_restore(const HostRoot *hr, const char *name) {
    StateFile l = { -1, NULL, NULL };
    int r = statefile_lock(&l, HOSTPLAN_STATE_FILE, HOSTPLAN_STATE_KEY);
    if (r < 0) return r;
    json_object *knobs = statefile_load(&l);
    if (!knobs) {
        statefile_unlock(&l);
        return -EIO;
    }
    for (size_t i = 0; i < json_object_array_length(knobs); i++) remove_user(json_object_array_get_idx(knobs, i), name);
    r = settle(hr, knobs);
    int r2 = statefile_save(&l, knobs);
    json_object_put(knobs);
    statefile_unlock(&l);
    return r < 0 ? r : r2;
}

int hostplan_apply(const HostRoot *hr, const char *name, const HostPlan *plan) {
    if (!plan->n) return 0;
    StateFile l = { -1, NULL, NULL };
    int r = statefile_lock(&l, HOSTPLAN_STATE_FILE, HOSTPLAN_STATE_KEY);
    if (r < 0) return r;
    json_object *knobs = statefile_load(&l);
    if (!knobs) {
        statefile_unlock(&l);
        return -EIO;
    }
    drop_dead_users(knobs);
    settle(hr, knobs);
    for (size_t i = 0; i < plan->n && r >= 0; i++) {
        const HostChange *c = &plan->c[i];
        json_object *k = find_knob(knobs, c->path);
        if (k && c->additive) {
            /* A pool another VM grew: grow it by our share from where it is. */
            _cleanup_free_ char *now = NULL;
            r = hostroot_read(hr, c->path, &now);
            if (r < 0) {
                log_error_errno(r, "Failed to read %s: %m", c->path);
                break;
            }
            char num[32];
            snprintf(num, sizeof(num), "%" PRIu64, (uint64_t)strtoull(now, NULL, 10) + c->add);
            add_user(k, name);
            json_object_object_add(k, "value", json_object_new_string(num));
            r = statefile_save(&l, knobs);
            if (r >= 0) r = grow_pool(hr, c->path, num);
            continue;
        }
        if (k) {
            const char *set = jstr(k, "value");
            if (set && !streq(set, c->new) && !has_user(k, name)) {
                json_object *users = json_object_object_get(k, "users");
                r = log_error_errno(-EBUSY, "%s is set to %s for running VM %s; this VM wants %s", c->path, set,
                                    json_object_get_string(json_object_array_get_idx(users, 0)), c->new);
                break;
            }
            add_user(k, name);
            r = statefile_save(&l, knobs);
            continue;
        }
        /* The original as it is now: the plan's reading may predate a dead
         * VM's leftovers being put back just above. */
        _cleanup_free_ char *orig = NULL;
        r = knob_read_value(hr, c->path, &orig);
        if (r < 0) {
            log_error_errno(r, "Failed to read %s: %m", c->path);
            break;
        }
        k = json_object_new_object();
        json_object_object_add(k, "path", json_object_new_string(c->path));
        json_object_object_add(k, "original", json_object_new_string(orig));
        json_object_object_add(k, "value", json_object_new_string(c->new));
        if (c->prep_path) {
            json_object_object_add(k, "prep_path", json_object_new_string(c->prep_path));
            json_object_object_add(k, "prep_value", json_object_new_string(c->prep_value));
        }
        json_object *users = json_object_new_array();
        json_object_array_add(users, json_object_new_string(name));
        json_object_object_add(k, "users", users);
        json_object_array_add(knobs, k);
        /* The original is on disk before the knob changes. */
        r = statefile_save(&l, knobs);
        if (r >= 0) r = c->additive ? grow_pool(hr, c->path, c->new) : write_knob(hr, c->path, c->new, c->prep_path, c->prep_value);
        if (r >= 0 && !streq(orig, c->new)) log_info("%s: %s -> %s (%s)", c->path, orig, c->new, c->why);
    }
    if (r < 0) {
        /* Nothing half-done: what this call changed goes back now. */
        for (size_t i = 0; i < json_object_array_length(knobs); i++) remove_user(json_object_array_get_idx(knobs, i), name);
        settle(hr, knobs);
    }
    int r2 = statefile_save(&l, knobs);
    json_object_put(knobs);
    statefile_unlock(&l);
    return r < 0 ? r : r2;
}
