/* Printing a command line so a person can read it and paste it. */
#include <stdio.h>
#include <string.h>

#include "qemucmd.h"
#include "util.h"

char *shell_quote(const char *s) {
    static const char safe[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_@%+=:,./-";
    if (*s && strspn(s, safe) == strlen(s)) return xstrdup(s);
    size_t n = 2;
    for (const char *p = s; *p; p++) n += *p == '\'' ? 4 : 1;
    char *out = xmalloc(n + 1), *o = out;
    *o++ = '\'';
    for (const char *p = s; *p; p++) {
        if (*p == '\'') {
            memcpy(o, "'\\''", 4);
            o += 4;
        } else {
            *o++ = *p;
        }
    }
    *o++ = '\'';
    *o = '\0';
    return out;
}

/* The options kvmlaunch writes that take no value. */
static bool takes_value(const char *opt) {
    static const char *const flags[] = { "-S", "-nodefaults", "-no-user-config" };
    for (size_t i = 0; i < ELEMENTSOF(flags); i++)
        if (streq(opt, flags[i])) return false;
    return true;
}

char *qemucmd_render(char *const *argv) {
    size_t cap = 256, len = 0;
    char *out = xmalloc(cap);
    out[0] = '\0';
    for (size_t i = 0; argv[i]; i++) {
        _cleanup_free_ char *a = shell_quote(argv[i]);
        _cleanup_free_ char *b = NULL;
        if (i > 0 && argv[i][0] == '-' && takes_value(argv[i]) && argv[i + 1]) b = shell_quote(argv[++i]);
        size_t need = len + strlen(a) + (b ? strlen(b) + 1 : 0) + 10;
        if (need > cap) {
            while (need > cap) cap *= 2;
            out = xrealloc(out, cap);
        }
        len += (size_t)sprintf(out + len, "%s%s%s%s", i ? " \\\n    " : "", a, b ? " " : "", b ? b : "");
    }
    strcpy(out + len, "\n");
    return out;
}
