#include "strvec.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

void strvec_push_take(StrVec *sv, char *s) {
    if (sv->n + 2 > sv->alloc) {
        sv->alloc = sv->alloc ? sv->alloc * 2 : 16;
        sv->v = xrealloc(sv->v, sv->alloc * sizeof(char *));
    }
    sv->v[sv->n++] = s;
    sv->v[sv->n] = NULL;
}

void strvec_push(StrVec *sv, const char *s) { strvec_push_take(sv, xstrdup(s)); }

void strvec_pushf(StrVec *sv, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *p = xvasprintf(fmt, ap);
    va_end(ap);
    strvec_push_take(sv, p);
}

void strv_free(char **v) {
    if (!v) return;
    for (char **p = v; *p; p++) free(*p);
    free(v);
}

void strvec_clear(StrVec *sv) {
    for (size_t i = 0; i < sv->n; i++) free(sv->v[i]);
    free(sv->v);
    *sv = (StrVec)STRVEC_INIT;
}

char *strvec_join(const StrVec *sv, const char *sep) {
    size_t len = 1;
    for (size_t i = 0; i < sv->n; i++) len += strlen(sv->v[i]) + strlen(sep);
    char *s = xcalloc(1, len);
    for (size_t i = 0; i < sv->n; i++) {
        if (i) strcat(s, sep);
        strcat(s, sv->v[i]);
    }
    return s;
}

char **strvec_detach(StrVec *sv) {
    char **v = sv->v;
    if (!v) v = xcalloc(1, sizeof(char *));
    *sv = (StrVec)STRVEC_INIT;
    return v;
}
