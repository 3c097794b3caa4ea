/* Shared by the libFuzzer harnesses (tests/fuzz/fuzz_*.c) and the replay
 * driver that runs their corpora in the ordinary builds
 * (tests/unit/test_fuzz_replay.c, which includes every harness into one
 * file with FUZZ_REPLAY defined). Header-only, everything static inline, so
 * that one translation unit can hold all of it. */
#ifndef KVMLAUNCH_FUZZ_COMMON_H
#define KVMLAUNCH_FUZZ_COMMON_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The harnesses: one input each. Always 0 (libFuzzer's contract); a broken
 * invariant aborts instead. */
int fuzz_config_one(const uint8_t *data, size_t size);
int fuzz_qmp_one(const uint8_t *data, size_t size);
int fuzz_kfiles_one(const uint8_t *data, size_t size);

#ifndef FUZZ_REPLAY
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
#endif

/* A broken invariant: said on stderr, then abort(), so that libFuzzer keeps
 * the input as a crash and the replay test fails with the message. The
 * input being run is named by the replay driver before each run. */
static inline __attribute__((noreturn, format(printf, 4, 5))) void fuzz_fail(const char *file, int line, const char *cond,
                                                                               const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "\nfuzz invariant broken at %s:%d: %s\n    ", file, line, cond);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

#define FUZZ_CHECK(cond, ...)                                                   \
    do {                                                                        \
        if (!(cond)) fuzz_fail(__FILE__, __LINE__, #cond, __VA_ARGS__);         \
    } while (0)

/* The first byte below 0x20 or 0x7f in S (a control character), or -1. */
static inline long fuzz_find_control(const char *s) {
    for (long i = 0; s[i]; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) return i;
    return -1;
}

/* The same, allowing newlines (multi-line renderings). */
static inline long fuzz_find_control_but_newline(const char *s) {
    for (long i = 0; s[i]; i++)
        if (((unsigned char)s[i] < 0x20 && s[i] != '\n') || s[i] == 0x7f) return i;
    return -1;
}

/* The fuzz input as a C string (NUL-terminated copy; an embedded NUL ends
 * it early, as it would for any reader of a C string). Caller frees. */
static inline char *fuzz_cstring(const uint8_t *data, size_t size) {
    char *s = malloc(size + 1);
    if (!s) abort();
    if (size) memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

#endif
