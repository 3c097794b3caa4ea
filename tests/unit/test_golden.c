/* Golden files, as libvirt's qemuxmlconftest: each tests/golden/NAME.ini is
 * loaded, planned against fake host facts and turned into a QEMU command line;
 * the result must match NAME.args (it loaded) or NAME.err (it was refused).
 * KVMLAUNCH_TEST_REGENERATE=1 rewrites the expected files instead. A data file
 * no case reads fails the suite. tests/golden/README.md describes the format
 * and the `# facts:` directive. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "hostfacts.h"
#include "machinetype.h"
#include "qemucmd.h"
#include "strvec.h"
#include "util.h"
#include "vmconf.h"

/* Where the cases live, absolute; found once in main(). */
static char *golden_dir;
static bool regenerate;

typedef struct Case {
    char *name;                     /* owned: NAME of NAME.ini */
} Case;

static bool has_suffix(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && streq(s + n - m, suffix);
}

static char *golden_path(const char *name, const char *ext) {
    return xasprintf("%s/%s%s", golden_dir, name, ext);
}

static bool file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* The whole file, or NULL when it cannot be read. */
static char *read_all(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, n = 0;
    char *buf = xmalloc(cap + 1);
    size_t k;
    while ((k = fread(buf + n, 1, cap - n, f)) > 0) {
        n += k;
        if (n == cap) buf = xrealloc(buf, (cap *= 2) + 1);
    }
    fclose(f);
    buf[n] = '\0';
    if (size) *size = n;
    return buf;
}

static int write_all(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (!f) return -errno;
    size_t n = strlen(text);
    bool ok = fwrite(text, 1, n, f) == n;
    if (fclose(f) != 0) ok = false;
    return ok ? 0 : -EIO;
}

/* A growing string for the produced text and for messages. */
typedef struct Buf {
    char *s;
    size_t n, cap;
} Buf;

static void buf_addf(Buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void buf_addf(Buf *b, const char *fmt, ...) {
    va_list ap;
    char *p = NULL;
    va_start(ap, fmt);
    int r = vasprintf(&p, fmt, ap);
    va_end(ap);
    if (r < 0) abort();
    if (b->n + (size_t)r + 1 > b->cap) {
        while (b->n + (size_t)r + 1 > b->cap) b->cap = b->cap ? b->cap * 2 : 256;
        b->s = xrealloc(b->s, b->cap);
    }
    memcpy(b->s + b->n, p, (size_t)r + 1);
    b->n += (size_t)r;
    free(p);
}

static char *buf_take(Buf *b) {
    char *s = b->s ? b->s : xstrdup("");
    *b = (Buf){ NULL, 0, 0 };
    return s;
}

/* ---- the `# facts:` directive ---- */

typedef struct PathFact {
    char *path;                     /* owned */
    enum { PF_MISSING, PF_BLOCK, PF_NOTBLOCK, PF_QCOW2, PF_RAW } what;
    bool used;
} PathFact;

typedef struct FactSpec {
    bool nokvm, novhost, root, noport;
    unsigned tsc_khz;               /* tsc=KHZ: the host's TSC rate (boottime.h) */
    StdoutKind stdout_kind;
    char *qemu;                     /* owned; NULL: [vm] qemu or qemu-system-x86_64 */
    char *machine;                  /* owned: the versioned type q35/pc stands for; NULL: as written */
    int machine_source;             /* MachineSource */
    PathFact *paths;                /* owned */
    size_t n_paths;
} FactSpec;

static void factspec_free(FactSpec *fs) {
    for (size_t i = 0; i < fs->n_paths; i++) free(fs->paths[i].path);
    free(fs->paths);
    free(fs->qemu);
    free(fs->machine);
    *fs = (FactSpec){ 0 };
}

/* Parses the first line of DATA; returns NULL or a message saying what is wrong. */
static char *factspec_parse(const char *data, FactSpec *fs) {
    static const char prefix[] = "# facts:";
    *fs = (FactSpec){ .stdout_kind = STDOUT_PIPE };
    if (!strncmp(data, "\xEF\xBB\xBF", 3)) data += 3;
    if (strncmp(data, prefix, sizeof(prefix) - 1)) return NULL;
    const char *p = data + sizeof(prefix) - 1;
    size_t len = strcspn(p, "\r\n");
    _cleanup_free_ char *line = xstrndup(p, len);
    char *save = NULL;
    for (char *w = strtok_r(line, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
        static const struct { const char *key; int what; } path_words[] = {
            { "missing=", PF_MISSING }, { "block=", PF_BLOCK }, { "notblock=", PF_NOTBLOCK }, { "qcow2=", PF_QCOW2 }, { "raw=", PF_RAW },
        };
        if (streq(w, "nokvm")) { fs->nokvm = true; continue; }
        if (streq(w, "novhost")) { fs->novhost = true; continue; }
        if (streq(w, "root")) { fs->root = true; continue; }
        if (streq(w, "noport")) { fs->noport = true; continue; }
        if (streq(w, "stdout=terminal")) { fs->stdout_kind = STDOUT_TERMINAL; continue; }
        if (streq(w, "stdout=pipe")) { fs->stdout_kind = STDOUT_PIPE; continue; }
        if (streq(w, "stdout=other")) { fs->stdout_kind = STDOUT_OTHER; continue; }
        if (!strncmp(w, "tsc=", 4) && w[4]) {
            fs->tsc_khz = (unsigned)strtoul(w + 4, NULL, 10);
            continue;
        }
        if (!strncmp(w, "qemu=", 5) && w[5]) {
            free(fs->qemu);
            fs->qemu = xstrdup(w + 5);
            continue;
        }
        if ((!strncmp(w, "machine-recorded=", 17) && w[17]) || (!strncmp(w, "machine-resolved=", 17) && w[17])) {
            free(fs->machine);
            fs->machine = xstrdup(w + 17);
            fs->machine_source = !strncmp(w, "machine-recorded=", 17) ? MACHINE_RECORDED : MACHINE_RESOLVED;
            continue;
        }
        bool found = false;
        for (size_t i = 0; i < ELEMENTSOF(path_words) && !found; i++) {
            size_t kl = strlen(path_words[i].key);
            if (strncmp(w, path_words[i].key, kl) || !w[kl]) continue;
            fs->paths = xrealloc(fs->paths, (fs->n_paths + 1) * sizeof(PathFact));
            fs->paths[fs->n_paths++] = (PathFact){ xstrdup(w + kl), path_words[i].what, false };
            found = true;
        }
        if (!found) return xasprintf("unknown word \"%s\" in the # facts: line (see tests/golden/README.md)", w);
    }
    return NULL;
}

static PathFact *factspec_find(FactSpec *fs, const char *path, int what) {
    for (size_t i = 0; i < fs->n_paths; i++)
        if ((int)fs->paths[i].what == what && streq(fs->paths[i].path, path)) {
            fs->paths[i].used = true;
            return &fs->paths[i];
        }
    return NULL;
}

static void facts_build(const VmConfig *cfg, FactSpec *fs, HostFacts *f) {
    memset(f, 0, sizeof(*f));
    f->kvm_usable = !fs->nokvm;
    f->tsc_khz = fs->tsc_khz;
    f->vhost_net_usable = !fs->novhost;
    f->running_as_root = fs->root;
    f->stdout_kind = fs->stdout_kind;
    f->qemu_binary = xstrdup(fs->qemu ? fs->qemu : cfg->vm.qemu ? cfg->vm.qemu : "qemu-system-x86_64");
    f->runtime_dir = xasprintf("/run/kvmlaunch/%s", cfg->vm.name);
    f->machine_type = fs->machine ? xstrdup(fs->machine) : NULL;
    f->machine_source = fs->machine_source;
    f->n_disks = cfg->n_disks;
    f->disks = xcalloc(cfg->n_disks, sizeof(DiskFacts));
    for (size_t i = 0; i < cfg->n_disks; i++) {
        const char *file = cfg->disks[i].file;
        DiskFacts *d = &f->disks[i];
        d->exists = !factspec_find(fs, file, PF_MISSING);
        d->is_block = !strncmp(file, "/dev/", 5);
        if (factspec_find(fs, file, PF_BLOCK)) d->is_block = true;
        if (factspec_find(fs, file, PF_NOTBLOCK)) d->is_block = false;
        d->detected_format = has_suffix(file, ".qcow2") ? FORMAT_QCOW2 : FORMAT_RAW;
        if (factspec_find(fs, file, PF_QCOW2)) d->detected_format = FORMAT_QCOW2;
        if (factspec_find(fs, file, PF_RAW)) d->detected_format = FORMAT_RAW;
        if (!d->exists) *d = (DiskFacts){ false, false, FORMAT_RAW };
    }
    /* mode = user: a written host port as it is, auto ones 40000, 40001,
     * ... in file order (the probe's choice, made stable); noport: the
     * probe found none for auto. */
    f->user_nets = xcalloc(cfg->n_nets ? cfg->n_nets : 1, sizeof(UserNetFacts));
    int next_port = 40000;
    for (size_t i = 0; i < cfg->n_nets; i++) {
        const NetForwards *fw = &cfg->nets[i].forward;
        f->user_nets[i].n = fw->n;
        f->user_nets[i].fwd = xcalloc(fw->n ? fw->n : 1, sizeof(FwdFact));
        for (size_t k = 0; k < fw->n; k++)
            f->user_nets[i].fwd[k] = fs->noport && !fw->v[k].host_port ? (FwdFact){ 0, -EADDRNOTAVAIL }
                                   : (FwdFact){ fw->v[k].host_port ? fw->v[k].host_port : next_port++, 0 };
    }
    hostfacts_assign_fds(cfg, f);
}

/* ---- one case ---- */

static void add_lines(Buf *out, const ErrList *el, const char *prefix) {
    for (size_t i = 0; i < el->n; i++) buf_addf(out, "%s%s\n", prefix, el->e[i].msg);
    if (el->full) buf_addf(out, "%sstopped after %d messages; fix these first\n", prefix, ERRLIST_MAX);
}

/* Loads NAME.ini as `NAME.ini` (so messages name it the way a user in that
 * directory would see them) and produces the text to compare. *ok says which
 * file it belongs in. Returns NULL or a message about the case itself. */
static char *case_produce(const char *name, char **text, bool *ok) {
    *text = NULL;
    _cleanup_free_ char *ini = golden_path(name, ".ini");
    _cleanup_free_ char *data = read_all(ini, NULL);
    if (!data) return xasprintf("%s: cannot read: %s", ini, strerror(errno));
    FactSpec fs;
    char *msg = factspec_parse(data, &fs);
    if (msg) {
        factspec_free(&fs);
        return msg;
    }

    _cleanup_free_ char *base = xasprintf("%s.ini", name);
    VmConfig cfg;
    ErrList errors = { 0 };
    _cleanup_close_ int cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (cwd < 0 || chdir(golden_dir) < 0) {
        factspec_free(&fs);
        return xasprintf("cannot change into %s: %s", golden_dir, strerror(errno));
    }
    int r = vmconf_load_file(base, &cfg, &errors);
    if (fchdir(cwd) < 0) abort();

    Buf out = { 0 };
    if (r < 0) {
        add_lines(&out, &errors, "");
        errlist_clear(&errors);
        factspec_free(&fs);
        *ok = false;
        *text = buf_take(&out);
        return NULL;
    }

    HostFacts facts;
    facts_build(&cfg, &fs, &facts);
    StrVec argv = STRVEC_INIT;
    ErrList notes = { 0 };
    r = qemucmd_build(&cfg, &facts, &argv, &errors, &notes);
    add_lines(&out, &cfg.notes, "# note: ");
    add_lines(&out, &notes, "# note: ");
    if (r < 0) {
        add_lines(&out, &errors, "");
        *ok = false;
    } else {
        char *cmd = qemucmd_render(argv.v);
        buf_addf(&out, "%s", cmd);
        free(cmd);
        *ok = true;
    }
    for (size_t i = 0; i < fs.n_paths && !msg; i++)
        if (!fs.paths[i].used) msg = xasprintf("# facts: names %s, which is the file of no [disk] with that fact", fs.paths[i].path);
    strvec_clear(&argv);
    errlist_clear(&notes);
    errlist_clear(&errors);
    hostfacts_free(&facts);
    vmconf_free(&cfg);
    factspec_free(&fs);
    *text = buf_take(&out);
    return msg;
}

static size_t count_lines(const char *s) {
    size_t n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

/* Expected vs got, from the first line that differs; NULL when equal. */
static char *compare(const char *file, const char *expected, const char *got) {
    if (streq(expected, got)) return NULL;
    Buf m = { 0 };
    size_t line = 1;
    const char *e = expected, *g = got;
    const char *e_line = e, *g_line = g;
    while (*e && *e == *g) {
        if (*e == '\n') {
            line++;
            e_line = e + 1;
            g_line = g + 1;
        }
        e++;
        g++;
    }
    int el = (int)strcspn(e_line, "\n"), gl = (int)strcspn(g_line, "\n");
    buf_addf(&m, "%s: line %zu differs (expected %zu lines, got %zu):\n", file, line, count_lines(expected), count_lines(got));
    buf_addf(&m, "- expected: %s%.*s\n", *e_line ? "" : "(end of file)", el, e_line);
    buf_addf(&m, "+ got:      %s%.*s\n", *g_line ? "" : "(end of file)", gl, g_line);
    buf_addf(&m, "the whole output was:\n%s", got);
    buf_addf(&m, "(review it, then KVMLAUNCH_TEST_REGENERATE=1 rewrites %s)\n", file);
    return buf_take(&m);
}

static char *case_check(const char *name) {
    _cleanup_free_ char *args = golden_path(name, ".args");
    _cleanup_free_ char *err = golden_path(name, ".err");
    bool has_args = file_exists(args), has_err = file_exists(err);
    if (!regenerate && has_args && has_err)
        return xasprintf("%s.ini has both %s.args and %s.err: exactly one may exist", name, name, name);
    if (!regenerate && !has_args && !has_err)
        return xasprintf("%s.ini has neither %s.args nor %s.err (KVMLAUNCH_TEST_REGENERATE=1 creates it)", name, name, name);

    _cleanup_free_ char *got = NULL;
    bool ok = false;
    char *msg = case_produce(name, &got, &ok);
    if (msg) return msg;
    const char *want_path = ok ? args : err, *other = ok ? err : args;
    if (regenerate) {
        int r = write_all(want_path, got);
        if (r < 0) return xasprintf("cannot write %s: %s", want_path, strerror(-r));
        if (file_exists(other) && unlink(other) < 0) return xasprintf("cannot remove %s: %s", other, strerror(errno));
        print_message("regenerated %s%s\n", name, ok ? ".args" : ".err");
        return NULL;
    }
    if (!file_exists(want_path))
        return xasprintf("%s.ini %s, but only %s%s exists; got:\n%s", name, ok ? "loaded and built" : "was refused", name,
                         ok ? ".err" : ".args", got);
    _cleanup_free_ char *expected = read_all(want_path, NULL);
    if (!expected) return xasprintf("cannot read %s: %s", want_path, strerror(errno));
    _cleanup_free_ char *shown = xasprintf("%s%s", name, ok ? ".args" : ".err");
    return compare(shown, expected, got);
}

/* cmocka's print_error() cuts messages at 1 KiB; a whole command line is longer. */
static void report(const char *msg) {
    fflush(stdout);
    fputs(msg, stderr);
    if (*msg && msg[strlen(msg) - 1] != '\n') fputc('\n', stderr);
    fflush(stderr);
}

static void test_case(void **state) {
    const Case *c = *state;
    char *msg = case_check(c->name);
    if (msg) {
        report(msg);
        free(msg);
        fail();
    }
}

/* Every file is NAME.ini, or NAME.args / NAME.err of an existing NAME.ini,
 * or README.md: anything else is data that no test reads. */
static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void test_unused_files(void **state) {
    (void)state;
    DIR *d = opendir(golden_dir);
    assert_non_null(d);
    StrVec unused = STRVEC_INIT;
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *n = de->d_name;
        if (streq(n, ".") || streq(n, "..") || streq(n, "README.md") || (has_suffix(n, ".ini") && strlen(n) > 4)) continue;
        const char *ext = has_suffix(n, ".args") ? ".args" : has_suffix(n, ".err") ? ".err" : NULL;
        if (ext) {
            _cleanup_free_ char *stem = xstrndup(n, strlen(n) - strlen(ext));
            _cleanup_free_ char *ini = golden_path(stem, ".ini");
            if (*stem && file_exists(ini)) continue;
        }
        strvec_push(&unused, n);
    }
    closedir(d);
    if (!unused.n) return;
    qsort(unused.v, unused.n, sizeof(char *), cmp_str);
    Buf m = { 0 };
    for (size_t i = 0; i < unused.n; i++)
        buf_addf(&m, "tests/golden/%s: no test reads it (expected NAME.ini, or NAME.args / NAME.err beside NAME.ini)\n", unused.v[i]);
    strvec_clear(&unused);
    char *text = buf_take(&m);
    report(text);
    free(text);
    fail();
}

/* ---- finding the cases ---- */

/* KVMLAUNCH_GOLDEN_DIR, else tests/golden below the working directory (the
 * repository root, where tests/run-tests.sh runs us), else below the
 * repository that holds this program (build/VARIANT/tests/unit/). */
static char *find_golden_dir(void) {
    const char *env = getenv("KVMLAUNCH_GOLDEN_DIR");
    char resolved[PATH_MAX];
    if (env && *env) return realpath(env, resolved) ? xstrdup(resolved) : NULL;
    if (realpath("tests/golden", resolved)) return xstrdup(resolved);
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0) return NULL;
    exe[n] = '\0';
    for (int up = 0; up < 5; up++) {
        char *slash = strrchr(exe, '/');
        if (!slash) return NULL;
        *slash = '\0';
    }
    _cleanup_free_ char *cand = xasprintf("%s/tests/golden", exe);
    return realpath(cand, resolved) ? xstrdup(resolved) : NULL;
}

int main(void) {
    golden_dir = find_golden_dir();
    if (!golden_dir) {
        fprintf(stderr, "test_golden: cannot find tests/golden (run from the repository root or set KVMLAUNCH_GOLDEN_DIR)\n");
        return 1;
    }
    const char *regen = getenv("KVMLAUNCH_TEST_REGENERATE");
    regenerate = regen && *regen && !streq(regen, "0");

    StrVec names = STRVEC_INIT;
    DIR *d = opendir(golden_dir);
    if (!d) {
        fprintf(stderr, "test_golden: %s: %s\n", golden_dir, strerror(errno));
        free(golden_dir);
        return 1;
    }
    struct dirent *de;
    while ((de = readdir(d)))
        if (has_suffix(de->d_name, ".ini") && strlen(de->d_name) > 4) strvec_push_take(&names, xstrndup(de->d_name, strlen(de->d_name) - 4));
    closedir(d);
    if (names.n) qsort(names.v, names.n, sizeof(char *), cmp_str);

    size_t n_tests = names.n + 1;
    struct CMUnitTest *tests = xcalloc(n_tests, sizeof(*tests));
    Case *cases = xcalloc(names.n ? names.n : 1, sizeof(Case));
    for (size_t i = 0; i < names.n; i++) {
        cases[i].name = names.v[i];
        tests[i] = (struct CMUnitTest){ .name = cases[i].name, .test_func = test_case, .initial_state = &cases[i] };
    }
    tests[names.n] = (struct CMUnitTest){ .name = "unused_data_files", .test_func = test_unused_files };
    int rc = names.n ? _cmocka_run_group_tests("golden", tests, n_tests, NULL, NULL) : 1;
    if (!names.n) fprintf(stderr, "test_golden: no cases in %s\n", golden_dir);

    free(tests);
    free(cases);
    strvec_clear(&names);
    free(golden_dir);
    return rc;
}
