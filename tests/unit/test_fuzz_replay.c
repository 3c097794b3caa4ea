/* The fuzz corpora, replayed in the ordinary builds (gcc, plain and
 * ASan+UBSan) without libFuzzer: every file of tests/fuzz/corpus/NAME and
 * tests/fuzz/regress/NAME goes through the same harness code as in
 * `make fuzz` (the harnesses are compiled into this file), so a crash the
 * fuzzer once found stays a test case, and the invariants hold for every
 * seed. A broken invariant or a sanitizer report names the input and ends
 * the program (exit not 0); `make fuzz` is tests/fuzz/README.md.
 *
 * No cmocka here on purpose: its signal handlers would swallow the name of
 * the input that crashed. */
#define FUZZ_REPLAY 1

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../fuzz/fuzz_common.h"
#include "../fuzz/fuzz_config.c"
#include "../fuzz/fuzz_kfiles.c"
#include "../fuzz/fuzz_qmp.c"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#define REPLAY_SANITIZED 1
#endif

static char replay_current[4096];

static void replay_say_input(void) {
    if (!replay_current[0]) return;
    static const char head[] = "\nfuzz replay: the input was ";
    /* write(2) only: this also runs in a signal handler. */
    ssize_t r = write(STDERR_FILENO, head, sizeof(head) - 1);
    r = write(STDERR_FILENO, replay_current, strlen(replay_current));
    r = write(STDERR_FILENO, "\n", 1);
    (void)r;
}

static void replay_on_signal(int sig) {
    replay_say_input();
    signal(sig, SIG_DFL);
    raise(sig);
}

typedef struct Harness {
    const char *name;
    int (*one)(const uint8_t *data, size_t size);
} Harness;

static int cmp_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Runs every file of DIR through H, in name order; how many. -1 when DIR
 * cannot be read. */
static long replay_dir(const Harness *h, const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    StrVec names = STRVEC_INIT;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.' && !streq(e->d_name, "README.md")) strvec_push(&names, e->d_name);
    closedir(d);
    if (names.n) qsort(names.v, names.n, sizeof(char *), cmp_names);
    long n = 0;
    for (size_t i = 0; i < names.n; i++) {
        snprintf(replay_current, sizeof(replay_current), "%s/%s", dir, names.v[i]);
        FILE *f = fopen(replay_current, "rb");
        if (!f) {
            fprintf(stderr, "fuzz replay: cannot open %s\n", replay_current);
            exit(1);
        }
        struct stat st;
        if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode)) {
            fclose(f);
            continue;
        }
        size_t size = (size_t)st.st_size;
        uint8_t *data = xmalloc(size ? size : 1);
        size_t got = fread(data, 1, size, f);
        fclose(f);
        if (got != size) {
            fprintf(stderr, "fuzz replay: short read of %s\n", replay_current);
            exit(1);
        }
        h->one(data, size);
        free(data);
        n++;
    }
    replay_current[0] = '\0';
    strvec_clear(&names);
    return n;
}

int main(void) {
    static const Harness harnesses[] = { { "config", fuzz_config_one }, { "qmp", fuzz_qmp_one }, { "kfiles", fuzz_kfiles_one } };
#ifdef REPLAY_SANITIZED
    /* ASan and UBSan report crashes themselves, then call this; abort()
     * from a broken invariant is left to the handler. */
    __sanitizer_set_death_callback(replay_say_input);
    signal(SIGABRT, replay_on_signal);
#else
    static const int sigs[] = { SIGABRT, SIGSEGV, SIGFPE, SIGBUS, SIGILL };
    for (size_t i = 0; i < ELEMENTSOF(sigs); i++) signal(sigs[i], replay_on_signal);
#endif
    struct stat st;
    if (stat("tests/fuzz/corpus", &st) < 0) {
        fprintf(stderr, "test_fuzz_replay: run from the repository root (tests/fuzz/corpus not found)\n");
        return 1;
    }
    int failed = 0;
    for (size_t i = 0; i < ELEMENTSOF(harnesses); i++) {
        const Harness *h = &harnesses[i];
        _cleanup_free_ char *corpus = xasprintf("tests/fuzz/corpus/%s", h->name);
        _cleanup_free_ char *regress = xasprintf("tests/fuzz/regress/%s", h->name);
        long nc = replay_dir(h, corpus), nr = replay_dir(h, regress);
        if (nc <= 0) {
            fprintf(stderr, "fuzz replay %s: no seed corpus in %s\n", h->name, corpus);
            failed = 1;
        }
        printf("fuzz replay %s: %ld corpus and %ld regress inputs, every invariant held\n", h->name, nc, nr < 0 ? 0 : nr);
    }
    return failed;
}
