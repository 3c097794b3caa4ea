#include "values.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* Quote what the user wrote, cut so a 10 MB value cannot flood the terminal. */
static int fail(char *err, const char *found, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, const char *found, const char *fmt, ...) {
    char what[VALUE_ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    if (found) {
        _cleanup_free_ char *shown = value_quote(found);
        snprintf(err, VALUE_ERR_MAX, "%s, found %s", what, shown);
    } else {
        snprintf(err, VALUE_ERR_MAX, "%s", what);
    }
    return -EINVAL;
}

/* Digits only: strtoull would take "-1", " 5" and "0x10". */
static int parse_u64(const char **p, uint64_t *out) {
    const char *s = *p;
    uint64_t v = 0;
    if (!isdigit((unsigned char)*s)) return -EINVAL;
    for (; isdigit((unsigned char)*s); s++) {
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10) return -ERANGE;
        v = v * 10 + d;
    }
    *p = s;
    *out = v;
    return 0;
}

int value_parse_int(const char *s, int64_t min, int64_t max, int64_t *out, char *err) {
    const char *p = s;
    uint64_t v;
    int r = parse_u64(&p, &v);
    if (r < 0 || *p)
        return fail(err, s, "expected a whole number from %" PRId64 " to %" PRId64, min, max);
    if (v > (uint64_t)max || (int64_t)v < min)
        return fail(err, s, "expected a number from %" PRId64 " to %" PRId64, min, max);
    *out = (int64_t)v;
    return 0;
}

int value_parse_size(const char *s, uint64_t *out, char *err) {
    static const struct { const char *suffix; unsigned shift; } units[] = {
        { "", 0 }, { "B", 0 },
        { "K", 10 }, { "KiB", 10 }, { "M", 20 }, { "MiB", 20 },
        { "G", 30 }, { "GiB", 30 }, { "T", 40 }, { "TiB", 40 },
    };
    const char *p = s;
    uint64_t v;
    int r = parse_u64(&p, &v);
    if (r == -ERANGE) return fail(err, s, "expected a size below 16 EiB");
    if (r < 0) return fail(err, s, "expected a size such as 512M, 4G or 4GiB");
    for (size_t i = 0; i < ELEMENTSOF(units); i++) {
        if (!streq(p, units[i].suffix)) continue;
        if (units[i].shift && v > (UINT64_MAX >> units[i].shift))
            return fail(err, s, "expected a size below 16 EiB");
        *out = v << units[i].shift;
        return 0;
    }
    return fail(err, s, "expected a size such as 512M, 4G or 4GiB (binary units K, M, G, T)");
}

int value_parse_duration(const char *s, uint64_t *out_ms, char *err) {
    static const struct { const char *suffix; uint64_t ms; } units[] = {
        { "", 1000 }, { "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 },
    };
    const char *p = s;
    uint64_t v;
    if (parse_u64(&p, &v) < 0) return fail(err, s, "expected a duration such as 90s, 5m or 500ms");
    for (size_t i = 0; i < ELEMENTSOF(units); i++) {
        if (!streq(p, units[i].suffix)) continue;
        /* A year is far more than any timeout needs; refusing more keeps every
         * later sum of milliseconds from overflowing. */
        if (v > UINT64_C(366) * 86400000 / units[i].ms)
            return fail(err, s, "expected a duration of at most a year");
        *out_ms = v * units[i].ms;
        return 0;
    }
    return fail(err, s, "expected a duration such as 90s, 5m or 500ms");
}

int value_parse_bool(const char *s, bool *out, char *err) {
    static const char *const yes[] = { "yes", "on", "true", "1" };
    static const char *const no[] = { "no", "off", "false", "0" };
    for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
        if (streq(s, yes[i])) { *out = true; return 0; }
        if (streq(s, no[i])) { *out = false; return 0; }
    }
    return fail(err, s, "expected yes/no, on/off, true/false or 1/0");
}

static int cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

static int parse_cpulist(const char *s, CpuList *out, char *err, bool repeat) {
    CpuList l = { NULL, 0 };
    size_t alloc = 0;
    const char *p = s;
    static const char expected[] = "expected a CPU list such as 0-3,8,10-11";

    if (!*p) return fail(err, s, expected);
    for (;;) {
        uint64_t a, b;
        if (parse_u64(&p, &a) < 0) goto bad;
        b = a;
        if (*p == '-') {
            p++;
            if (parse_u64(&p, &b) < 0) goto bad;
        }
        if (a > CPULIST_MAX_CPU || b > CPULIST_MAX_CPU) {
            free(l.cpu);
            return fail(err, s, "expected numbers from 0 to %d", CPULIST_MAX_CPU);
        }
        if (b < a) {
            free(l.cpu);
            return fail(err, s, "expected ranges written low-high such as 2-5");
        }
        for (uint64_t c = a; c <= b; c++) {
            if (l.n == alloc) {
                alloc = alloc ? alloc * 2 : 8;
                l.cpu = xrealloc(l.cpu, alloc * sizeof(int));
            }
            l.cpu[l.n++] = (int)c;
        }
        if (!*p) break;
        if (*p != ',') goto bad;
        p++;
    }
    /* Each CPU once: in a set, a CPU listed twice is a typo, never an
     * intent. A sequence ([cpu] pin) may repeat one on purpose. */
    if (repeat) {
        *out = l;
        return 0;
    }
    int *sorted = xmalloc(l.n * sizeof(int));
    memcpy(sorted, l.cpu, l.n * sizeof(int));
    qsort(sorted, l.n, sizeof(int), cmp_int);
    for (size_t i = 1; i < l.n; i++) {
        if (sorted[i] == sorted[i - 1]) {
            int dup = sorted[i];
            free(sorted);
            free(l.cpu);
            return fail(err, s, "expected each number once, %d is listed twice", dup);
        }
    }
    free(sorted);
    *out = l;
    return 0;
bad:
    free(l.cpu);
    return fail(err, s, expected);
}

int value_parse_cpulist(const char *s, CpuList *out, char *err) { return parse_cpulist(s, out, err, false); }

int value_parse_cpulist_seq(const char *s, CpuList *out, char *err) { return parse_cpulist(s, out, err, true); }

void cpulist_free(CpuList *l) {
    l->cpu = x_free(l->cpu);
    l->n = 0;
}

CpuList cpulist_copy(const CpuList *l) {
    CpuList c = { NULL, l->n };
    if (l->n) {
        c.cpu = xmalloc(l->n * sizeof(int));
        memcpy(c.cpu, l->cpu, l->n * sizeof(int));
    }
    return c;
}

CpuList cpulist_sorted(const CpuList *l) {
    CpuList s = cpulist_copy(l);
    if (!s.n) return s;
    qsort(s.cpu, s.n, sizeof(int), cmp_int);
    size_t k = 1;
    for (size_t i = 1; i < s.n; i++)
        if (s.cpu[i] != s.cpu[k - 1]) s.cpu[k++] = s.cpu[i];
    s.n = k;
    return s;
}

bool cpulist_same_set(const CpuList *a, const CpuList *b) {
    CpuList x = cpulist_sorted(a), y = cpulist_sorted(b);
    bool same = x.n == y.n && (!x.n || !memcmp(x.cpu, y.cpu, x.n * sizeof(int)));
    cpulist_free(&x);
    cpulist_free(&y);
    return same;
}

bool cpulist_contains(const CpuList *l, int cpu) {
    for (size_t i = 0; i < l->n; i++)
        if (l->cpu[i] == cpu) return true;
    return false;
}

char *cpulist_format(const CpuList *l) {
    if (!l->n) return xstrdup("");
    int *s = xmalloc(l->n * sizeof(int));
    memcpy(s, l->cpu, l->n * sizeof(int));
    qsort(s, l->n, sizeof(int), cmp_int);
    /* The set: a sequence ([cpu] pin) may repeat a CPU. */
    size_t n = 1;
    for (size_t i = 1; i < l->n; i++)
        if (s[i] != s[n - 1]) s[n++] = s[i];
    char *buf = xmalloc(n * 12 + 1);
    size_t len = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j + 1 < n && s[j + 1] == s[j] + 1) j++;
        len += (size_t)sprintf(buf + len, "%s%d", len ? "," : "", s[i]);
        if (j > i) len += (size_t)sprintf(buf + len, "-%d", s[j]);
        i = j + 1;
    }
    free(s);
    return buf;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    c = (char)tolower((unsigned char)c);
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

int value_parse_mac(const char *s, MacAddr *out, char *err) {
    MacAddr m;
    static const char expected[] = "expected a MAC address such as 52:54:00:12:34:56";
    if (strlen(s) != 17) return fail(err, s, expected);
    for (int i = 0; i < 6; i++) {
        int hi = hexval(s[i * 3]), lo = hexval(s[i * 3 + 1]);
        if (hi < 0 || lo < 0 || (i < 5 && s[i * 3 + 2] != ':')) return fail(err, s, expected);
        m.b[i] = (uint8_t)(hi << 4 | lo);
    }
    if (m.b[0] & 1) return fail(err, s, "expected a unicast MAC address (lowest bit of the first byte clear)");
    static const MacAddr zero;
    if (!memcmp(&m, &zero, sizeof(m))) return fail(err, s, "expected a MAC address other than all zeros");
    *out = m;
    return 0;
}

char *mac_format(const MacAddr *m) {
    return xasprintf("%02x:%02x:%02x:%02x:%02x:%02x", m->b[0], m->b[1], m->b[2], m->b[3], m->b[4], m->b[5]);
}

char *enum_list_names(const EnumName *table) {
    size_t n = 0, len = 1;
    for (const EnumName *e = table; e->name; e++)
        if (!e->note) { n++; len += strlen(e->name) + 6; }
    char *buf = xmalloc(len);
    buf[0] = 0;
    size_t i = 0;
    for (const EnumName *e = table; e->name; e++) {
        if (e->note) continue;
        if (i) strcat(buf, i + 1 == n ? " or " : ", ");
        strcat(buf, e->name);
        i++;
    }
    return buf;
}

int value_parse_enum(const char *s, const EnumName *table, int *out, char *err) {
    for (int i = 0; table[i].name; i++) {
        if (streq(s, table[i].name)) {
            *out = table[i].value;
            return i;
        }
    }
    _cleanup_free_ char *names = enum_list_names(table);
    return fail(err, s, "expected %s", names);
}

const char *enum_to_string(const EnumName *table, int value) {
    for (const EnumName *e = table; e->name; e++)
        if (e->value == value && !e->note) return e->name;
    return NULL;
}

int enum_from_string(const EnumName *table, const char *s) {
    for (const EnumName *e = table; e->name; e++)
        if (streq(e->name, s)) return e->value;
    return -EINVAL;
}

char *size_format(uint64_t bytes) {
    static const char units[] = "KMGT";
    int u = -1;
    while (u < 3 && bytes && bytes % 1024 == 0) {
        bytes /= 1024;
        u++;
    }
    if (u < 0) return xasprintf("%" PRIu64, bytes);
    return xasprintf("%" PRIu64 "%c", bytes, units[u]);
}

char *value_quote(const char *s) {
    /* At most 40 characters shown; bytes that are not printable ASCII are
     * written \xNN so a message never carries a control byte to a terminal. */
    size_t n = 0;
    char *out = xmalloc(40 * 4 + 8), *o = out;
    *o++ = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p && n < 40; p++, n++) {
        if (*p >= 0x20 && *p < 0x7f) *o++ = (char)*p;
        else o += sprintf(o, "\\x%02x", *p);
    }
    if (strlen(s) > 40) o += sprintf(o, "...");
    *o++ = '"';
    *o = '\0';
    return out;
}

/* The length of the printable character at P (at most AVAIL bytes): 1 for
 * printable ASCII, 2 to 4 for a well-formed UTF-8 sequence that is no C1
 * control; 0 for a control character or a byte that starts no such
 * sequence. Overlong forms and surrogates are refused as json parsers do. */
static size_t text_char_len(const unsigned char *p, size_t avail) {
    unsigned char c = p[0];
    if (c < 0x20 || c == 0x7f) return 0;
    if (c < 0x80) return 1;
    size_t extra;
    uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) { extra = 1; cp = c & 0x1f; }
    else if (c >= 0xe0 && c <= 0xef) { extra = 2; cp = c & 0x0f; }
    else if (c >= 0xf0 && c <= 0xf4) { extra = 3; cp = c & 0x07; }
    else return 0;
    if (extra >= avail) return 0;
    for (size_t k = 1; k <= extra; k++) {
        if ((p[k] & 0xc0) != 0x80) return 0;
        cp = cp << 6 | (p[k] & 0x3f);
    }
    if ((extra == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (extra == 3 && (cp < 0x10000 || cp > 0x10ffff))) return 0;
    /* C1 controls (U+0080..U+009F) are control characters too. */
    if (cp >= 0x80 && cp <= 0x9f) return 0;
    return extra + 1;
}

char *value_escape(const char *s, size_t n) {
    n = strnlen(s, n);
    const unsigned char *p = (const unsigned char *)s;
    char *out = xmalloc(4 * n + 1), *o = out;
    for (size_t i = 0; i < n;) {
        size_t len = text_char_len(p + i, n - i);
        if (!len) {
            o += sprintf(o, "\\x%02x", p[i++]);
            continue;
        }
        memcpy(o, p + i, len);
        o += len;
        i += len;
    }
    *o = '\0';
    return out;
}

long value_find_bad_char(const char *s) {
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        size_t len = text_char_len(p + i, n - i);
        if (!len) return (long)i;
        i += len;
    }
    return -1;
}

size_t string_distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64) return SIZE_MAX;
    size_t row[65];
    for (size_t j = 0; j <= lb; j++) row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t prev = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t cur = row[j];
            size_t best = prev + (a[i - 1] != b[j - 1]);
            if (row[j] + 1 < best) best = row[j] + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            prev = cur;
        }
    }
    return row[lb];
}
