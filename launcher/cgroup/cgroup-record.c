/* Where each VM's cgroup tree went, host-wide (include/cgroup.h): the tree
 * nests under the cgroup kvmlaunch ran in (issue 22), which `cleanup` after
 * a crash, run from another shell or job, cannot find again by looking at
 * its own cgroup. */
#include "cgroup-internal.h"

#include <errno.h>
#include <string.h>

#include "journal.h"
#include "log.h"
#include "runtime.h"
#include "util.h"

#define CGROUP_RECORD_FILE "cgroups.state"
#define CGROUP_RECORD_KEY "cgroups"

int cgroup_record(const CgroupVm *vm, const char *name) {
    if (!vm->dir || !vm->top) return 0;
    Journal j = JOURNAL_INIT;
    int r = journal_open(&j, CGROUP_RECORD_FILE, CGROUP_RECORD_KEY);
    if (r < 0) return r;
    json_object *e = journal_find(&j, "vm", name, NULL);
    if (!e) {
        e = json_object_new_object();
        json_object_object_add(e, "vm", json_object_new_string(name));
        journal_add(&j, e);
        journal_add_user(e, name);
    }
    json_object_object_add(e, "dir", json_object_new_string(vm->dir));
    json_object_object_add(e, "top", json_object_new_string(vm->top));
    json_object_object_add(e, "version", json_object_new_string(vm->version == CGROUP_V2 ? "2" : "1"));
    json_object_object_add(e, "nested", json_object_new_string(vm->nested ? "yes" : "no"));
    r = journal_save(&j);
    journal_close(&j);
    return r;
}

/* Removes what a record names: the VM's dir with its children, then, nested,
 * kvmlaunch/ when no other VM is in it; on v2 cpuset in kvmlaunch/ goes
 * back when it stays. Done twice is no harm (teardown did it first). */
static int record_restore(json_object *rec, const void *ctx) {
    const HostRoot *hr = ctx;
    const char *dir = journal_str(rec, "dir"), *top = journal_str(rec, "top"), *v = journal_str(rec, "version"),
               *nested = journal_str(rec, "nested");
    if (!dir || !top) return JOURNAL_RESTORED;
    /* A QEMU that outlived its supervisor is not dead: its record stays. */
    if (cg_dir_in_use(hr, dir)) {
        log_info("the cgroup %s has threads: left as it is", dir);
        return JOURNAL_KEEP;
    }
    int r = cg_remove_vm_dir(hr, dir);
    if (r < 0) return r;
    if (nested && streq(nested, "yes") && cg_remove_top(hr, top)) {
        log_info("cgroup %s removed", dir);
        return JOURNAL_RESTORED;
    }
    if (v && streq(v, "2")) r = cgroup_release_cpuset(hr, top);
    if (r >= 0) log_info("cgroup %s removed", dir);
    return r < 0 ? r : JOURNAL_RESTORED;
}

int cgroup_record_release(const HostRoot *hr, const char *name) {
    if (!journal_exists(CGROUP_RECORD_FILE)) return 0;
    return journal_release(CGROUP_RECORD_FILE, CGROUP_RECORD_KEY, true, name, record_restore, hr);
}

/* Without the run dir's lock: `kvmlaunch pin` holds it (its CPU claims)
 * while it looks for the groups, and the file is replaced whole
 * (rename), so a reader sees one version or the other. */
char *cgroup_record_dir(const char *name) {
    _cleanup_free_ char *path = xasprintf("%s/" CGROUP_RECORD_FILE, runtime_base());
    json_object *root = json_object_from_file(path), *arr = NULL;
    char *out = NULL;
    if (root && json_object_object_get_ex(root, CGROUP_RECORD_KEY, &arr) && json_object_is_type(arr, json_type_array))
        for (size_t i = 0; i < json_object_array_length(arr) && !out; i++) {
            json_object *e = json_object_array_get_idx(arr, i);
            const char *vm = journal_str(e, "vm"), *dir = journal_str(e, "dir");
            if (vm && dir && streq(vm, name)) out = xstrdup(dir);
        }
    json_object_put(root);
    return out;
}
