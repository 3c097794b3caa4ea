/* Fuzz harness: the parsers of kernel files (include/kfiles.h, the cpulist
 * of include/values.h, /proc/interrupts and cpumasks of include/hostnic.h).
 *
 * Every input is handed, as the text of a file, to every parser, so the
 * corpus holds plain copies of the files (tests/hostroot). Checked beyond
 * "no crash, no leak": each returns 0 or a documented -errno; outputs are
 * written only on success (sentinels); and where it is cheap, the result
 * means what the text says: a selected word is among the offered ones and
 * the list printed again parses to the same; an integer agrees with strtoll;
 * numa_maps sums are consistent; a cpulist or cpumask printed again
 * (cpulist_format, cpumask_format) parses to the same set; IRQs are sorted
 * and each is the device's. */
#include <errno.h>
#include <inttypes.h>

#include "fuzz_common.h"
#include "hostnic.h"
#include "kfiles.h"
#include "strvec.h"
#include "tap.h"
#include "util.h"
#include "values.h"

static char kf_sentinel_byte;
#define KF_SENTINEL (&kf_sentinel_byte)

static void kf_check_errno(int r, const char *what, bool enoent, bool erange) {
    FUZZ_CHECK(r == 0 || r == -EINVAL || (enoent && r == -ENOENT) || (erange && r == -ERANGE), "%s returned %d", what, r);
}

static void kf_check_set(const CpuList *l, const char *what) {
    for (size_t i = 0; i < l->n; i++) {
        FUZZ_CHECK(l->cpu[i] >= 0 && l->cpu[i] <= CPULIST_MAX_CPU, "%s: CPU %d out of range", what, l->cpu[i]);
        FUZZ_CHECK(!i || l->cpu[i] > l->cpu[i - 1], "%s: not sorted and unique at %zu", what, i);
    }
}

static void kf_selected(const char *text) {
    char *sel = KF_SENTINEL;
    StrVec offered = STRVEC_INIT;
    strvec_push(&offered, "sentinel");
    int r = kfile_parse_selected(text, &sel, &offered);
    kf_check_errno(r, "kfile_parse_selected", false, false);
    if (r < 0) {
        FUZZ_CHECK(sel == KF_SENTINEL && offered.n == 1 && streq(offered.v[0], "sentinel"), "kfile_parse_selected wrote its outputs on failure");
        strvec_clear(&offered);
        return;
    }
    FUZZ_CHECK(sel && kfile_is_offered(&offered, sel), "the selected word %s is not offered", sel);
    /* The words again, the selected one bracketed: the same result. */
    size_t len = 2;
    for (size_t i = 0; i < offered.n; i++) {
        const char *w = offered.v[i];
        FUZZ_CHECK(*w && !strpbrk(w, " []") && fuzz_find_control(w) < 0, "offered word \"%s\" is not a plain word", w);
        len += strlen(w) + 3;
    }
    char *again = xcalloc(1, len);
    bool bracketed = false;
    for (size_t i = 0; i < offered.n; i++) {
        bool this = !bracketed && streq(offered.v[i], sel);
        bracketed |= this;
        if (i) strcat(again, " ");
        if (this) strcat(again, "[");
        strcat(again, offered.v[i]);
        if (this) strcat(again, "]");
    }
    strcat(again, "\n");
    char *sel2 = NULL;
    StrVec off2 = STRVEC_INIT;
    FUZZ_CHECK(kfile_parse_selected(again, &sel2, &off2) == 0 && streq(sel2, sel) && off2.n == offered.n,
               "\"%s\" printed again as \"%s\" does not parse the same", text, again);
    for (size_t i = 0; i < off2.n; i++) FUZZ_CHECK(streq(off2.v[i], offered.v[i]), "word %zu differs after printing again", i);
    free(sel2);
    strvec_clear(&off2);
    free(again);
    /* Without OFFERED too. */
    char *sel3 = NULL;
    FUZZ_CHECK(kfile_parse_selected(text, &sel3, NULL) == 0 && streq(sel3, sel), "kfile_parse_selected without offered differs");
    free(sel3);
    free(sel);
    strvec_clear(&offered);
}

/* The grammar kfile_parse_int documents: -?[0-9]+\n? */
static bool kf_int_grammar(const char *s) {
    if (*s == '-') s++;
    if (!(*s >= '0' && *s <= '9')) return false;
    while (*s >= '0' && *s <= '9') s++;
    if (*s == '\n') s++;
    return !*s;
}

static void kf_int(const char *text) {
    int64_t v = INT64_C(0x5a5a5a5a5a5a5a5a);
    int r = kfile_parse_int(text, &v);
    kf_check_errno(r, "kfile_parse_int", false, true);
    bool grammar = kf_int_grammar(text);
    if (!grammar) {
        FUZZ_CHECK(r == -EINVAL, "kfile_parse_int took \"%s\" (%d)", text, r);
    } else {
        /* Differential: strtoll reads the same grammar. */
        errno = 0;
        long long want = strtoll(text, NULL, 10);
        bool range = errno == ERANGE;
        FUZZ_CHECK(range ? r == -ERANGE : (r == 0 && v == want), "kfile_parse_int(\"%s\") = %d, %" PRId64 "; strtoll says %lld%s", text, r,
                   v, want, range ? " (ERANGE)" : "");
    }
    if (r < 0) FUZZ_CHECK(v == INT64_C(0x5a5a5a5a5a5a5a5a), "kfile_parse_int wrote its output on failure");
}

static void kf_meminfo(const char *text) {
    static const char *const keys[] = { "MemFree", "MemTotal", "Hugepagesize", "HugePages_Free", "HugePages_Total" };
    for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
        uint64_t v = UINT64_C(0xa5a5a5a5a5a5a5a5);
        int r = kfile_parse_meminfo(text, keys[i], &v);
        kf_check_errno(r, "kfile_parse_meminfo", true, true);
        if (r < 0) FUZZ_CHECK(v == UINT64_C(0xa5a5a5a5a5a5a5a5), "kfile_parse_meminfo wrote its output on failure");
        else FUZZ_CHECK(strstr(text, keys[i]) != NULL, "kfile_parse_meminfo found %s where the text lacks it", keys[i]);
    }
    uint64_t v;
    FUZZ_CHECK(kfile_parse_meminfo(text, "", &v) == -EINVAL && kfile_parse_meminfo(text, "Mem Free", &v) == -EINVAL,
               "kfile_parse_meminfo took a key that cannot be one");
}

static void kf_numa_maps(const char *text) {
    NumaPages np;
    memset(&np, 0xa5, sizeof(np));
    int r = kfile_parse_numa_maps(text, &np);
    kf_check_errno(r, "kfile_parse_numa_maps", false, true);
    if (r < 0) {
        NumaPages untouched;
        memset(&untouched, 0xa5, sizeof(untouched));
        FUZZ_CHECK(!memcmp(&np, &untouched, sizeof(np)), "kfile_parse_numa_maps wrote its output on failure");
        return;
    }
    int max = -1;
    for (int n = 0; n < KFILE_NUMA_NODES; n++) {
        FUZZ_CHECK(np.huge_pages[n] <= np.pages[n] && np.huge_bytes[n] <= np.bytes[n], "node %d: more huge than all", n);
        FUZZ_CHECK(!np.pages[n] == !np.bytes[n], "node %d: pages and bytes disagree", n);
        if (np.pages[n]) max = n;
    }
    FUZZ_CHECK(np.max_node == max, "max_node %d, the highest node with pages is %d", np.max_node, max);
}

static void kf_hugetlbfs(const char *text) {
    static const uint64_t sizes[][2] = { { 2 << 20, 2 << 20 }, { 1 << 30, 2 << 20 }, { 2 << 20, 1 << 30 } };
    for (size_t i = 0; i < ELEMENTSOF(sizes); i++) {
        char *mp = KF_SENTINEL;
        int r = kfile_find_hugetlbfs(text, sizes[i][0], sizes[i][1], &mp);
        kf_check_errno(r, "kfile_find_hugetlbfs", true, false);
        if (r < 0) {
            FUZZ_CHECK(mp == KF_SENTINEL, "kfile_find_hugetlbfs wrote its output on failure");
            continue;
        }
        FUZZ_CHECK(mp && strlen(mp) < strlen(text) && strstr(text, " hugetlbfs "), "kfile_find_hugetlbfs found \"%s\"", mp ? mp : "(null)");
        free(mp);
    }
}

/* A list that parsed: sorted copy printed and parsed again is the same set. */
static void kf_cpulist_again(const CpuList *l, const char *text) {
    for (size_t i = 0; i < l->n; i++)
        FUZZ_CHECK(l->cpu[i] >= 0 && l->cpu[i] <= CPULIST_MAX_CPU, "\"%s\": CPU %d out of range", text, l->cpu[i]);
    CpuList s = cpulist_sorted(l);
    FUZZ_CHECK(s.n == l->n, "\"%s\" parsed with a CPU twice", text);
    cpulist_free(&s);
    _cleanup_free_ char *printed = cpulist_format(l);
    CpuList again = { NULL, 0 };
    FUZZ_CHECK(kfile_parse_cpulist(printed, &again) == 0 && cpulist_same_set(l, &again), "\"%s\" printed as \"%s\" parses to another set",
               text, printed);
    cpulist_free(&again);
}

static void kf_cpulists(const char *text) {
    CpuList l = { (int *)KF_SENTINEL, 12345 };
    int r = kfile_parse_cpulist(text, &l);
    kf_check_errno(r, "kfile_parse_cpulist", false, false);
    if (r < 0) {
        FUZZ_CHECK(l.cpu == (int *)KF_SENTINEL && l.n == 12345, "kfile_parse_cpulist wrote its output on failure");
    } else {
        kf_cpulist_again(&l, text);
        cpulist_free(&l);
    }

    char err[VALUE_ERR_MAX] = "";
    CpuList v = { (int *)KF_SENTINEL, 12345 };
    r = value_parse_cpulist(text, &v, err);
    FUZZ_CHECK(r == 0 || r == -EINVAL, "value_parse_cpulist returned %d", r);
    if (r < 0) {
        FUZZ_CHECK(v.cpu == (int *)KF_SENTINEL && v.n == 12345 && err[0], "value_parse_cpulist failed without a message or wrote its output");
    } else {
        FUZZ_CHECK(v.n > 0, "value_parse_cpulist took an empty list");
        kf_cpulist_again(&v, text);
        cpulist_free(&v);
    }
}

static void kf_fields(const char *text) {
    static const struct { const char *key; char sep; } keys[] = {
        { "model name", ':' }, { "flags", ':' }, { "Cpus_allowed_list", ':' }, { "DRIVER", '=' }, { "PCI_SLOT_NAME", '=' },
    };
    for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
        char *v = KF_SENTINEL;
        int r = kfile_parse_field(text, keys[i].key, keys[i].sep, &v);
        kf_check_errno(r, "kfile_parse_field", true, false);
        FUZZ_CHECK(r != -EINVAL, "kfile_parse_field refused a key");
        if (r < 0) {
            FUZZ_CHECK(v == KF_SENTINEL, "kfile_parse_field wrote its output on failure");
            continue;
        }
        size_t n = strlen(v);
        FUZZ_CHECK(!strchr(v, '\n') && (!n || (v[0] != ' ' && v[0] != '\t' && v[n - 1] != ' ' && v[n - 1] != '\t')),
                   "kfile_parse_field value \"%s\" has its blanks or a newline", v);
        FUZZ_CHECK(strstr(text, v) != NULL, "kfile_parse_field value \"%s\" is not in the text", v);
        free(v);
    }
    char *model = KF_SENTINEL;
    const char *virt = "sentinel";
    FUZZ_CHECK(kfile_parse_cpuinfo(text, &model, &virt) == 0, "kfile_parse_cpuinfo failed");
    FUZZ_CHECK(model != KF_SENTINEL && (!virt || streq(virt, "vmx") || streq(virt, "svm")), "kfile_parse_cpuinfo: virt %s", virt);
    free(model);
}

static void kf_interrupts(const char *text) {
    static const int msi[] = { 37, 38, 39 };
    static const struct { const char *dev; size_t n_msi; } devs[] = { { "eth0", 0 }, { "ens1f0", 0 }, { "virtio0", 3 } };
    for (size_t d = 0; d < ELEMENTSOF(devs); d++) {
        NicIrqList l = { (NicIrq *)KF_SENTINEL, 12345 };
        int r = hostnic_parse_interrupts(text, devs[d].dev, msi, devs[d].n_msi, &l);
        kf_check_errno(r, "hostnic_parse_interrupts", false, false);
        if (r < 0) {
            FUZZ_CHECK(l.v == (NicIrq *)KF_SENTINEL && l.n == 12345, "hostnic_parse_interrupts wrote its output on failure");
            continue;
        }
        for (size_t i = 0; i < l.n; i++) {
            FUZZ_CHECK(l.v[i].irq >= 0 && l.v[i].name, "IRQ %zu: %d without a name", i, l.v[i].irq);
            FUZZ_CHECK(!i || l.v[i].irq >= l.v[i - 1].irq, "IRQs out of order");
            bool is_msi = false;
            for (size_t k = 0; k < devs[d].n_msi; k++) is_msi |= msi[k] == l.v[i].irq;
            FUZZ_CHECK(is_msi || strstr(l.v[i].name, devs[d].dev), "IRQ %d (%s) is not %s's", l.v[i].irq, l.v[i].name, devs[d].dev);
        }
        nicirqlist_free(&l);
    }
}

static void kf_cpumask(const char *text) {
    CpuList l = { (int *)KF_SENTINEL, 12345 };
    int r = hostnic_parse_cpumask(text, &l);
    kf_check_errno(r, "hostnic_parse_cpumask", false, true);
    if (r < 0) {
        FUZZ_CHECK(l.cpu == (int *)KF_SENTINEL && l.n == 12345, "hostnic_parse_cpumask wrote its output on failure");
        return;
    }
    kf_check_set(&l, "hostnic_parse_cpumask");
    _cleanup_free_ char *printed = cpumask_format(&l);
    CpuList again = { NULL, 0 };
    FUZZ_CHECK(hostnic_parse_cpumask(printed, &again) == 0 && cpulist_same_set(&l, &again), "mask \"%s\" printed as \"%s\" parses to another set",
               text, printed);
    cpulist_free(&again);
    cpulist_free(&l);
}

int fuzz_kfiles_one(const uint8_t *data, size_t size) {
    char *text = fuzz_cstring(data, size);
    kf_selected(text);
    kf_int(text);
    kf_meminfo(text);
    kf_numa_maps(text);
    kf_hugetlbfs(text);
    kf_cpulists(text);
    kf_fields(text);
    kf_interrupts(text);
    kf_cpumask(text);
    free(text);
    return 0;
}

#ifndef FUZZ_REPLAY
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fuzz_kfiles_one(data, size); }
#endif
