#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "schema.h"
#include "util.h"
#include "vmconf.h"

void errlist_add_aboutv(ErrList *el, int line, const char *section, const char *key, const char *fmt, va_list ap) {
    if (el->full) return;
    if (el->n == ERRLIST_MAX) {
        el->full = true;
        return;
    }
    if (el->n == el->alloc) {
        el->alloc = el->alloc ? el->alloc * 2 : 8;
        el->e = xrealloc(el->e, el->alloc * sizeof(*el->e));
    }
    char *msg = xvasprintf(fmt, ap);
    el->e[el->n++] = (ErrEntry){ line, section, key ? xstrdup(key) : NULL, msg };
}

void errlist_add_about(ErrList *el, int line, const char *section, const char *key, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    errlist_add_aboutv(el, line, section, key, fmt, ap);
    va_end(ap);
}

void errlist_addf(ErrList *el, int line, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    errlist_add_aboutv(el, line, NULL, NULL, fmt, ap);
    va_end(ap);
}

static int cmp_entry(const void *a, const void *b) {
    const ErrEntry *x = a, *y = b;
    return (x->line > y->line) - (x->line < y->line);
}

void errlist_sort(ErrList *el) {
    /* Insertion sort: stable, so messages of one line keep the order they
     * were found in (qsort is not), and lists are short (ERRLIST_MAX). */
    for (size_t i = 1; i < el->n; i++) {
        ErrEntry cur = el->e[i];
        size_t j = i;
        while (j > 0 && cmp_entry(&el->e[j - 1], &cur) > 0) {
            el->e[j] = el->e[j - 1];
            j--;
        }
        el->e[j] = cur;
    }
}

void errlist_clear(ErrList *el) {
    for (size_t i = 0; i < el->n; i++) {
        free(el->e[i].key);
        free(el->e[i].msg);
    }
    free(el->e);
    *el = (ErrList){ 0 };
}

void errlist_add_keyv(ErrList *el, const char *file, SectionKind kind, const SectionHead *head, const char *key, const char *fmt,
                      va_list ap) {
    char buf[1024];
    vsnprintf(buf, sizeof(buf), fmt, ap);
    int line = key ? section_key_line(kind, head, key) : head->line;
    if (line <= 0) line = 1;
    _cleanup_free_ char *label = section_label(kind, head);
    errlist_add_about(el, line, section_kind_name(kind), key, "%s:%d: %s%s%s: %s", file, line, label, key ? " " : "", key ? key : "",
                      buf);
}

void errlist_add_key(ErrList *el, const char *file, SectionKind kind, const SectionHead *head, const char *key, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    errlist_add_keyv(el, file, kind, head, key, fmt, ap);
    va_end(ap);
}
