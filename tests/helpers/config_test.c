/* tests/helpers/config_test.h */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config_test.h"
#include "util.h"

int config_load(const char *text, VmConfig *cfg, ErrList *el) {
    memset(el, 0, sizeof(*el));
    return vmconf_load_buffer("vm.ini", text, strlen(text), cfg, el);
}

char *config_all_errors(const ErrList *el) {
    char *s = xstrdup("");
    for (size_t i = 0; i < el->n; i++) {
        char *t = xasprintf("%s%s\n", s, el->e[i].msg);
        free(s);
        s = t;
    }
    return s;
}

void config_expect_error(const char *text, const char *phrase) {
    VmConfig cfg;
    ErrList el;
    int r = config_load(text, &cfg, &el);
    _cleanup_free_ char *msgs = config_all_errors(&el);
    errlist_clear(&el);
    if (r != -EINVAL || !strstr(msgs, phrase)) fail_msg("expected an error with \"%s\", got r=%d:\n%s", phrase, r, msgs);
}
