/* The host-wide record of pinned CPUs (include/cpuclaim.h). */
#include "cpuclaim.h"

#include <errno.h>
#include <string.h>

#include "log.h"
#include "journal.h"
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

/* The claims of the records; a record that does not parse goes. */
static void claims_from_journal(Journal *j, CpuClaims *out) {
    size_t n = json_object_array_length(j->records);
    out->v = xcalloc(n ? n : 1, sizeof(CpuClaim));
    for (size_t i = 0; i < json_object_array_length(j->records);) {
        json_object *e = json_object_array_get_idx(j->records, i);
        const char *vm = journal_str(e, "vm"), *cpus = journal_str(e, "cpus");
        char err[VALUE_ERR_MAX];
        CpuList l = { 0 };
        if (!vm || !cpus || value_parse_cpulist(cpus, &l, err) < 0) {
            journal_remove(j, e);
            continue;
        }
        out->v[out->n++] = (CpuClaim){ xstrdup(vm), l };
        i++;
    }
}

/* Opens the journal of claims without those of VMs that are gone: a
 * claim's one user is its VM (a record from before "users" gets it). */
static int claims_open(Journal *j) {
    int r = journal_open(j, CLAIM_FILE, "claims");
    if (r < 0) return r;
    for (size_t i = 0; i < json_object_array_length(j->records); i++) {
        json_object *e = json_object_array_get_idx(j->records, i), *users;
        const char *vm = journal_str(e, "vm");
        if (vm && !json_object_object_get_ex(e, "users", &users)) journal_add_user(e, vm);
    }
    /* A VM that holds its runtime lock but has not written its pids yet
     * counts as running (journal_vm_gone). */
    journal_settle(j, NULL, NULL, NULL);
    return 0;
}

int cpuclaim_begin(CpuClaimTxn *txn) {
    memset(txn, 0, sizeof(*txn));
    txn->j = (Journal)JOURNAL_INIT;
    int r = claims_open(&txn->j);
    if (r < 0) return r;
    txn->locked = true;
    claims_from_journal(&txn->j, &txn->claims);
    return 0;
}

void cpuclaim_abort(CpuClaimTxn *txn) {
    if (txn->locked) journal_close(&txn->j);
    txn->locked = false;
    cpuclaims_free(&txn->claims);
}

int cpuclaim_commit(CpuClaimTxn *txn, const char *name, const CpuList *cpus) {
    json_object *e = journal_find(&txn->j, "vm", name, NULL);
    if (!e) {
        e = json_object_new_object();
        json_object_object_add(e, "vm", json_object_new_string(name));
        journal_add(&txn->j, e);
        journal_add_user(e, name);
    }
    CpuList sorted = cpulist_sorted(cpus);
    _cleanup_free_ char *text = cpulist_format(&sorted);
    cpulist_free(&sorted);
    json_object_object_add(e, "cpus", json_object_new_string(text));
    int r = journal_save(&txn->j);
    cpuclaim_abort(txn);
    return r;
}

int cpuclaim_read(CpuClaims *out) {
    *out = (CpuClaims){ 0 };
    /* Reading makes nothing: no record, no VM, no claim. */
    if (!journal_exists(CLAIM_FILE)) return 0;
    CpuClaimTxn txn;
    int r = cpuclaim_begin(&txn);
    if (r < 0) return r;
    *out = txn.claims;
    txn.claims = (CpuClaims){ 0 };
    cpuclaim_abort(&txn);
    return 0;
}

int cpuclaim_release(const char *name) {
    if (!journal_exists(CLAIM_FILE)) return 0;
    Journal j = JOURNAL_INIT;
    int r = claims_open(&j);
    if (r < 0) return r;
    if (name) journal_settle(&j, name, NULL, NULL);
    r = journal_save(&j);
    journal_close(&j);
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
