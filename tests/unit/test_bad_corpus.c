/* The bad-input corpus (tests/bad, issue 7) through the loader in one
 * process, so the ASan build sees every case cheaply (tests/cli/
 * test_bad_inputs.sh runs them through the binary). Each NAME.ini is loaded
 * from inside tests/bad: a case with `# expect-check: 1` must load (the host
 * checks refuse it later); any other must be refused with at most
 * ERRLIST_MAX messages, every one starting `NAME.ini:LINE: `, and one of them
 * matching its `# expect:` regex (FILE standing for NAME.ini), and the
 * section and key each names in its fields named in its text too. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "strvec.h"
#include "util.h"
#include "vmconf.h"

typedef struct Case {
    char *file;                     /* NAME.ini, owned by the name list */
} Case;

/* "# KEY: VALUE" among the first lines, or NULL. */
static char *header_value(const char *file, const char *key) {
    FILE *f = fopen(file, "rb");
    if (!f) return NULL;
    char line[1024];
    _cleanup_free_ char *prefix = xasprintf("# %s: ", key);
    char *found = NULL;
    for (int i = 0; i < 6 && !found && fgets(line, sizeof(line), f); i++) {
        char *p = line;
        while (!memcmp(p, "\xEF\xBB\xBF", 3)) p += 3;
        if (strncmp(p, prefix, strlen(prefix))) continue;
        p += strlen(prefix);
        p[strcspn(p, "\n")] = '\0';
        found = xstrdup(p);
    }
    fclose(f);
    return found;
}

/* MSG with its leading FILE written "FILE". */
static char *as_file(const char *msg, const char *file) {
    size_t n = strlen(file);
    if (!strncmp(msg, file, n)) return xasprintf("FILE%s", msg + n);
    return xstrdup(msg);
}

/* The structured fields of E agree with its text: a message about SECTION
 * (and KEY) reads "FILE:LINE: [SECTION...] KEY: " after the place; one about
 * none names no section of the schema there. The topics of `kvmlaunch check`
 * are picked from the fields, the user reads the text. */
static void check_fields(const char *file, const ErrEntry *e) {
    const char *p = strstr(e->msg, ": ");
    if (!p) fail_msg("%s: no \": \" in %s", file, e->msg);
    p += 2;
    if (!e->section) {
        if (e->key) fail_msg("%s: a key (%s) without a section: %s", file, e->key, e->msg);
        for (SectionKind k = 0; k < SECTION__MAX; k++) {
            _cleanup_free_ char *plain = xasprintf("[%s]", section_kind_name(k));
            _cleanup_free_ char *named = xasprintf("[%s \"", section_kind_name(k));
            if (!strncmp(p, plain, strlen(plain)) || !strncmp(p, named, strlen(named)))
                fail_msg("%s: names [%s] in its text but no section in its fields: %s", file, section_kind_name(k), e->msg);
        }
        return;
    }
    _cleanup_free_ char *open = xasprintf("[%s", e->section);
    if (strncmp(p, open, strlen(open)) || (p[strlen(open)] != ']' && p[strlen(open)] != ' '))
        fail_msg("%s: section %s in its fields, not in its text: %s", file, e->section, e->msg);
    const char *close = strchr(p, ']');
    assert_non_null(close);
    _cleanup_free_ char *tail = e->key ? xasprintf("] %s: ", e->key) : xstrdup("]: ");
    if (strncmp(close, tail, strlen(tail)))
        fail_msg("%s: key %s in its fields, the text says otherwise: %s", file, e->key ? e->key : "(none)", e->msg);
}

static void test_case(void **state) {
    const Case *c = *state;
    _cleanup_free_ char *expect = header_value(c->file, "expect");
    _cleanup_free_ char *host = header_value(c->file, "expect-check");
    if (!expect) fail_msg("%s: no `# expect: REGEX` line", c->file);
    ErrList errors = { 0 };
    VmConfig cfg;
    int r = vmconf_load_file(c->file, &cfg, &errors);
    if (host) {
        for (size_t i = 0; i < errors.n; i++) print_message("%s\n", errors.e[i].msg);
        if (r < 0) fail_msg("%s: refused while loading, but the case is one the host checks refuse", c->file);
        vmconf_free(&cfg);
        errlist_clear(&errors);
        return;
    }
    if (r >= 0) {
        vmconf_free(&cfg);
        fail_msg("%s: loaded, but the case must be refused", c->file);
    }
    regex_t re;
    if (regcomp(&re, expect, REG_EXTENDED | REG_NOSUB)) fail_msg("%s: bad regex %s", c->file, expect);
    bool matched = false;
    assert_true(errors.n >= 1);
    assert_true(errors.n <= ERRLIST_MAX);
    for (size_t i = 0; i < errors.n; i++) {
        _cleanup_free_ char *m = as_file(errors.e[i].msg, c->file);
        /* FILE:LINE: , or FILE: where the file as a whole is refused. */
        const char *p = m;
        bool named = !strncmp(p, "FILE:", 5);
        if (named) {
            p += 5;
            if (isdigit((unsigned char)*p)) {
                while (isdigit((unsigned char)*p)) p++;
                named = *p == ':' && p[1] == ' ';
            } else {
                named = *p == ' ';
            }
        }
        if (!named) print_message("%s: a message that names no FILE:LINE: %s\n", c->file, m);
        assert_true(named);
        check_fields(c->file, &errors.e[i]);
        matched |= regexec(&re, m, 0, NULL, 0) == 0;
    }
    if (errors.full) matched |= regexec(&re, "stopped after 50 messages; fix these first", 0, NULL, 0) == 0;
    regfree(&re);
    if (!matched)
        for (size_t i = 0; i < errors.n; i++) print_message("  %s\n", errors.e[i].msg);
    errlist_clear(&errors);
    if (!matched) fail_msg("%s: no message matches /%s/", c->file, expect);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int main(void) {
    const char *dir = getenv("KVMLAUNCH_BAD_DIR");
    if (!dir || !*dir) dir = "tests/bad";
    if (chdir(dir) < 0) {
        fprintf(stderr, "test_bad_corpus: cannot enter %s (run from the repository root or set KVMLAUNCH_BAD_DIR): %s\n", dir, strerror(errno));
        return 1;
    }
    StrVec names = STRVEC_INIT;
    DIR *d = opendir(".");
    struct dirent *de;
    while (d && (de = readdir(d))) {
        size_t n = strlen(de->d_name);
        if (n > 4 && streq(de->d_name + n - 4, ".ini")) strvec_push(&names, de->d_name);
    }
    if (d) closedir(d);
    if (names.n < 100) {
        fprintf(stderr, "test_bad_corpus: %zu cases in %s, expected at least 100\n", names.n, dir);
        strvec_clear(&names);
        return 1;
    }
    qsort(names.v, names.n, sizeof(char *), cmp_str);
    struct CMUnitTest *tests = xcalloc(names.n, sizeof(*tests));
    Case *cases = xcalloc(names.n, sizeof(Case));
    for (size_t i = 0; i < names.n; i++) {
        cases[i].file = names.v[i];
        tests[i] = (struct CMUnitTest){ .name = names.v[i], .test_func = test_case, .initial_state = &cases[i] };
    }
    int rc = _cmocka_run_group_tests("bad_corpus", tests, names.n, NULL, NULL);
    free(tests);
    free(cases);
    strvec_clear(&names);
    return rc;
}
