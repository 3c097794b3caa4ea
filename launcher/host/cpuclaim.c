/* The host-wide record of pinned CPUs (include/cpuclaim.h). */
#include "cpuclaim.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"
#include "runtime.h"
#include "util.h"

#define CLAIM_FILE "cpus.state"

void cpuclaims_free(CpuClaims *c) {
    for (size_t i = 0; i < c->n; i++) {
        free(c->v[i].vm);
        cpulist_free(&c->v[i].cpus);
    }
    free(c->v);
    memset(c, 0, sizeof(*c));
}

/* Entries from the file, without those of VMs that are not running. Sets
 * *pruned when one was dropped, so the file gets rewritten. */
static void claims_from_json(json_object *array, CpuClaims *out, bool *pruned) {
    size_t n = json_object_array_length(array);
    out->v = xcalloc(n ? n : 1, sizeof(CpuClaim));
    for (size_t i = 0; i < n; i++) {
        json_object *e = json_object_array_get_idx(array, i), *vm, *cpus;
        char err[VALUE_ERR_MAX];
        CpuList l = { 0 };
        if (!json_object_object_get_ex(e, "vm", &vm) || !json_object_object_get_ex(e, "cpus", &cpus) ||
            value_parse_cpulist(json_object_get_string(cpus), &l, err) < 0) {
            *pruned = true;
            continue;
        }
        /* 0: its runtime lock is free, the VM is gone. A VM that holds its
         * lock but has not written its pids yet reads as an error: kept. */
        if (runtime_query(json_object_get_string(vm), NULL, NULL) == 0) {
            cpulist_free(&l);
            *pruned = true;
            continue;
        }
        out->v[out->n++] = (CpuClaim){ xstrdup(json_object_get_string(vm)), l };
    }
}

static json_object *claims_to_json(const CpuClaims *c) {
    json_object *array = json_object_new_array();
    for (size_t i = 0; i < c->n; i++) {
        _cleanup_free_ char *cpus = cpulist_format(&c->v[i].cpus);
        json_object *e = json_object_new_object();
        json_object_object_add(e, "vm", json_object_new_string(c->v[i].vm));
        json_object_object_add(e, "cpus", json_object_new_string(cpus));
        json_object_array_add(array, e);
    }
    return array;
}

int cpuclaim_begin(CpuClaimTxn *txn) {
    memset(txn, 0, sizeof(*txn));
    txn->sf.lock_fd = -1;
    int r = statefile_lock(&txn->sf, CLAIM_FILE, "claims");
    if (r < 0) return r;
    txn->locked = true;
    json_object *array = statefile_load(&txn->sf);
    if (!array) {
        cpuclaim_abort(txn);
        return -EIO;
    }
    bool pruned = false;
    claims_from_json(array, &txn->claims, &pruned);
    json_object_put(array);
    return 0;
}

void cpuclaim_abort(CpuClaimTxn *txn) {
    if (txn->locked) statefile_unlock(&txn->sf);
    txn->locked = false;
    cpuclaims_free(&txn->claims);
}

/* Saves the claims as they are now (dead entries were not loaded). */
static int txn_save(CpuClaimTxn *txn) {
    json_object *array = claims_to_json(&txn->claims);
    int r = statefile_save(&txn->sf, array);
    json_object_put(array);
    return r;
}

int cpuclaim_commit(CpuClaimTxn *txn, const char *name, const CpuList *cpus) {
    size_t i;
    for (i = 0; i < txn->claims.n && !streq(txn->claims.v[i].vm, name); i++)
        ;
    if (i == txn->claims.n) {
        txn->claims.v = xrealloc(txn->claims.v, (txn->claims.n + 1) * sizeof(CpuClaim));
        txn->claims.v[txn->claims.n++] = (CpuClaim){ xstrdup(name), { 0 } };
    }
    cpulist_free(&txn->claims.v[i].cpus);
    txn->claims.v[i].cpus = cpulist_sorted(cpus);
    int r = txn_save(txn);
    cpuclaim_abort(txn);
    return r;
}

int cpuclaim_read(CpuClaims *out) {
    *out = (CpuClaims){ 0 };
    /* Reading makes nothing: no run dir, no VM, no claim. */
    struct stat st;
    if (stat(runtime_base(), &st) < 0 && errno == ENOENT) return 0;
    CpuClaimTxn txn;
    int r = cpuclaim_begin(&txn);
    if (r < 0) return r;
    *out = txn.claims;
    txn.claims = (CpuClaims){ 0 };
    cpuclaim_abort(&txn);
    return 0;
}

int cpuclaim_release(const char *name) {
    struct stat st;
    if (stat(runtime_base(), &st) < 0 && errno == ENOENT) return 0;
    CpuClaimTxn txn;
    int r = cpuclaim_begin(&txn);
    if (r < 0) return r;
    for (size_t i = 0; name && i < txn.claims.n; i++) {
        if (!streq(txn.claims.v[i].vm, name)) continue;
        free(txn.claims.v[i].vm);
        cpulist_free(&txn.claims.v[i].cpus);
        memmove(&txn.claims.v[i], &txn.claims.v[i + 1], (txn.claims.n - i - 1) * sizeof(CpuClaim));
        txn.claims.n--;
        break;
    }
    r = txn_save(&txn);
    cpuclaim_abort(&txn);
    return r;
}

CpuList cpuclaims_held(const CpuClaims *c, const char *except) {
    CpuList all = { 0 };
    for (size_t i = 0; i < c->n; i++) {
        if (except && streq(c->v[i].vm, except)) continue;
        all.cpu = xrealloc(all.cpu, (all.n + c->v[i].cpus.n + 1) * sizeof(int));
        memcpy(all.cpu + all.n, c->v[i].cpus.cpu, c->v[i].cpus.n * sizeof(int));
        all.n += c->v[i].cpus.n;
    }
    CpuList s = cpulist_sorted(&all);
    cpulist_free(&all);
    return s;
}

const char *cpuclaims_holder(const CpuClaims *c, int cpu, const char *except) {
    for (size_t i = 0; i < c->n; i++)
        if ((!except || !streq(c->v[i].vm, except)) && cpulist_contains(&c->v[i].cpus, cpu)) return c->v[i].vm;
    return NULL;
}
