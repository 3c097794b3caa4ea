#include "kfiles.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* The line starting at *p is [*p, *end); false past the last one. A final
 * newline ends the last line, it does not start an empty one. */
static bool next_line(const char **p, const char **end) {
    if (!**p) return false;
    const char *nl = strchr(*p, '\n');
    *end = nl ? nl : *p + strlen(*p);
    return true;
}

static const char *after_line(const char *end) { return *end ? end + 1 : end; }

/* Digits in [*p, end) into *out; no sign, no spaces. -ERANGE past uint64_t
 * (reported only once the whole number is known to be digits). */
static int parse_digits(const char **p, const char *end, uint64_t *out) {
    const char *s = *p;
    uint64_t v = 0;
    bool over = false;
    if (s == end || !isdigit((unsigned char)*s)) return -EINVAL;
    for (; s < end && isdigit((unsigned char)*s); s++) {
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10) over = true;
        else v = v * 10 + d;
    }
    *p = s;
    if (over) return -ERANGE;
    *out = v;
    return 0;
}

static bool has_prefix(const char *s, const char *end, const char *prefix) {
    size_t n = strlen(prefix);
    return (size_t)(end - s) >= n && memcmp(s, prefix, n) == 0;
}

/* ---- "always [madvise] never" ---- */

int kfile_parse_selected(const char *text, char **selected, StrVec *offered) {
    size_t len = strlen(text);
    if (len && text[len - 1] == '\n') len--;
    const char *p = text, *end = text + len;
    for (const char *c = text; c < end; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f) return -EINVAL;

    StrVec words = STRVEC_INIT;
    _cleanup_free_ char *sel = NULL;
    while (p < end) {
        if (*p == ' ') { p++; continue; }
        const char *w = p;
        while (p < end && *p != ' ') p++;
        size_t n = (size_t)(p - w);
        bool open = w[0] == '[', close = w[n - 1] == ']';
        if (open != close) goto bad;
        if (open) {
            if (n < 3 || sel) goto bad;
            w++;
            n -= 2;
        }
        if (memchr(w, '[', n) || memchr(w, ']', n)) goto bad;
        if (open) sel = xstrndup(w, n);
        strvec_push_take(&words, xstrndup(w, n));
    }
    if (!sel) goto bad;
    *selected = TAKE_PTR(sel);
    if (offered) {
        strvec_clear(offered);
        *offered = words;
    } else {
        strvec_clear(&words);
    }
    return 0;
bad:
    strvec_clear(&words);
    return -EINVAL;
}

bool kfile_is_offered(const StrVec *offered, const char *word) {
    for (size_t i = 0; i < offered->n; i++)
        if (streq(offered->v[i], word)) return true;
    return false;
}

/* ---- integers ---- */

int kfile_parse_int(const char *text, int64_t *out) {
    const char *p = text, *end = text + strlen(text);
    bool neg = *p == '-';
    uint64_t v = 0;
    if (neg) p++;
    int r = parse_digits(&p, end, &v);
    if (r == -EINVAL) return r;
    if (*p == '\n') p++;
    if (*p) return -EINVAL;
    if (r < 0) return r;
    if (neg) {
        if (v > (uint64_t)INT64_MAX + 1) return -ERANGE;
        *out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
    } else {
        if (v > (uint64_t)INT64_MAX) return -ERANGE;
        *out = (int64_t)v;
    }
    return 0;
}

/* ---- meminfo ---- */

/* The value part of a meminfo line, after the colon: spaces, digits, and
 * " kB" or nothing. */
static int parse_meminfo_value(const char *p, const char *end, uint64_t *value) {
    uint64_t v;
    while (p < end && *p == ' ') p++;
    int r = parse_digits(&p, end, &v);
    if (r == -EINVAL) return r;
    if (p != end && !(end - p == 3 && memcmp(p, " kB", 3) == 0)) return -EINVAL;
    if (r < 0) return r;
    *value = v;
    return 0;
}

int kfile_parse_meminfo(const char *text, const char *key, uint64_t *value) {
    size_t klen = strlen(key);
    if (!klen || strpbrk(key, ":\n ")) return -EINVAL;
    const char *end;
    for (const char *p = text; next_line(&p, &end); p = after_line(end)) {
        const char *k = p;
        /* A node's meminfo: "Node 0 MemFree: ..." */
        if (has_prefix(k, end, "Node ")) {
            uint64_t node;
            k += 5;
            if (parse_digits(&k, end, &node) < 0 || k == end || *k != ' ') continue;
            k++;
        }
        if ((size_t)(end - k) <= klen || memcmp(k, key, klen) != 0 || k[klen] != ':') continue;
        return parse_meminfo_value(k + klen + 1, end, value);
    }
    return -ENOENT;
}

/* ---- numa_maps ---- */

static int add_u64(uint64_t *sum, uint64_t v) {
    return __builtin_add_overflow(*sum, v, sum) ? -ERANGE : 0;
}

/* One field "N<node>=<pages>" of [f, fend) into line_pages. */
static int parse_numa_field(const char *f, const char *fend, uint64_t *line_pages, uint64_t *seen) {
    uint64_t node, pages;
    const char *p = f + 1;
    int r = parse_digits(&p, fend, &node);
    if (r == -EINVAL || p == fend || *p != '=') return -EINVAL;
    p++;
    int r2 = parse_digits(&p, fend, &pages);
    if (r2 == -EINVAL || p != fend) return -EINVAL;
    if (r < 0 || r2 < 0) return -ERANGE;
    if (node >= KFILE_NUMA_NODES) return -ERANGE;
    if (*seen & (UINT64_C(1) << node)) return -EINVAL;   /* the kernel writes each node once */
    *seen |= UINT64_C(1) << node;
    line_pages[node] = pages;
    return 0;
}

static int add_numa_line(NumaPages *np, const uint64_t *line_pages, uint64_t seen, uint64_t page_kb, bool huge) {
    for (int node = 0; node < KFILE_NUMA_NODES; node++) {
        if (!(seen & (UINT64_C(1) << node))) continue;
        uint64_t pages = line_pages[node], bytes;
        if (__builtin_mul_overflow(pages, page_kb * 1024, &bytes)) return -ERANGE;
        if (add_u64(&np->pages[node], pages) < 0 || add_u64(&np->bytes[node], bytes) < 0) return -ERANGE;
        if (huge && (add_u64(&np->huge_pages[node], pages) < 0 || add_u64(&np->huge_bytes[node], bytes) < 0))
            return -ERANGE;
        if (pages && node > np->max_node) np->max_node = node;
    }
    return 0;
}

static int parse_numa_line(NumaPages *np, const char *p, const char *end) {
    uint64_t line_pages[KFILE_NUMA_NODES], seen = 0, page_kb = 0;
    bool huge = false;
    int field = 0, r;
    while (p < end) {
        if (*p == ' ') { p++; continue; }
        const char *f = p;
        while (p < end && *p != ' ') p++;
        if (field == 0) {
            for (const char *c = f; c < p; c++)
                if (!isxdigit((unsigned char)*c)) return -EINVAL;
        } else if (field > 1) {
            if (p - f == 4 && memcmp(f, "huge", 4) == 0) {
                huge = true;
            } else if (*f == 'N' && p - f > 1 && isdigit((unsigned char)f[1])) {
                r = parse_numa_field(f, p, line_pages, &seen);
                if (r < 0) return r;
            } else if (has_prefix(f, p, "kernelpagesize_kB=")) {
                const char *v = f + strlen("kernelpagesize_kB=");
                r = parse_digits(&v, p, &page_kb);
                if (r < 0 || v != p || !page_kb) return r < 0 ? r : -EINVAL;
                if (page_kb > UINT64_MAX / 1024) return -ERANGE;
            }
        }
        field++;
    }
    if (field < 2) return -EINVAL;          /* every line has an address and a policy */
    if (!seen) return 0;
    if (!page_kb) return -EINVAL;
    return add_numa_line(np, line_pages, seen, page_kb, huge);
}

int kfile_parse_numa_maps(const char *text, NumaPages *out) {
    NumaPages np;
    memset(&np, 0, sizeof(np));
    np.max_node = -1;
    const char *end;
    for (const char *p = text; next_line(&p, &end); p = after_line(end)) {
        int r = parse_numa_line(&np, p, end);
        if (r < 0) return r;
    }
    *out = np;
    return 0;
}

/* ---- /proc/mounts ---- */

/* Undoes the kernel's \ooo escapes (space, tab, newline, backslash) in
 * [p, end). */
static int unescape_octal(const char *p, const char *end, char **out) {
    _cleanup_free_ char *s = xmalloc((size_t)(end - p) + 1);
    size_t n = 0;
    while (p < end) {
        if (*p != '\\') { s[n++] = *p++; continue; }
        if (end - p < 4) return -EINVAL;
        unsigned v = 0;
        for (int i = 1; i <= 3; i++) {
            if (p[i] < '0' || p[i] > '7') return -EINVAL;
            v = v * 8 + (unsigned)(p[i] - '0');
        }
        if (v == 0 || v > 0xff) return -EINVAL;
        s[n++] = (char)v;
        p += 4;
    }
    s[n] = 0;
    *out = TAKE_PTR(s);
    return 0;
}

/* "2M", "1G", "2048K", "2097152": what hugetlbfs writes, and memparse's
 * lower-case forms. */
static int parse_pagesize(const char *p, const char *end, uint64_t *bytes) {
    uint64_t v;
    unsigned shift = 0;
    int r = parse_digits(&p, end, &v);
    if (r < 0) return r;
    if (end - p == 1) {
        switch (*p) {
        case 'K': case 'k': shift = 10; break;
        case 'M': case 'm': shift = 20; break;
        case 'G': case 'g': shift = 30; break;
        case 'T': case 't': shift = 40; break;
        default: return -EINVAL;
        }
    } else if (p != end) {
        return -EINVAL;
    }
    if (v > (UINT64_MAX >> shift)) return -ERANGE;
    *bytes = v << shift;
    return 0;
}

/* The pagesize= of a hugetlbfs options field [p, end); DEFAULT when absent. */
static int hugetlbfs_pagesize(const char *p, const char *end, uint64_t dflt, uint64_t *bytes) {
    *bytes = dflt;
    while (p < end) {
        const char *o = p;
        while (p < end && *p != ',') p++;
        if (has_prefix(o, p, "pagesize=")) {
            int r = parse_pagesize(o + strlen("pagesize="), p, bytes);
            if (r < 0) return -EINVAL;
        }
        if (p < end) p++;
    }
    return 0;
}

int kfile_find_hugetlbfs(const char *text, uint64_t pagesize_bytes, uint64_t default_pagesize_bytes,
                         char **mountpoint) {
    const char *end;
    for (const char *p = text; next_line(&p, &end); p = after_line(end)) {
        /* device mountpoint type options freq passno */
        const char *f[4], *fend[4];
        const char *q = p;
        int n = 0;
        while (n < 4 && q < end) {
            f[n] = q;
            while (q < end && *q != ' ') q++;
            fend[n++] = q;
            if (q < end) q++;
        }
        if (n < 4 || f[0] == fend[0] || f[1] == fend[1] || f[2] == fend[2]) return -EINVAL;
        if (fend[2] - f[2] != 9 || memcmp(f[2], "hugetlbfs", 9) != 0) continue;
        uint64_t size;
        int r = hugetlbfs_pagesize(f[3], fend[3], default_pagesize_bytes, &size);
        if (r < 0) return r;
        if (size != pagesize_bytes) continue;
        return unescape_octal(f[1], fend[1], mountpoint);
    }
    return -ENOENT;
}

/* ---- cpulists ---- */

int kfile_parse_cpulist(const char *text, CpuList *out) {
    size_t len = strlen(text);
    if (len && text[len - 1] == '\n') len--;
    if (!len) {
        *out = (CpuList){ NULL, 0 };
        return 0;
    }
    _cleanup_free_ char *s = xstrndup(text, len);
    char err[VALUE_ERR_MAX];
    return value_parse_cpulist(s, out, err);
}

/* ---- "KEY: VALUE" and "KEY=VALUE" lines ---- */

static bool is_blank(char c) { return c == ' ' || c == '\t'; }

int kfile_parse_field(const char *text, const char *key, char sep, char **value) {
    size_t klen = strlen(key);
    if (!klen) return -EINVAL;
    const char *end;
    for (const char *p = text; next_line(&p, &end); p = after_line(end)) {
        const char *s = memchr(p, sep, (size_t)(end - p));
        if (!s) continue;
        const char *k = s;
        while (k > p && is_blank(k[-1])) k--;
        if ((size_t)(k - p) != klen || memcmp(p, key, klen)) continue;
        const char *v = s + 1, *ve = end;
        while (v < ve && is_blank(*v)) v++;
        while (ve > v && (is_blank(ve[-1]) || ve[-1] == '\r')) ve--;
        *value = xstrndup(v, (size_t)(ve - v));
        return 0;
    }
    return -ENOENT;
}

/* Whether WORD is one of the space-separated words of WORDS. */
static bool has_word(const char *words, const char *word) {
    size_t n = strlen(word);
    for (const char *p = words; (p = strstr(p, word)); p += n)
        if ((p == words || is_blank(p[-1])) && (!p[n] || is_blank(p[n]))) return true;
    return false;
}

int kfile_parse_cpuinfo(const char *text, char **model, const char **virt) {
    _cleanup_free_ char *flags = NULL;
    *model = NULL;
    *virt = NULL;
    kfile_parse_field(text, "model name", ':', model);
    if (kfile_parse_field(text, "flags", ':', &flags) < 0) return 0;
    /* A CPU has one or the other, never both. */
    if (has_word(flags, "vmx")) *virt = "vmx";
    else if (has_word(flags, "svm")) *virt = "svm";
    return 0;
}
