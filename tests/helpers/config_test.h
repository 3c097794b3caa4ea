/* Loading a vm.ini from a string in unit tests, and looking for an error
 * among the messages (test_vmconf, test_usernet, test_cloudinit). Inline,
 * after <cmocka.h>: the helper objects also link into programs without
 * cmocka (kvmlaunch-faketree).
 *
 * config_load: vmconf_load_buffer of TEXT as "vm.ini", EL empty first.
 * config_all_errors: every message of EL, a line each (the caller frees).
 * config_expect_error: loading TEXT fails (-EINVAL) with a message that
 * holds PHRASE; else the test fails, showing what came. */
#pragma once

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "vmconf.h"

static inline int config_load(const char *text, VmConfig *cfg, ErrList *el) {
    memset(el, 0, sizeof(*el));
    return vmconf_load_buffer("vm.ini", text, strlen(text), cfg, el);
}

static inline char *config_all_errors(const ErrList *el) {
    char *s = xstrdup("");
    for (size_t i = 0; i < el->n; i++) {
        char *t = xasprintf("%s%s\n", s, el->e[i].msg);
        free(s);
        s = t;
    }
    return s;
}

static inline void config_expect_error(const char *text, const char *phrase) {
    VmConfig cfg;
    ErrList el;
    int r = config_load(text, &cfg, &el);
    _cleanup_free_ char *msgs = config_all_errors(&el);
    errlist_clear(&el);
    if (r != -EINVAL || !strstr(msgs, phrase)) fail_msg("expected an error with \"%s\", got r=%d:\n%s", phrase, r, msgs);
}
