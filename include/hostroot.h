/* Every /sys, /proc, /dev and cgroup path kvmlaunch reads or writes goes
 * through a HostRoot: a directory fd opened once, "/" on a real host or the
 * fake tree named by $KVMLAUNCH_ROOT in tests (DESIGN.md). */
#ifndef KVMLAUNCH_HOSTROOT_H
#define KVMLAUNCH_HOSTROOT_H

#include <stdbool.h>
#include <sys/types.h>

#include "strvec.h"

typedef struct HostRoot {
    int fd;                         /* owned */
    char *path;                     /* owned: "/" or the fake tree */
    bool fake;
} HostRoot;

#define HOSTROOT_INIT { -1, NULL, false }

int hostroot_open(HostRoot *hr);
void hostroot_close(HostRoot *hr);

/* PATH is absolute as on a real host ("/sys/kernel/..."). In a fake tree,
 * symlinks and ".." cannot leave it (RESOLVE_IN_ROOT). */
int hostroot_openat(const HostRoot *hr, const char *path, int flags, mode_t mode);
/* The whole file (at most 1 MiB), exactly as read. */
int hostroot_read(const HostRoot *hr, const char *path, char **out);
/* Writes VALUE into an existing file (O_TRUNC, never O_CREAT: a missing
 * kernel file is an honest -ENOENT). */
int hostroot_write(const HostRoot *hr, const char *path, const char *value);
bool hostroot_exists(const HostRoot *hr, const char *path);
/* Appends the names in directory PATH (without . and ..) to OUT; with
 * DIRS_ONLY only its subdirectories. */
int hostroot_list(const HostRoot *hr, const char *path, bool dirs_only, StrVec *out);

#endif
