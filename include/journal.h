/* The journal of host changes: what kvmlaunch changed on the host (kernel
 * knobs, NIC offloads) or holds there (pinned CPUs), kept host-wide under
 * the run dir so that the last VM relying on a change, or the next start or
 * `kvmlaunch cleanup` after a crash, puts the host back.
 *
 * A kind of record lives in a file of its own under runtime_base() (the
 * files' names and formats are those `status`, the docs and the tests know:
 * host.state, host.offloads, cpus.state), all under one lock, the run dir's
 * (statefile.h), and each saved whole and atomically. A record is a JSON
 * object identified within its kind by a few string members (its id: the
 * path, or dev+netns+feature, or the VM), holding what restoring needs (the
 * original value) and "users", the VMs relying on it. A user whose
 * kvmlaunch is gone (its runtime lock is free, runtime.h) no longer counts.
 *
 * Settling restores, newest first, every record nobody relies on any more,
 * through the caller's restore callback. One that is put back is dropped;
 * one whose restore fails stays as it was, users and all, so `kvmlaunch
 * cleanup` or the next start tries again. */
#ifndef KVMLAUNCH_JOURNAL_H
#define KVMLAUNCH_JOURNAL_H

#include <json-c/json.h>
#include <stdbool.h>

#include "statefile.h"

typedef struct Journal {
    StateFile sf;                   /* locked while open */
    json_object *records;           /* owned: the kind's array, oldest first */
    /* Say "putting back what VM left behind" for a dead user's records
     * (once per VM and settle). */
    bool say_dead;
} Journal;

#define JOURNAL_INIT { { -1, NULL, NULL }, NULL, false }

/* What a restore callback returns besides -errno (failed, logged by the
 * callback: the record and its users stay for a later try). */
enum {
    JOURNAL_KEEP = 0,               /* not now, not a failure (another network namespace) */
    JOURNAL_RESTORED = 1,           /* put back, or nothing left to put back: dropped */
};
typedef int (*JournalRestoreFn)(json_object *rec, const void *ctx);

/* Takes the lock and reads FILE's array (member KEY). -EIO (said) when the
 * file is there but cannot be read now: the caller must change nothing. */
int journal_open(Journal *j, const char *file, const char *key);
/* Writes the records (an empty journal removes its file). */
int journal_save(Journal *j);
/* Drops the lock and the records; safe on JOURNAL_INIT. */
void journal_close(Journal *j);
/* Whether FILE is there: a reader with nothing recorded takes no lock and
 * makes no run dir. */
bool journal_exists(const char *file);

/* The record whose members match the NULL-terminated KEY, VALUE pairs. */
json_object *journal_find(const Journal *j, ...) __attribute__((sentinel));
/* Appends REC (taking it), with an empty "users" when it has none. */
json_object *journal_add(Journal *j, json_object *rec);
/* Drops REC: what it recorded needs no putting back. */
void journal_remove(Journal *j, json_object *rec);
const char *journal_str(json_object *rec, const char *key);

bool journal_has_user(json_object *rec, const char *vm);
void journal_add_user(json_object *rec, const char *vm);
/* A user of REC other than EXCEPT whose kvmlaunch runs, or NULL. */
const char *journal_running_user(json_object *rec, const char *except);
/* VM's kvmlaunch is gone: its runtime lock is free. A VM that holds its
 * lock but whose pid file cannot be read yet counts as running. */
bool journal_vm_gone(const char *vm);

/* LEAVING (a VM) stops relying on every record, or, when NULL, every user
 * that is gone does. Records left without users are restored through
 * RESTORE (NULL: nothing to put back), newest first. Returns the first
 * failure, 0 when every restore worked. */
int journal_settle(Journal *j, const char *leaving, JournalRestoreFn restore, const void *ctx);
/* open + settle + save + close, for restores and replays. The lock is
 * taken (and the run dir made) even with nothing recorded: a replay
 * before a start's probe waits for another start's changes to be done. */
int journal_release(const char *file, const char *key, bool say_dead, const char *leaving, JournalRestoreFn restore, const void *ctx);

#endif
