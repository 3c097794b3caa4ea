#include "fake_root.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_host.h"
#include "fake_kernel.h"
#include "hostroot.h"
#include "util.h"

int test_sh(const char *fmt, ...) {
    va_list ap;
    char *cmd = NULL;
    va_start(ap, fmt);
    if (vasprintf(&cmd, fmt, ap) < 0) abort();
    va_end(ap);
    int r = system(cmd);
    free(cmd);
    return r;
}

int fake_root_setup(FakeRoot *f, const char *scenario) {
    strcpy(f->dir, "/tmp/kvmlaunch-fakeroot-XXXXXX");
    if (!mkdtemp(f->dir)) {
        perror("mkdtemp");
        return -1;
    }
    f->root = xasprintf("%s/root", f->dir);
    f->orig = xasprintf("tests/hostroot/%s", scenario);
    if (test_sh("cp -a %s %s", f->orig, f->root) != 0) return -1;
    setenv("KVMLAUNCH_ROOT", f->root, 1);
    _cleanup_free_ char *run = xasprintf("%s/run", f->dir);
    setenv("KVMLAUNCH_RUNDIR", run, 1);
    /* The tree's list files and NICs answer as the kernel's do. */
    hostroot_set_ops_override(&fake_host_ops, NULL);
    return 0;
}

void fake_root_teardown(FakeRoot *f) {
    test_sh("rm -rf %s", f->dir);
    unsetenv("KVMLAUNCH_ROOT");
    unsetenv("KVMLAUNCH_RUNDIR");
    hostroot_set_ops_override(NULL, NULL);
    fake_kernel_fail(NULL, 0);
    free(f->root);
    free(f->orig);
    f->root = f->orig = NULL;
}

bool fake_root_unchanged(const FakeRoot *f) { return test_sh("diff -r %s %s >&2", f->orig, f->root) == 0; }

char *fake_root_read(const FakeRoot *f, const char *path) {
    _cleanup_free_ char *full = xasprintf("%s%s", f->root, path);
    FILE *fp = fopen(full, "re");
    if (!fp) return xstrdup("(missing)");
    char *buf = NULL;
    size_t cap = 0;
    ssize_t n = getdelim(&buf, &cap, '\0', fp);
    fclose(fp);
    if (n < 0) {
        free(buf);
        return xstrdup("");
    }
    return buf;
}

int fake_root_write(const FakeRoot *f, const char *path, const char *text) {
    _cleanup_free_ char *full = xasprintf("%s%s", f->root, path);
    _cleanup_free_ char *dir = xstrdup(full);
    *strrchr(dir, '/') = 0;
    if (test_sh("mkdir -p %s", dir) != 0) return -1;
    FILE *fp = fopen(full, "we");
    if (!fp) return -1;
    fputs(text, fp);
    return fclose(fp) == 0 ? 0 : -1;
}
