/* The journal of host changes (include/journal.h). */
#include "journal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>

#include "log.h"
#include "runtime.h"
#include "strvec.h"
#include "util.h"

int journal_open(Journal *j, const char *file, const char *key) {
    j->records = NULL;
    int r = statefile_lock(&j->sf, file, key);
    if (r < 0) return r;
    j->records = statefile_load(&j->sf);
    if (!j->records) {
        statefile_unlock(&j->sf);
        return -EIO;
    }
    return 0;
}

int journal_save(Journal *j) {
    return statefile_save(&j->sf, j->records);
}

void journal_close(Journal *j) {
    json_object_put(j->records);
    j->records = NULL;
    statefile_unlock(&j->sf);
}

bool journal_exists(const char *file) {
    _cleanup_free_ char *path = xasprintf("%s/%s", runtime_base(), file);
    /* stat, not access(): the supervisor's filter allows newfstatat only. */
    struct stat st;
    return stat(path, &st) == 0;
}

const char *journal_str(json_object *rec, const char *key) {
    json_object *v;
    return json_object_object_get_ex(rec, key, &v) && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

static bool matches(json_object *rec, va_list ap) {
    for (const char *key; (key = va_arg(ap, const char *));) {
        const char *want = va_arg(ap, const char *), *have = journal_str(rec, key);
        if (!have || !streq(have, want)) return false;
    }
    return true;
}

json_object *journal_find(const Journal *j, ...) {
    for (size_t i = 0; i < json_object_array_length(j->records); i++) {
        json_object *rec = json_object_array_get_idx(j->records, i);
        va_list ap;
        va_start(ap, j);
        bool m = matches(rec, ap);
        va_end(ap);
        if (m) return rec;
    }
    return NULL;
}

static json_object *users_of(json_object *rec) {
    json_object *users;
    if (json_object_object_get_ex(rec, "users", &users) && json_object_is_type(users, json_type_array)) return users;
    users = json_object_new_array();
    json_object_object_add(rec, "users", users);
    return users;
}

json_object *journal_add(Journal *j, json_object *rec) {
    users_of(rec);
    json_object_array_add(j->records, rec);
    return rec;
}

void journal_remove(Journal *j, json_object *rec) {
    for (size_t i = json_object_array_length(j->records); i-- > 0;)
        if (json_object_array_get_idx(j->records, i) == rec) json_object_array_del_idx(j->records, i, 1);
}

bool journal_has_user(json_object *rec, const char *vm) {
    json_object *users = users_of(rec);
    for (size_t i = 0; i < json_object_array_length(users); i++)
        if (streq(json_object_get_string(json_object_array_get_idx(users, i)), vm)) return true;
    return false;
}

void journal_add_user(json_object *rec, const char *vm) {
    if (!journal_has_user(rec, vm)) json_object_array_add(users_of(rec), json_object_new_string(vm));
}

bool journal_vm_gone(const char *vm) {
    return runtime_query(vm, NULL, NULL) == 0;
}

const char *journal_running_user(json_object *rec, const char *except) {
    json_object *users = users_of(rec);
    for (size_t i = 0; i < json_object_array_length(users); i++) {
        const char *u = json_object_get_string(json_object_array_get_idx(users, i));
        if ((!except || !streq(u, except)) && !journal_vm_gone(u)) return u;
    }
    return NULL;
}

static bool said_before(const StrVec *said, const char *vm) {
    for (size_t i = 0; i < said->n; i++)
        if (streq(said->v[i], vm)) return true;
    return false;
}

/* REC's users that still count: all but LEAVING, or (LEAVING NULL) all
 * whose kvmlaunch runs. A new array. */
static json_object *users_staying(Journal *j, json_object *rec, const char *leaving, StrVec *said) {
    json_object *users = users_of(rec), *staying = json_object_new_array();
    for (size_t i = 0; i < json_object_array_length(users); i++) {
        const char *u = json_object_get_string(json_object_array_get_idx(users, i));
        bool gone = leaving ? streq(u, leaving) : journal_vm_gone(u);
        if (!gone) json_object_array_add(staying, json_object_new_string(u));
        else if (!leaving && j->say_dead && !said_before(said, u)) {
            log_notice("putting back what %s left behind", u);
            strvec_push(said, u);
        }
    }
    return staying;
}

int journal_settle(Journal *j, const char *leaving, JournalRestoreFn restore, const void *ctx) {
    int result = 0;
    size_t kept = 0;
    StrVec said = STRVEC_INIT;
    for (size_t i = json_object_array_length(j->records); i-- > 0;) {
        json_object *rec = json_object_array_get_idx(j->records, i);
        json_object *staying = users_staying(j, rec, leaving, &said);
        if (json_object_array_length(staying) > 0) {
            json_object_object_add(rec, "users", staying);
            continue;
        }
        int r = restore ? restore(rec, ctx) : JOURNAL_RESTORED;
        if (r == JOURNAL_RESTORED) {
            json_object_put(staying);
            json_object_array_del_idx(j->records, i, 1);
        } else if (r < 0) {
            /* Its original is still needed: the record stays as it was. */
            json_object_put(staying);
            kept++;
            if (!result) result = r;
        } else {
            json_object_object_add(rec, "users", staying);
        }
    }
    strvec_clear(&said);
    if (kept)
        log_notice("%zu host setting%s could not be put back and stay%s recorded in %s; `kvmlaunch cleanup` or the next start tries again",
                   kept, kept == 1 ? "" : "s", kept == 1 ? "s" : "", j->sf.path);
    return result;
}

int journal_release(const char *file, const char *key, bool say_dead, const char *leaving, JournalRestoreFn restore, const void *ctx) {
    Journal j = JOURNAL_INIT;
    j.say_dead = say_dead;
    int r = journal_open(&j, file, key);
    if (r < 0) return r;
    r = journal_settle(&j, leaving, restore, ctx);
    int r2 = journal_save(&j);
    journal_close(&j);
    return r < 0 ? r : r2;
}
