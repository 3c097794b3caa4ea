/* Host-wide state kvmlaunch keeps under the run dir (runtime_base()): a
 * JSON array per file, read and replaced under a lock on the run dir. The
 * journal of host changes (include/journal.h) is built on it. */
#ifndef KVMLAUNCH_STATEFILE_H
#define KVMLAUNCH_STATEFILE_H

#include <json-c/json.h>

typedef struct StateFile {
    int lock_fd;                    /* owned: the run dir, flock'ed */
    char *path;                     /* owned: BASE/NAME */
    const char *key;                /* the array's member in the file */
} StateFile;

/* Locks the run dir (creating it when missing) and names BASE/NAME. */
int statefile_lock(StateFile *sf, const char *name, const char *key);
void statefile_unlock(StateFile *sf);
/* The array, or a new empty one when the file is missing or garbled (said);
 * NULL (said) when it is there but cannot be read now: the caller must
 * then change nothing, or the original values it holds would be lost. */
json_object *statefile_load(const StateFile *sf);
/* Write a new file, rename it over: a crash of kvmlaunch leaves the old
 * state or the new one, never half of one. No fsync: what the files record
 * (kernel settings, running VMs) is this boot's, which a crash of the host
 * ends anyway; /run is a tmpfs, and where it is not, an fsync cost a
 * millisecond or more of each start (docs/BENCHMARKS.md). An empty array
 * removes the file. */
int statefile_save(const StateFile *sf, json_object *array);

#endif
