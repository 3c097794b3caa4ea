/* A growable, NULL-terminated vector of owned strings (like git's strvec):
 * the QEMU argv and every other list of lines is built with it. */
#ifndef KVMLAUNCH_STRVEC_H
#define KVMLAUNCH_STRVEC_H

#include <stddef.h>

typedef struct StrVec {
    char **v;      /* owned, NULL-terminated once anything was pushed */
    size_t n;
    size_t alloc;
} StrVec;

#define STRVEC_INIT { NULL, 0, 0 }

void strvec_push(StrVec *sv, const char *s);
void strvec_push_take(StrVec *sv, char *s);
void strvec_pushf(StrVec *sv, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void strvec_clear(StrVec *sv);
/* The strings joined by SEP ("" when there are none). Caller frees. */
char *strvec_join(const StrVec *sv, const char *sep);
/* Detach the array; the caller frees it with strv_free(). */
char **strvec_detach(StrVec *sv);
void strv_free(char **v);

#endif
