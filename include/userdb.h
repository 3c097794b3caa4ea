/* The user and group database, as kvmlaunch reads it (launcher/base/userdb.c).
 *
 * The dynamic build asks glibc (NSS: files, systemd, LDAP, ...). A static
 * glibc cannot load NSS modules safely: a name that /etc/passwd does not
 * know makes it dlopen libnss_systemd, built against the shared libc, and
 * crash. The static build (make STATIC=1, which links
 * launcher/base/userdb_static.c) therefore reads /etc/passwd and /etc/group
 * only; a user or group known only to an NSS module is "unknown" there.
 * The results point into storage that the next call reuses, as glibc's do. */
#pragma once

#include <grp.h>
#include <pwd.h>
#include <stdbool.h>
#include <sys/types.h>

struct passwd *userdb_getpwnam(const char *name);
struct passwd *userdb_getpwuid(uid_t uid);
struct group *userdb_getgrgid(gid_t gid);
/* As getgrouplist(3): -1 with *NGROUPS raised to what it needs when the
 * array is too small; GID comes first. */
int userdb_getgrouplist(const char *user, gid_t gid, gid_t *groups, int *ngroups);

/* True in the static build: /etc/passwd and /etc/group only. Weak: the
 * static link alone defines it (userdb_static.c). */
bool userdb_files_only(void) __attribute__((weak));
