/* Admission: memory and disks against the running VMs (include/admission.h). */
#include "admission.h"

#include <string.h>

MemAsk admission_memory_ask(const VmConfig *cfg, bool tcg, uint64_t free_hugepages) {
    const MemorySection *m = &cfg->memory;
    MemAsk a = { 0 };
    a.overhead = ADMIT_QEMU_OVERHEAD;
    a.commit = ADMIT_QEMU_OVERHEAD + (tcg ? ADMIT_TCG_CODE_BUFFER : 0);
    a.touches_all = vmconf_prealloc(cfg) || m->lock;
    if (m->backing == BACKING_HUGEPAGES && m->hugepage_size) {
        /* Huge pages are not in MemAvailable nor in the commit count; those
         * still to reserve are taken from free memory at start. */
        uint64_t need = cfg->vm.memory / m->hugepage_size;
        if (m->reserve_hugepages && need > free_hugepages) a.hugepages_to_reserve = (need - free_hugepages) * m->hugepage_size;
        a.guest = a.hugepages_to_reserve;
    } else {
        a.guest = cfg->vm.memory;
        a.commit += cfg->vm.memory;
    }
    return a;
}

uint64_t admission_peer_outstanding(const PeerVm *vm) {
    if (vm->err || !vm->qemu) return 0;
    uint64_t claim = vm->memory - vm->hugetlb + ADMIT_QEMU_OVERHEAD;
    return claim > vm->rss ? claim - vm->rss : 0;
}

static AdmitLevel level_of(uint64_t need, uint64_t limit) {
    if (need > limit) return ADMIT_OVER;
    /* Less than 10 % of the limit left: need > 0.9 limit. */
    if (need > limit - limit / 10) return ADMIT_NEAR;
    return ADMIT_FITS;
}

void admission_memory(const MemAsk *ask, const MemFacts *m, const PeerVms *peers, MemVerdict *out) {
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < peers->n; i++) {
        if (peers->v[i].err || !peers->v[i].qemu) continue;
        out->others += admission_peer_outstanding(&peers->v[i]);
        out->n_others++;
    }
    if (!m->known) {
        out->level = ADMIT_UNKNOWN;
        return;
    }
    out->need = ask->guest + ask->overhead;
    out->limit = m->available > out->others ? m->available - out->others : 0;
    out->level = level_of(out->need, out->limit);
    if (m->overcommit == 2 && m->commit_limit) {
        /* Committed_AS counts what the other VMs mapped already, all of it. */
        uint64_t room = m->commit_limit > m->committed ? m->commit_limit - m->committed : 0;
        AdmitLevel l = level_of(ask->commit, room);
        /* The tighter one: the worse level, or at the same level the
         * smaller share left (compared without division). */
        bool tighter = l > out->level || (l == out->level && (__uint128_t)ask->commit * out->limit > (__uint128_t)out->need * room);
        if (tighter) {
            out->level = l;
            out->need = ask->commit;
            out->limit = room;
            out->by_commit = true;
        }
    }
    if (out->level == ADMIT_OVER && m->overcommit == 1 && !ask->touches_all) out->level = ADMIT_OVERCOMMITTED;
}

const PeerVm *admission_disk_holder(const PeerVms *peers, const struct stat *st, bool writable, bool *there_writable) {
    bool blk = S_ISBLK(st->st_mode);
    for (size_t i = 0; i < peers->n; i++) {
        const PeerVm *vm = &peers->v[i];
        bool held = false, w = false;
        for (size_t k = 0; k < vm->n_files; k++) {
            const PeerFile *f = &vm->files[k];
            bool same = blk ? f->rdev == st->st_rdev && !f->ino : f->ino && f->dev == st->st_dev && f->ino == st->st_ino;
            if (!same) continue;
            held = true;
            w |= f->writable;
        }
        if (held && (writable || w)) {
            *there_writable = w;
            return vm;
        }
    }
    return NULL;
}
