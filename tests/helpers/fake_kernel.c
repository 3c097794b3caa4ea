/* A fake kernel for test trees (fake_kernel.h). */
#include "fake_kernel.h"

#include <errno.h>
#include <linux/ethtool.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* The writes made to fail: each rule lets PASSES writes to its path
 * through, then fails every later one with ERR. */
#define FAIL_RULES 4
static struct {
    char *path;
    int err, passes;
} rules[FAIL_RULES];

void fake_kernel_fail(const char *path, int err) {
    for (size_t i = 0; i < FAIL_RULES; i++) rules[i].path = x_free(rules[i].path);
    if (path) fake_kernel_fail_after(path, err, 0);
}

void fake_kernel_fail_after(const char *path, int err, int passes) {
    for (size_t i = 0; i < FAIL_RULES; i++)
        if (!rules[i].path) {
            rules[i].path = xstrdup(path);
            rules[i].err = err;
            rules[i].passes = passes;
            return;
        }
    abort(); /* a test with more rules than FAIL_RULES */
}

/* 0, or the error a write to PATH is made to fail with. */
static int failing(const char *path) {
    for (size_t i = 0; i < FAIL_RULES; i++) {
        if (!rules[i].path || !streq(rules[i].path, path)) continue;
        if (rules[i].passes > 0) {
            rules[i].passes--;
            return 0;
        }
        return rules[i].err;
    }
    return 0;
}

/* The list file OLD with the brackets moved to VALUE; NULL when OLD is no
 * list file or VALUE not one of its words. */
static char *list_moved(const char *old, const char *value) {
    if (!strchr(old, '[')) return NULL;
    size_t vl = strlen(value);
    char *out = xcalloc(1, strlen(old) + 3);
    bool found = false;
    for (const char *p = old; *p;) {
        if (*p == ' ' || *p == '\n') {
            strncat(out, p++, 1);
            continue;
        }
        size_t n = strcspn(p, " \n");
        const char *w = p;
        size_t wl = n;
        if (w[0] == '[' && wl >= 2 && w[wl - 1] == ']') {
            w++;
            wl -= 2;
        }
        bool sel = wl == vl && !memcmp(w, value, vl);
        found |= sel;
        if (sel) strcat(out, "[");
        strncat(out, w, wl);
        if (sel) strcat(out, "]");
        p += n;
    }
    if (!found) {
        free(out);
        return NULL;
    }
    return out;
}

int fake_kernel_write(const HostRoot *hr, const char *path, const char *value) {
    int fail = failing(path);
    if (fail) return fail;
    _cleanup_free_ char *old = NULL, *emulated = NULL;
    if (hostroot_read(hr, path, &old) == 0) emulated = list_moved(old, value);
    if (!emulated && *value && value[strlen(value) - 1] != '\n') emulated = xasprintf("%s\n", value);
    return hostroot_kernel_write(hr, path, emulated ? emulated : value);
}

int fake_kernel_mkdir(const HostRoot *hr, const char *path, mode_t mode) {
    return hostroot_kernel_mkdir(hr, path, mode);
}

int fake_kernel_rmdir(const HostRoot *hr, const char *path) {
    return hostroot_kernel_rmdir(hr, path);
}

/* ---- ethtool ---- */

#define MAX_FEATURES 64

typedef struct Features {
    char name[MAX_FEATURES][ETH_GSTRING_LEN];
    bool on[MAX_FEATURES], fixed[MAX_FEATURES];
    uint32_t n;
} Features;

static int features_load(const HostRoot *hr, const char *path, Features *f) {
    _cleanup_free_ char *text = NULL;
    memset(f, 0, sizeof(*f));
    if (hostroot_read(hr, path, &text) < 0) return -ENODEV;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char name[ETH_GSTRING_LEN + 1], state[8], fixed[8] = "";
        int k = sscanf(line, "%32s %7s %7s", name, state, fixed);
        if (k < 2 || f->n == MAX_FEATURES) return -EIO;
        memcpy(f->name[f->n], name, strnlen(name, ETH_GSTRING_LEN));
        f->on[f->n] = streq(state, "on");
        f->fixed[f->n] = streq(fixed, "fixed");
        f->n++;
    }
    return 0;
}

static int features_store(const HostRoot *hr, const char *path, const Features *f) {
    size_t cap = (size_t)f->n * (ETH_GSTRING_LEN + 12) + 1;
    _cleanup_free_ char *text = xcalloc(1, cap);
    for (uint32_t i = 0; i < f->n; i++)
        snprintf(text + strlen(text), cap - strlen(text), "%.*s %s%s\n", ETH_GSTRING_LEN, f->name[i], f->on[i] ? "on" : "off",
                 f->fixed[i] ? " fixed" : "");
    return hostroot_kernel_write(hr, path, text);
}

static void get_features(const Features *f, struct ethtool_gfeatures *gf) {
    uint32_t nb = (f->n + 31) / 32;
    for (uint32_t i = 0; i < f->n && i / 32 < gf->size; i++) {
        uint32_t bit = UINT32_C(1) << (i % 32);
        struct ethtool_get_features_block *b = &gf->features[i / 32];
        if (!f->fixed[i]) b->available |= bit;
        else b->never_changed |= bit;
        if (f->on[i]) b->requested |= bit, b->active |= bit;
    }
    gf->size = nb;
}

static void set_features(Features *f, const struct ethtool_sfeatures *sf) {
    for (uint32_t i = 0; i < f->n && i / 32 < sf->size; i++) {
        uint32_t bit = UINT32_C(1) << (i % 32);
        const struct ethtool_set_features_block *b = &sf->features[i / 32];
        if ((b->valid & bit) && !f->fixed[i]) f->on[i] = (b->requested & bit) != 0;
    }
}

int fake_kernel_ethtool(const HostRoot *hr, const char *dev, void *cmd) {
    _cleanup_free_ char *path = xasprintf("/sys/class/net/%s/%s", dev, FAKE_KERNEL_FEATURES);
    Features f;
    int r = features_load(hr, path, &f);
    if (r < 0) return r;
    switch (*(uint32_t *)cmd) {
    case ETHTOOL_GSSET_INFO: {
        struct ethtool_sset_info *si = cmd;
        if (!(si->sset_mask & (UINT64_C(1) << ETH_SS_FEATURES))) return -EOPNOTSUPP;
        si->sset_mask = UINT64_C(1) << ETH_SS_FEATURES;
        si->data[0] = f.n;
        return 0;
    }
    case ETHTOOL_GSTRINGS: {
        struct ethtool_gstrings *gs = cmd;
        if (gs->string_set != ETH_SS_FEATURES) return -EOPNOTSUPP;
        for (uint32_t i = 0; i < f.n && i < gs->len; i++) memcpy(gs->data + i * ETH_GSTRING_LEN, f.name[i], ETH_GSTRING_LEN);
        gs->len = f.n;
        return 0;
    }
    case ETHTOOL_GFEATURES:
        get_features(&f, cmd);
        return 0;
    case ETHTOOL_SFEATURES:
        int fail = failing(path);
    if (fail) return fail;
        set_features(&f, cmd);
        return features_store(hr, path, &f);
    default:
        return -EOPNOTSUPP;
    }
}

/* ---- tasks: CPUs and pages ---- */

/* TEXT with the value of its line "FIELD:\t..." replaced by VALUE; NULL
 * when there is no such line. */
static char *field_replaced(const char *text, const char *field, const char *value) {
    size_t fl = strlen(field);
    for (const char *line = text; *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : line + strlen(line)) {
        if (strncmp(line, field, fl) || line[fl] != ':') continue;
        const char *end = strchr(line, '\n');
        if (!end) end = line + strlen(line);
        return xasprintf("%.*s%s:\t%s%s", (int)(line - text), text, field, value, end);
    }
    return NULL;
}

/* Rewrites Cpus_allowed_list in the tree's /proc/TID/status and in each
 * /proc/PID/task/TID/status: where a test's tree keeps a task. */
int fake_kernel_affinity(const HostRoot *hr, pid_t tid, const CpuList *want, CpuList *got) {
    StrVec pids = STRVEC_INIT;
    hostroot_list(hr, "/proc", true, &pids);
    _cleanup_free_ char *list = cpulist_format(want);
    int found = 0, r = 0;
    for (size_t i = 0; i <= pids.n && r >= 0; i++) {
        _cleanup_free_ char *path = i < pids.n ? xasprintf("/proc/%s/task/%ld/status", pids.v[i], (long)tid) : xasprintf("/proc/%ld/status", (long)tid);
        _cleanup_free_ char *text = NULL, *next = NULL;
        if (hostroot_read(hr, path, &text) < 0 || !(next = field_replaced(text, "Cpus_allowed_list", list))) continue;
        if ((r = failing(path)) == 0) r = hostroot_kernel_write(hr, path, next);
        found++;
    }
    strvec_clear(&pids);
    if (r < 0) return r;
    if (!found) return -ESRCH;
    *got = cpulist_sorted(want);
    return 0;
}

/* Every "N<k>=<pages>" of the tree's /proc/PID/numa_maps whose node is not
 * in NODES goes onto the first of them. A fail rule on that file with a
 * positive ERR plays a kernel that moved nothing and says ERR pages
 * stayed; a negative one, a failed call. */
int fake_kernel_migrate_pages(const HostRoot *hr, pid_t pid, const CpuList *nodes) {
    _cleanup_free_ char *path = xasprintf("/proc/%ld/numa_maps", (long)pid), *text = NULL;
    int r = hostroot_read(hr, path, &text);
    if (r < 0) return r == -ENOENT ? -ESRCH : r;
    int fail = failing(path);
    if (fail) return fail;
    if (!nodes->n || nodes->cpu[0] < 0 || nodes->cpu[0] >= 64) return -EINVAL;
    size_t cap = strlen(text) * 2 + 64, len = 0;
    char *out = xcalloc(1, cap);
    for (const char *line = text; *line;) {
        size_t ll = strcspn(line, "\n");
        _cleanup_free_ char *copy = xstrndup(line, ll);
        unsigned long long pages[64] = { 0 };
        /* The line's other words as they were, its node counts after them. */
        for (char *save = NULL, *tok = strtok_r(copy, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
            int node;
            unsigned long long n;
            if (sscanf(tok, "N%d=%llu", &node, &n) == 2 && node >= 0 && node < 64) pages[cpulist_contains(nodes, node) ? node : nodes->cpu[0]] += n;
            else len += (size_t)snprintf(out + len, cap - len, "%s%s", len && out[len - 1] != '\n' ? " " : "", tok);
        }
        for (int node = 0; node < 64; node++)
            if (pages[node]) len += (size_t)snprintf(out + len, cap - len, " N%d=%llu", node, pages[node]);
        len += (size_t)snprintf(out + len, cap - len, "\n");
        line += ll + (line[ll] == '\n');
    }
    r = hostroot_kernel_write(hr, path, out);
    free(out);
    return r < 0 ? r : 0;
}

const HostRootOps fake_kernel_ops = {
    .write = fake_kernel_write,
    .mkdir = fake_kernel_mkdir,
    .rmdir = fake_kernel_rmdir,
    .ethtool = fake_kernel_ethtool,
    .affinity = fake_kernel_affinity,
    .migrate_pages = fake_kernel_migrate_pages,
};
