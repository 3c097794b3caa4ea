/* The cgroup lines of /proc/self/mounts and /proc/self/cgroup (pure). */
#include "cgroup-internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* A mount point as /proc/mounts escapes it ("\\040" for a space). */
static char *unescape_mount(const char *s, size_t n) {
    char *out = xmalloc(n + 1), *o = out;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '\\') {
            *o++ = s[i];
            continue;
        }
        int v = 0;
        for (size_t k = 1; k <= 3; k++) {
            if (i + k >= n || s[i + k] < '0' || s[i + k] > '7') return x_free(out);
            v = v * 8 + (s[i + k] - '0');
        }
        if (v == 0 || v > 255) return x_free(out);
        *o++ = (char)v;
        i += 3;
    }
    *o = '\0';
    return out;
}

bool cg_words_have(const char *s, const char *end, const char *seps, const char *word) {
    size_t wl = strlen(word);
    while (s < end) {
        size_t n = strcspn(s, seps);
        if (s + n > end) n = (size_t)(end - s);
        if (n == wl && !memcmp(s, word, wl)) return true;
        s += n;
        if (s < end) s++;
    }
    return false;
}

bool cgroup_list_has(const char *text, const char *word) { return cg_words_have(text, text + strlen(text), " \t\n", word); }

/* One mounts line, split into its first four fields; a cgroup2 mount or the
 * first v1 cpuset mount goes into M. */
static int parse_mount_line(const char *p, const char *end, CgroupMounts *m) {
    const char *f[4];
    size_t fl[4], nf = 0;
    for (const char *q = p; q < end && nf < 4;) {
        while (q < end && *q == ' ') q++;
        if (q == end) break;
        f[nf] = q;
        while (q < end && *q != ' ') q++;
        fl[nf] = (size_t)(q - f[nf]);
        nf++;
    }
    if (nf == 0 && end == p) return 0; /* an empty line */
    if (nf < 4) return -EINVAL;
    bool v2 = fl[2] == 7 && !memcmp(f[2], "cgroup2", 7);
    bool v1 = fl[2] == 6 && !memcmp(f[2], "cgroup", 6) && cg_words_have(f[3], f[3] + fl[3], ",", "cpuset");
    if (!v2 && (!v1 || m->v1_cpuset)) return 0;
    char *mp = unescape_mount(f[1], fl[1]);
    if (!mp) return -EINVAL;
    if (v2) {
        strvec_push_take(&m->v2, mp);
    } else {
        m->v1_cpuset = mp;
        m->v1_noprefix = cg_words_have(f[3], f[3] + fl[3], ",", "noprefix");
    }
    return 0;
}

int cgroup_parse_mounts(const char *text, CgroupMounts *out) {
    CgroupMounts m = { STRVEC_INIT, NULL, false };
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        const char *end = nl ? nl : p + strlen(p);
        if (parse_mount_line(p, end, &m) < 0) {
            cgroup_mounts_free(&m);
            return -EINVAL;
        }
        p = nl ? nl + 1 : end;
    }
    *out = m;
    return 0;
}

void cgroup_mounts_free(CgroupMounts *m) {
    strvec_clear(&m->v2);
    m->v1_cpuset = x_free(m->v1_cpuset);
    m->v1_noprefix = false;
}

int cgroup_parse_self(const char *text, CgroupVersion version, char **path) {
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        const char *end = nl ? nl : p + strlen(p);
        if (end > p) {
            const char *c1 = memchr(p, ':', (size_t)(end - p));
            const char *c2 = c1 ? memchr(c1 + 1, ':', (size_t)(end - c1 - 1)) : NULL;
            if (!c2 || c2 + 1 == end || c2[1] != '/') return -EINVAL;
            bool match = version == CGROUP_V2 ? (c1 - p == 1 && p[0] == '0' && c2 == c1 + 1)
                                              : cg_words_have(c1 + 1, c2, ",", "cpuset");
            if (match) {
                *path = xstrndup(c2 + 1, (size_t)(end - c2 - 1));
                return 0;
            }
        }
        p = nl ? nl + 1 : end;
    }
    return -ENOENT;
}
